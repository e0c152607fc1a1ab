import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext, type Services } from "../../app/services";
import { SignIn, SignUp, VerifyEmail, verificationToken } from "./AuthPages";

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

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Answers by "METHOD /path"; every request is kept with its body. */
function serve(routes: Record<string, () => Response>) {
  const seen: { method: string; path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      const text = req.method === "POST" ? await req.text() : "";
      seen.push({ method: req.method, path: url.pathname, body: text ? JSON.parse(text) : null });
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

describe("Sign-up with email verification", () => {
  it("shows 'Check your email' after sign-up and signs nobody in", async () => {
    const seen = serve({ "POST /auth/signup": () => json({ status: "verification_sent" }, 202) });
    const services = mount(<SignUp />);
    fill(/display name/i, "Newbie");
    fill(/^handle/i, "@newbie");
    fill(/^email/i, "newbie@example.com");
    fill(/^password/i, "a long enough passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByRole("heading", { name: "Check your email" })).toBeTruthy();
    expect(screen.getByTestId("check-email").textContent).toContain("newbie@example.com");
    expect(services.session.current()).toBeNull();
    expect(seen.find((r) => r.path === "/auth/signup")?.body).toEqual({
      email: "newbie@example.com",
      password: "a long enough passphrase",
      handle: "newbie",
      display_name: "Newbie",
    });

    serve({ "POST /auth/verify/resend": () => json({ status: "verification_sent" }, 202) });
    fireEvent.click(screen.getByRole("button", { name: "Send the link again" }));
    expect(await screen.findByTestId("verification-resent")).toBeTruthy();
  });

  it("still signs in at once when the server answers with a session (verification off)", async () => {
    serve({ "POST /auth/signup": () => json(pair, 201) });
    const services = mount(<SignUp />);
    fill(/display name/i, "Newbie");
    fill(/^handle/i, "newbie");
    fill(/^email/i, "newbie@example.com");
    fill(/^password/i, "a long enough passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    await waitFor(() => expect(services.session.current()?.accessToken).toBe("access-abc"));
  });

  it("reads the token from the fragment, posts it, signs in and clears it from the address bar", async () => {
    window.history.replaceState(null, "", "/verify#token=tok-123_abc");
    const seen = serve({ "POST /auth/verify": () => json(pair, 201) });
    const services = mount(<VerifyEmail />);
    await waitFor(() => expect(services.session.current()?.accessToken).toBe("access-abc"));
    expect(seen).toEqual([{ method: "POST", path: "/auth/verify", body: { token: "tok-123_abc" } }]);
    expect(window.location.hash).toBe("");
    expect(window.location.search).toBe("");
  });

  it("says why a link failed and offers a new one", async () => {
    window.history.replaceState(null, "", "/verify#token=old");
    serve({
      "POST /auth/verify": () => json({ detail: "this link has expired; ask for a new one", code: "verification_expired" }, 400),
    });
    const services = mount(<VerifyEmail />);
    expect(await screen.findByText("This link has expired. Ask for a new one below.")).toBeTruthy();
    expect(services.session.current()).toBeNull();
    expect(screen.getByRole("button", { name: "Send the link again" })).toBeTruthy();
  });

  it("offers a new link after a failed sign-in (the server does not say the address is unconfirmed)", async () => {
    const seen = serve({
      "POST /auth/signin": () => json({ detail: "invalid email or password", code: "invalid_credentials" }, 401),
      "POST /auth/verify/resend": () => json({ status: "verification_sent" }, 202),
    });
    mount(<SignIn />);
    fill(/^email/i, "newbie@example.com");
    fill(/^password/i, "a long enough passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("That email and password do not match an account.")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Mail it again" }));
    fireEvent.click(screen.getByRole("button", { name: "Send the link again" }));
    await screen.findByTestId("verification-resent");
    expect(seen.find((r) => r.path === "/auth/verify/resend")?.body).toEqual({ email: "newbie@example.com" });
  });

  it("takes the token only from the fragment", () => {
    expect(verificationToken("#token=abc")).toBe("abc");
    expect(verificationToken("")).toBeNull();
    expect(verificationToken("#other=1")).toBeNull();
  });
});
