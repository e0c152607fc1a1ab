import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServices, ServicesContext } from "../../app/services";
import { ApiTokens, Bots } from "./Integrations";
import type { ApiToken, Bot } from "./queries";

const json = (body: unknown, status = 200) =>
  new Response(body === null ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const listed: ApiToken = {
  id: "00000000-0000-4000-8000-0000000000aa",
  name: "deploy",
  scopes: ["messages:read", "messages:write"],
  created_at: "2026-12-01T12:00:00Z",
  last_used_at: null,
  expires_at: "2027-01-01T12:00:00Z",
};

function serve(handler: (req: Request, body: unknown) => Response | undefined) {
  const seen: { method: string; path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
      const body: unknown = text ? JSON.parse(text) : null;
      const path = new URL(req.url).pathname;
      seen.push({ method: req.method, path, body });
      return handler(req, body) ?? json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(node: React.ReactNode) {
  const services = createServices(window.location.origin, localStorage);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>{node}</QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe("API tokens", () => {
  it("creates a token with its scopes, shows it once, then lists it without the secret", async () => {
    let tokens: ApiToken[] = [];
    const seen = serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/me/tokens" && req.method === "GET") return json(tokens);
      if (path === "/me/tokens" && req.method === "POST") {
        tokens = [listed];
        return json({ ...listed, token: "tlp_secret_shown_once" }, 201);
      }
      return undefined;
    });
    mount(<ApiTokens />);
    expect(await screen.findByText("No tokens.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Token name"), { target: { value: "deploy" } });
    fireEvent.click(screen.getByRole("checkbox", { name: /messages:write/ }));
    fireEvent.click(screen.getByRole("button", { name: "Create token" }));
    expect((await screen.findByTestId("new-token")).textContent).toBe("tlp_secret_shown_once");
    const post = seen.find((r) => r.method === "POST");
    expect(post?.body).toEqual({ name: "deploy", scopes: ["messages:read", "messages:write"], expires_in_days: 90 });
    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.getByTestId("api-tokens").textContent).toContain("deploy"));
    expect(document.body.textContent).not.toContain("tlp_secret_shown_once");
    expect(screen.getByTestId("api-tokens").textContent).toContain("never used");
  });

  it("revokes after confirming", async () => {
    const seen = serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/me/tokens" && req.method === "GET") return json([listed]);
      if (path === `/me/tokens/${listed.id}` && req.method === "DELETE") return new Response(null, { status: 204 });
      return undefined;
    });
    mount(<ApiTokens />);
    fireEvent.click(await screen.findByRole("button", { name: "Revoke deploy" }));
    fireEvent.click(screen.getByRole("button", { name: "Revoke" }));
    await waitFor(() => expect(screen.queryByTestId("api-tokens")).toBeNull());
    expect(seen.some((r) => r.method === "DELETE" && r.path === `/me/tokens/${listed.id}`)).toBe(true);
  });
});

describe("Bots", () => {
  it("lists my bots with a BOT badge", async () => {
    const bot: Bot = {
      user: { id: 9, handle: "deploybot", display_name: "Deploy", is_bot: true },
      description: "ships main",
      owner_id: 1,
      created_at: "2026-12-01T12:00:00Z",
    };
    serve((req) => (new URL(req.url).pathname === "/bots" && req.method === "GET" ? json([bot]) : undefined));
    mount(<Bots />);
    const list = await screen.findByTestId("bots");
    expect(list.textContent).toContain("Deploy");
    expect(list.textContent).toContain("@deploybot");
    expect(screen.getByTitle("This account is a bot").textContent).toBe("BOT");
  });
});
