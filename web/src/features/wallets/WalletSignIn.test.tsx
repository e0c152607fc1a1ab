import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { verifyMessage, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { parseSiweMessage } from "viem/siwe";
import { afterEach, describe, expect, it } from "vitest";
import { createApi } from "../../api/client";
import { createQueryClient, ServicesContext, type Services } from "../../app/services";
import { SessionManager } from "../accounts/session";
import type { Eip1193Provider } from "./connect";
import { NewWalletAccountNotice, newWalletAccountStore, NO_WALLET, WalletSignIn } from "./WalletSignIn";

const BASE = "http://tipline.test";
const INFO = { nonce: "0123456789abcdef0123456789abcdef", expires_at: "2099-12-01T13:05:00Z", domain: "tipline.test", uri: BASE, chain_id: 31337 };

function fakeWallet(opts: { decline?: boolean } = {}) {
  const account = privateKeyToAccount(generatePrivateKey());
  const provider: Eip1193Provider = {
    async request({ method, params }) {
      if (method === "eth_requestAccounts") return [account.address.toLowerCase()];
      if (method === "personal_sign") {
        if (opts.decline) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
        const [data] = params as [Hex, string];
        return account.signMessage({ message: { raw: data } });
      }
      throw new Error(`unexpected ${method}`);
    },
  };
  return { account, provider };
}

/** The server's side: a nonce, then a sign-in that checks the signature; `answer` picks the outcome. */
function fakeServer(answer: "known" | "new" | "not_linked") {
  const signedIn: string[] = [];
  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    if (request.method === "POST" && url.pathname === "/auth/siwe/nonce") return json(INFO);
    if (request.method === "POST" && url.pathname === "/auth/siwe/signin") {
      const { message, signature } = (await request.json()) as { message: string; signature: Hex };
      const parsed = parseSiweMessage(message);
      if (!(await verifyMessage({ address: parsed.address!, message, signature })) || parsed.statement !== "Sign in to Tipline.") {
        return json({ detail: "bad signature", code: "siwe_bad_signature" }, 403);
      }
      if (answer === "not_linked") return json({ detail: "this wallet is not linked to an account here", code: "wallet_not_linked" }, 403);
      signedIn.push(parsed.address!);
      const handle = `${parsed.address!.slice(0, 10).toLowerCase()}`;
      return json({
        access_token: "a",
        refresh_token: "r",
        token_type: "bearer",
        expires_in: 900,
        session_id: "00000000-0000-4000-8000-000000000001",
        enrollment_required: false,
        account_created: answer === "new",
        user: { id: 1, handle, display_name: "0x…", email: null, is_admin: false, is_bot: false, created_at: "2026-12-01T13:00:00Z" },
      });
    }
    return json({ detail: "not found", code: "not_found" }, 404);
  }
  return { handle, signedIn };
}

function mount(server: ReturnType<typeof fakeServer>) {
  const services: Services = { session: new SessionManager(null, BASE), api: createApi(server.handle, BASE), queryClient: createQueryClient(), baseUrl: BASE };
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <WalletSignIn />
        <NewWalletAccountNotice />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return services;
}

afterEach(() => {
  delete (globalThis as { ethereum?: unknown }).ethereum;
  newWalletAccountStore.set(null);
});

describe("Sign in with Ethereum", () => {
  it("signs in with the wallet: a signed message, then a session", async () => {
    const server = fakeServer("known");
    const { account, provider } = fakeWallet();
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = provider;
    const services = mount(server);
    fireEvent.click(screen.getByRole("button", { name: "◈ Use an Ethereum wallet" }));
    await waitFor(() => expect(services.session.current()?.user.id).toBe(1));
    expect(server.signedIn).toEqual([account.address]);
    expect(screen.queryByTestId("new-wallet-account")).toBeNull();
  });

  it("says when the sign-in made a new account", async () => {
    const server = fakeServer("new");
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet().provider;
    mount(server);
    fireEvent.click(screen.getByTestId("siwe-signin"));
    const notice = await screen.findByTestId("new-wallet-account");
    expect(notice.textContent).toContain("a new one was made for it");
    expect(notice.textContent).toContain("Settings → Wallets");
    fireEvent.click(screen.getByRole("button", { name: "Dismiss" }));
    expect(screen.queryByTestId("new-wallet-account")).toBeNull();
  });

  it("says so when there is no wallet, the user declines, or the wallet is not linked and no account can be made", async () => {
    const server = fakeServer("not_linked");
    const services = mount(server);
    fireEvent.click(screen.getByTestId("siwe-signin"));
    expect(await screen.findByText(NO_WALLET)).toBeTruthy();

    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet({ decline: true }).provider;
    fireEvent.click(screen.getByTestId("siwe-signin"));
    await screen.findByText("You declined the request in the wallet; you are not signed in.");

    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet().provider;
    fireEvent.click(screen.getByTestId("siwe-signin"));
    await screen.findByText(/This wallet is not linked to an account here/);
    expect(services.session.current()).toBeNull();
    expect(server.signedIn).toEqual([]);
  });
});
