import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext, type Services } from "../../app/services";
import { ConfirmEmail, ForgotPassword, ResetPassword, SignIn } from "./AuthPages";
import { Settings } from "./Settings";

const pair: TokenPair = {
  access_token: "access-new",
  refresh_token: "refresh-new",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000002",
  enrollment_required: false,
  account_created: false,
  user: { id: 7, handle: "owner", display_name: "Owner", email: "owner@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z" },
};

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Answers by "METHOD /path"; every request is kept with its URL and body. */
function serve(routes: Record<string, () => Response>) {
  const seen: { method: string; url: string; path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      const text = req.method === "POST" ? await req.text() : "";
      seen.push({ method: req.method, url: req.url, path: url.pathname, body: text ? JSON.parse(text) : null });
      const route = routes[`${req.method} ${url.pathname}`];
      if (route) return route();
      if (url.pathname === "/auth/oidc/providers") return json([]);
      return json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(page: React.ReactNode): Services {
  const services = createServices(window.location.origin, localStorage);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>{page}</QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return services;
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  window.history.replaceState(null, "", "/");
});

function fill(label: RegExp, value: string) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
}

describe("Forgot password and reset", () => {
  it("links to the forgot page from sign-in", () => {
    serve({});
    mount(<SignIn />);
    expect(screen.getByRole("link", { name: "Forgot password?" }).getAttribute("href")).toBe("/forgot");
  });

  it("asks for a link and says the same thing whatever the address", async () => {
    const seen = serve({ "POST /auth/password/forgot": () => json({ status: "reset_requested" }, 202) });
    mount(<ForgotPassword />);
    fill(/^email/i, "owner@example.com");
    fireEvent.click(screen.getByRole("button", { name: "Mail me a link" }));
    expect((await screen.findByTestId("reset-requested")).textContent).toContain("If owner@example.com belongs to a Tipline account");
    expect(seen.find((r) => r.path === "/auth/password/forgot")?.body).toEqual({ email: "owner@example.com" });
  });

  it("says in words when there were too many requests", async () => {
    serve({ "POST /auth/password/forgot": () => json({ detail: "too many requests", code: "rate_limited" }, 429) });
    mount(<ForgotPassword />);
    fill(/^email/i, "owner@example.com");
    fireEvent.click(screen.getByRole("button", { name: "Mail me a link" }));
    expect(await screen.findByText("Too many attempts. Wait a while and try again.")).toBeTruthy();
  });

  it("takes the token from the fragment, clears it at once, posts it with the new password and signs in", async () => {
    window.history.replaceState(null, "", "/reset#token=reset-tok_1");
    const seen = serve({ "POST /auth/password/reset": () => json(pair) });
    const services = mount(<ResetPassword />);
    // Out of the address bar before anything is typed.
    await waitFor(() => expect(window.location.hash).toBe(""));
    fill(/^new password$/i, "a brand new passphrase");
    fill(/^new password again$/i, "a brand new passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Set password and sign in" }));
    await waitFor(() => expect(services.session.current()?.accessToken).toBe("access-new"));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "POST", path: "/auth/password/reset", body: { token: "reset-tok_1", new_password: "a brand new passphrase" } });
    expect(seen[0]?.url).not.toContain("reset-tok_1");
    expect(window.location.pathname).toBe("/");
  });

  it("refuses two different passwords without asking the server", async () => {
    window.history.replaceState(null, "", "/reset#token=t");
    const seen = serve({});
    mount(<ResetPassword />);
    fill(/^new password$/i, "a brand new passphrase");
    fill(/^new password again$/i, "a brand new passphrasf");
    fireEvent.click(screen.getByRole("button", { name: "Set password and sign in" }));
    expect(await screen.findByText("The two passwords are not the same.")).toBeTruthy();
    expect(seen.filter((r) => r.path === "/auth/password/reset")).toHaveLength(0);
  });

  it.each([
    ["reset_expired", "This reset link has expired. Ask for a new one."],
    ["reset_used", "This reset link was already used. Sign in with your new password, or ask for a new link."],
    ["reset_invalid", "This reset link is not valid, or a newer one was sent since. Use the latest mail, or ask for a new link."],
  ])("explains a dead link (%s) and offers a new one", async (code, words) => {
    window.history.replaceState(null, "", "/reset#token=old");
    serve({ "POST /auth/password/reset": () => json({ detail: "no", code }, 400) });
    const services = mount(<ResetPassword />);
    fill(/^new password$/i, "a brand new passphrase");
    fill(/^new password again$/i, "a brand new passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Set password and sign in" }));
    expect(await screen.findByText(words)).toBeTruthy();
    expect(screen.getByRole("link", { name: "Ask for a new link" }).getAttribute("href")).toBe("/forgot");
    expect(services.session.current()).toBeNull();
  });

  it("says a link without its token is incomplete", () => {
    window.history.replaceState(null, "", "/reset");
    serve({});
    mount(<ResetPassword />);
    expect(screen.getByText("This link is incomplete. Open the link from the mail again, or ask for a new one.")).toBeTruthy();
  });
});

describe("Changing email", () => {
  it("sends the new address and the password from Settings, and says what happens next", async () => {
    const seen = serve({
      "GET /me": () => json(pair.user),
      "GET /me/sessions": () => json([]),
      "GET /me/wallets": () => json([]),
      "POST /me/email": () => json({ status: "confirmation_sent" }, 202),
    });
    mount(<Settings />);
    fill(/^new email address/i, "moved@example.org");
    fill(/^current password/i, "the current passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Change email" }));
    expect((await screen.findByTestId("email-change-sent")).textContent).toContain("moved@example.org");
    expect(seen.find((r) => r.path === "/me/email")?.body).toEqual({ new_email: "moved@example.org", password: "the current passphrase" });
  });

  it("shows a wrong password in words", async () => {
    serve({
      "GET /me": () => json(pair.user),
      "GET /me/sessions": () => json([]),
      "GET /me/wallets": () => json([]),
      "POST /me/email": () => json({ detail: "the password is not right", code: "password_incorrect" }, 403),
    });
    mount(<Settings />);
    fill(/^new email address/i, "moved@example.org");
    fill(/^current password/i, "wrong");
    fireEvent.click(screen.getByRole("button", { name: "Change email" }));
    expect(await screen.findByText("That is not your current password.")).toBeTruthy();
  });

  it("confirms a new address from the fragment and clears it", async () => {
    window.history.replaceState(null, "", "/email/confirm#token=conf-9");
    const seen = serve({ "POST /auth/email/confirm": () => json({ email: "moved@example.org" }) });
    mount(<ConfirmEmail />);
    expect((await screen.findByTestId("email-changed")).textContent).toContain("moved@example.org");
    expect(window.location.hash).toBe("");
    expect(seen).toEqual([expect.objectContaining({ method: "POST", path: "/auth/email/confirm", body: { token: "conf-9" } })]);
  });

  it("explains an expired confirmation link", async () => {
    window.history.replaceState(null, "", "/email/confirm#token=old");
    serve({ "POST /auth/email/confirm": () => json({ detail: "expired", code: "email_change_expired" }, 400) });
    mount(<ConfirmEmail />);
    expect(await screen.findByText("This confirmation link has expired. Ask for the change again in Settings.")).toBeTruthy();
  });
});
