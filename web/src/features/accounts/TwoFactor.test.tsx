import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext, type Services } from "../../app/services";
import { SignIn } from "./AuthPages";
import { SecondStepPage } from "./TwoFactor";
import { secondStepStore } from "./twoFactorQueries";

const pair: TokenPair = {
  access_token: "access-2fa",
  refresh_token: "refresh-2fa",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000003",
  enrollment_required: false,
  account_created: false,
  user: { id: 9, handle: "guarded", display_name: "Guarded", email: "guarded@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z" },
};
const step = { second_factor_required: true as const, challenge: "chal-1", methods: ["totp" as const, "recovery" as const], expires_in: 300 };

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function serve(routes: Record<string, (body: unknown) => Response>) {
  const seen: { path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      const text = req.method === "POST" ? await req.text() : "";
      const body = text ? JSON.parse(text) : null;
      seen.push({ path: url.pathname, body });
      const route = routes[`${req.method} ${url.pathname}`];
      if (route) return route(body);
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
  secondStepStore.set(null);
});

describe("the sign-in's second step", () => {
  it("keeps the password sign-in signed out until a code is accepted", async () => {
    const seen = serve({
      "POST /auth/signin": () => json(step),
      "POST /auth/2fa/verify": (body) =>
        (body as { code: string }).code === "654321"
          ? json(pair)
          : json({ detail: "wrong", code: "second_factor_invalid" }, 401),
    });
    const services = mount(
      <>
        <SignIn />
        <SecondStepPage />
      </>,
    );
    fireEvent.change(screen.getByLabelText(/^email/i), { target: { value: "guarded@example.com" } });
    fireEvent.change(screen.getByLabelText(/^password/i), { target: { value: "a long enough passphrase" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByTestId("second-step")).toBeTruthy();
    expect(services.session.current()).toBeNull();

    fireEvent.change(screen.getByLabelText("Authentication code"), { target: { value: "123456" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByText(/That code is wrong or was already used/)).toBeTruthy();
    expect(services.session.current()).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Use a recovery code instead" }));
    expect(screen.getByLabelText("Recovery code")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Use a code from the app" }));
    fireEvent.change(screen.getByLabelText("Authentication code"), { target: { value: " 654321 " } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    await waitFor(() => expect(services.session.current()?.accessToken).toBe("access-2fa"));
    expect(secondStepStore.get()).toBeNull();
    expect(seen.filter((r) => r.path === "/auth/2fa/verify").map((r) => r.body)).toEqual([
      { challenge: "chal-1", code: "123456" },
      { challenge: "chal-1", code: "654321" },
    ]);
  });

  it("says when the step has ended and offers a way back", async () => {
    serve({ "POST /auth/2fa/verify": () => json({ detail: "ended", code: "challenge_invalid" }, 401) });
    secondStepStore.set(step);
    mount(<SecondStepPage />);
    fireEvent.change(screen.getByLabelText("Authentication code"), { target: { value: "111111" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByText(/This sign-in step ended/)).toBeTruthy();
    expect((screen.getByRole("button", { name: "Verify" }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Back to sign in" }));
    expect(secondStepStore.get()).toBeNull();
  });
});
