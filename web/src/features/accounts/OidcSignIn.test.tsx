import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext, type Services } from "../../app/services";
import { SignIn } from "./AuthPages";

const pair: TokenPair = {
  access_token: "access-abc",
  refresh_token: "refresh-xyz",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000001",
  enrollment_required: false,
  account_created: false,
  user: { id: 7, handle: "newbie", display_name: "Newbie", email: "newbie@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z" },
};

type Route = (req: Request) => Response | undefined;

function serve(...routes: Route[]) {
  const seen: Request[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: Request) => {
      seen.push(input);
      for (const r of routes) {
        const res = r(input);
        if (res) return res;
      }
      return new Response(JSON.stringify({ detail: "not here", code: "not_found" }), { status: 404 });
    }),
  );
  return seen;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const providers: Route = (req) =>
  req.method === "GET" && new URL(req.url).pathname === "/auth/oidc/providers"
    ? json([
        { name: "cognito", display_name: "Cognito", start_url: "/auth/oidc/cognito/start" },
        { name: "google", display_name: "Google", start_url: "/auth/oidc/google/start" },
      ])
    : undefined;

function mount(): Services {
  const services = createServices(window.location.origin, localStorage);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <SignIn />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return services;
}

afterEach(() => {
  vi.unstubAllGlobals();
  window.history.replaceState(null, "", "/");
});

describe("Sign in with an OpenID Connect provider", () => {
  it("shows a link per provider the server offers, to the server's start URL", async () => {
    serve(providers);
    mount();
    const cognito = await screen.findByRole("link", { name: "Sign in with Cognito" });
    expect(cognito.getAttribute("href")).toBe("/auth/oidc/cognito/start");
    expect(screen.getByRole("link", { name: "Sign in with Google" }).getAttribute("href")).toBe("/auth/oidc/google/start");
  });

  it("names each provider of a deployment once: Sign in with <display name>", async () => {
    // tests/infra/test_task_settings.py runs this with the listing the AWS stack's OIDC_PROVIDERS gives.
    const listing = JSON.parse(
      process.env.TIPLINE_OIDC_PROVIDERS ?? '[{"name": "cognito", "display_name": "Cognito", "start_url": "/auth/oidc/cognito/start"}]',
    ) as { name: string; display_name: string; start_url: string }[];
    expect(listing.length).toBeGreaterThan(0);
    serve((req) => (new URL(req.url).pathname === "/auth/oidc/providers" ? json(listing) : undefined));
    mount();
    for (const p of listing) {
      const link = await screen.findByRole("link", { name: `Sign in with ${p.display_name}` });
      expect(link.getAttribute("href")).toBe(p.start_url);
      expect(link.textContent?.match(/sign in with/gi)).toHaveLength(1);
    }
  });

  it("shows nothing extra when the server has no providers", async () => {
    const seen = serve((req) => (new URL(req.url).pathname === "/auth/oidc/providers" ? json([]) : undefined));
    mount();
    await waitFor(() => expect(seen.length).toBe(1));
    expect(screen.queryByTestId("oidc-providers")).toBeNull();
  });

  it("on return from the provider, POSTs the hand-off (a cookie, nothing in the URL) and stores the session", async () => {
    window.history.replaceState(null, "", "/?signin=oidc");
    const seen = serve(providers, (req) =>
      req.method === "POST" && new URL(req.url).pathname === "/auth/oidc/complete" ? json(pair) : undefined,
    );
    const services = mount();
    await waitFor(() => expect(services.session.current()?.accessToken).toBe("access-abc"));
    expect(services.session.current()?.user.handle).toBe("newbie");
    const post = seen.find((r) => r.method === "POST")!;
    expect(post.credentials).toBe("same-origin");
    expect(new URL(post.url).search).toBe("");
    expect(window.location.search).toBe(""); // the marker is gone, so a reload does not retry
  });

  it("says so when the hand-off is spent or expired", async () => {
    window.history.replaceState(null, "", "/?signin=oidc");
    serve(providers, (req) =>
      new URL(req.url).pathname === "/auth/oidc/complete"
        ? json({ detail: "this sign-in hand-off is unknown, used or expired", code: "oidc_handoff_invalid" }, 401)
        : undefined,
    );
    const services = mount();
    expect(await screen.findByText("That sign-in took too long or was already used. Sign in again.")).toBeTruthy();
    expect(services.session.current()).toBeNull();
  });
});
