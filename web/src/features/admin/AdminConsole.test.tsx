import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { createServices, ServicesContext } from "../../app/services";
import { AdminConsole } from "./AdminConsole";
import type { AdminReport, AdminUser, AdminUserDetail } from "./queries";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const bob: AdminUser = {
  id: 5,
  handle: "bob",
  display_name: "Bob",
  email: "bob@example.com",
  is_active: true,
  is_admin: false,
  is_bot: false,
  created_at: "2026-12-01T12:00:00Z",
  email_verified: true,
};
const bobDetail = (over: Partial<AdminUserDetail> = {}): AdminUserDetail => ({
  ...bob,
  second_factors: { totp: true, recovery_codes_left: 10, passkeys: 0 },
  sessions: [
    {
      id: "00000000-0000-4000-8000-000000000001",
      kind: "session",
      created_at: "2026-12-01T12:00:00Z",
      last_used_at: "2026-12-01T12:00:00Z",
      expires_at: "2027-01-01T12:00:00Z",
      user_agent: "Firefox",
      ip: "203.0.113.7",
    },
  ],
  open_reports_against: 1,
  ...over,
});
const report: AdminReport = {
  id: 9,
  message_id: 40,
  conversation_id: 3,
  conversation_name: "market",
  conversation_kind: "group",
  reason: "spam",
  created_at: "2026-12-01T12:00:00Z",
  reporter: { id: 6, handle: "ann", display_name: "Ann" },
  sender: { id: 5, handle: "bob", display_name: "Bob" },
  message_body: "cheap pills",
  message_deleted: false,
  resolved_at: null,
  resolved_by: null,
  resolution: null,
};

type Seen = { method: string; path: string; search: string; body: unknown };

function serve(handler: (req: Seen) => Response | undefined): Seen[] {
  const seen: Seen[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
      const url = new URL(req.url);
      const entry = { method: req.method, path: url.pathname, search: url.search, body: text ? JSON.parse(text) : null };
      seen.push(entry);
      return handler(entry) ?? json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(path: string, me?: { is_admin: boolean }) {
  const services = createServices("http://tipline.test", null);
  if (me) services.queryClient.setQueryData(["me"], { ...bob, id: 1, handle: "root", ...me });
  const { hook } = memoryLocation({ path });
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <Router hook={hook}>
          <AdminConsole />
        </Router>
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("AdminConsole", () => {
  it("shows every tab, Users first", () => {
    serve(() => json({ items: [], total: 0, offset: 0, limit: 25 }));
    mount("/console");
    expect(screen.getAllByRole("tab").map((t) => t.textContent)).toEqual(["Users", "Reports", "Audit log", "Status", "Settings", "Imports"]);
    expect(screen.getByRole("tab", { name: "Users" }).getAttribute("aria-selected")).toBe("true");
  });

  it("refuses a person who is not an admin", () => {
    serve(() => undefined);
    mount("/console/users", { is_admin: false });
    expect(screen.getByTestId("admin-refused").textContent).toContain("Only server admins");
    expect(screen.queryByRole("tab")).toBeNull();
  });

  it("searches users, deactivates one after confirming, and shows a refusal's reason", async () => {
    let detail = bobDetail();
    const seen = serve((r) => {
      if (r.path === "/admin/users") return json({ items: [bob], total: 1, offset: 0, limit: 25 });
      if (r.path === "/admin/users/5") return json(detail);
      if (r.path === "/admin/users/5/deactivate") {
        detail = bobDetail({ is_active: false, sessions: [] });
        return json({ user_id: 5, is_active: false, sessions_revoked: 1 });
      }
      if (r.path === "/admin/users/5/admin") return json({ detail: "this is the last active admin: make another account an admin first", code: "last_admin" }, 409);
      return undefined;
    });
    mount("/console/users", { is_admin: true });
    fireEvent.change(screen.getByTestId("admin-user-search"), { target: { value: "bo" } });
    await waitFor(() => expect(seen.some((s) => s.path === "/admin/users" && s.search.includes("q=bo"))).toBe(true));
    fireEvent.click(await screen.findByTestId("admin-user-bob"));
    const panel = await screen.findByTestId("admin-user-detail");
    expect(within(panel).getByTestId("admin-user-2fa").textContent).toContain("authenticator app (10 recovery codes left)");
    expect(within(panel).getByTestId("admin-user-sessions").textContent).toContain("203.0.113.7");
    fireEvent.click(within(panel).getByTestId("admin-toggle-active"));
    const dialog = screen.getByRole("alertdialog");
    fireEvent.click(within(dialog).getByRole("button", { name: "Deactivate" }));
    await waitFor(() => expect(screen.getByTestId("admin-user-state-text").textContent).toBe("Deactivated"));
    expect(seen.filter((s) => s.method === "POST").map((s) => s.path)).toEqual(["/admin/users/5/deactivate"]);

    fireEvent.click(screen.getByTestId("admin-toggle-admin"));
    fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Make admin" }));
    expect(await within(screen.getByRole("alertdialog")).findByText(/last active admin/)).toBeTruthy();
    expect(seen.find((s) => s.method === "PUT")?.body).toEqual({ is_admin: true });
  });

  it("acts on a report with a note and shows its history", async () => {
    let current = { ...report, history: [] as unknown[] };
    const seen = serve((r) => {
      if (r.path === "/admin/reports") return json(current.resolved_at ? [] : [report]);
      if (r.path === "/admin/reports/9") return json(current);
      if (r.path === "/admin/reports/9/actions") {
        current = {
          ...current,
          resolved_at: "2026-12-01T13:00:00Z",
          resolved_by: { id: 1, handle: "root", display_name: "Root" },
          resolution: "dismissed: ok",
          history: [{ id: 1, at: "2026-12-01T13:00:00Z", actor_id: 1, actor_handle: "root", action: "report.dismiss", target_type: "report", target_id: "9", ip: "127.0.0.1", details: {} }],
        };
        return json(current);
      }
      return undefined;
    });
    mount("/console/reports", { is_admin: true });
    fireEvent.click(await screen.findByTestId("admin-report-9"));
    const panel = await screen.findByTestId("admin-report-detail");
    expect(within(panel).getByTestId("admin-report-message").textContent).toBe("cheap pills");
    fireEvent.change(within(panel).getByLabelText("Note (optional)"), { target: { value: " ok " } });
    fireEvent.click(within(panel).getByTestId("admin-report-dismiss"));
    fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Dismiss" }));
    expect(await within(panel).findByTestId("admin-report-resolution")).toBeTruthy();
    expect(within(panel).getByTestId("admin-report-history").textContent).toContain("report.dismiss by @root from 127.0.0.1");
    expect(seen.find((s) => s.method === "POST")?.body).toEqual({ action: "dismiss", note: "ok" });
  });
});
