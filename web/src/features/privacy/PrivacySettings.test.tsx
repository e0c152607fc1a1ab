import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext, type Services } from "../../app/services";
import { PrivacySettings } from "./PrivacySettings";

const me = { id: 7, handle: "ann", display_name: "Ann", email: "ann@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z" };
const pair: TokenPair = {
  access_token: "access-1",
  refresh_token: "refresh-1",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000007",
  enrollment_required: false,
  account_created: false,
  user: me,
};
const base = { id: "11111111-1111-4111-8111-111111111111", user_id: 7, size: null, created_at: "2026-12-07T11:00:00Z", finished_at: null, expires_at: null, error: null };

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function serve(routes: Record<string, (req: Request) => Response | Promise<Response>>) {
  const seen: { path: string; auth: string | null; body: string }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      seen.push({ path: `${req.method} ${url.pathname}`, auth: req.headers.get("authorization"), body: req.method === "POST" ? await req.clone().text() : "" });
      const route = routes[`${req.method} ${url.pathname}`];
      if (route) return route(req);
      return json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(): Services {
  const services = createServices(window.location.origin, localStorage);
  services.session.set(pair);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <PrivacySettings />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return services;
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe("Your data", () => {
  it("shows an export's progress, then downloads the zip with the session's token", async () => {
    let polls = 0;
    const seen = serve({
      "GET /me": () => json(me),
      "GET /me/exports": () => {
        polls += 1;
        if (polls === 1) return json([]);
        if (polls === 2) return json([{ ...base, state: "running", progress: 40 }]);
        return json([{ ...base, state: "ready", progress: 100, size: 4096, expires_at: "2026-12-14T11:00:00Z" }]);
      },
      "POST /me/exports": () => json({ ...base, state: "queued", progress: 0 }, 202),
      "GET /me/exports/11111111-1111-4111-8111-111111111111/download": () =>
        new Response(new Blob(["PK"]), { status: 200, headers: { "content-type": "application/zip" } }),
    });
    const created: Blob[] = [];
    URL.createObjectURL = vi.fn((b: Blob) => {
      created.push(b);
      return "blob:zip";
    });
    URL.revokeObjectURL = vi.fn();
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => undefined);
    mount();
    fireEvent.click(await screen.findByRole("button", { name: "Request an export" }));
    const bar = await screen.findByRole("progressbar", { name: "Export progress" });
    expect(bar.getAttribute("aria-valuenow")).toBe("40");
    fireEvent.click(await screen.findByRole("button", { name: "Download your data" }, { timeout: 3000 }));
    await waitFor(() => expect(click).toHaveBeenCalled());
    const download = seen.find((s) => s.path.endsWith("/download"));
    expect(download?.auth).toBe("Bearer access-1");
    expect(created).toHaveLength(1);
    click.mockRestore();
  });

  it("deletes the account with the password and ends the session", async () => {
    const seen = serve({
      "GET /me": () => json(me),
      "GET /me/exports": () => json([]),
      "POST /me/delete": async (req) => {
        const body = (await req.json()) as { password?: string };
        if (body.password !== "right one") return json({ detail: "the password is incorrect", code: "password_incorrect" }, 403);
        return json({ user_id: 7, messages: "erase", messages_affected: 0, attachments_purged: 0, bots_deleted: 0 });
      },
    });
    const services = mount();
    fireEvent.click(await screen.findByRole("button", { name: "Delete account…" }));
    fireEvent.change(screen.getByLabelText("Your password"), { target: { value: "wrong" } });
    fireEvent.click(screen.getByRole("button", { name: "Delete my account" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/not your current password/);
    expect(services.session.current()).not.toBeNull();
    fireEvent.change(screen.getByLabelText("Your password"), { target: { value: "right one" } });
    fireEvent.click(screen.getByRole("button", { name: "Delete my account" }));
    await waitFor(() => expect(services.session.current()).toBeNull());
    expect(seen.filter((s) => s.path === "POST /me/delete").map((s) => JSON.parse(s.body))).toEqual([{ password: "wrong" }, { password: "right one" }]);
  });
});
