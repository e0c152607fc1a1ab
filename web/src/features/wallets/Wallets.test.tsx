import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { verifyMessage, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { parseSiweMessage } from "viem/siwe";
import { afterEach, describe, expect, it } from "vitest";
import { createApi } from "../../api/client";
import { createQueryClient, ServicesContext, type Services } from "../../app/services";
import { SessionManager } from "../accounts/session";
import { signSiwe, type Eip1193Provider, type NonceInfo } from "./connect";
import { Wallets } from "./Wallets";

const BASE = "http://tipline.test";
const INFO: NonceInfo = {
  nonce: "0123456789abcdef0123456789abcdef",
  expires_at: "2026-12-01T13:05:00Z",
  domain: "tipline.test",
  uri: BASE,
  chain_id: 31337,
};

/** An injected EIP-1193 wallet backed by a real key; it answers lower-case, like MetaMask. */
function fakeWallet(opts: { decline?: boolean } = {}) {
  const account = privateKeyToAccount(generatePrivateKey());
  const calls: string[] = [];
  const provider: Eip1193Provider = {
    async request({ method, params }) {
      calls.push(method);
      if (method === "eth_requestAccounts") return [account.address.toLowerCase()];
      if (method === "personal_sign") {
        if (opts.decline) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
        const [data, from] = params as [Hex, string];
        expect(from).toBe(account.address);
        return account.signMessage({ message: { raw: data } });
      }
      throw new Error(`unexpected ${method}`);
    },
  };
  return { account, provider, calls };
}

/** The server's side of the flow: a nonce, then a link that checks the signature for real. */
function fakeServer() {
  const wallets: { id: number; address: string; chain_id: number; created_at: string }[] = [];
  const linked: string[] = [];
  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const json = (body: unknown, status = 200) =>
      new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    if (request.method === "POST" && url.pathname === "/auth/siwe/nonce") return json(INFO);
    if (request.method === "GET" && url.pathname === "/me/wallets") return json(wallets);
    if (request.method === "POST" && url.pathname === "/me/wallets") {
      const { message, signature } = (await request.json()) as { message: string; signature: Hex };
      const parsed = parseSiweMessage(message);
      const ok = await verifyMessage({ address: parsed.address!, message, signature });
      if (!ok || parsed.nonce !== INFO.nonce || parsed.domain !== INFO.domain) {
        return json({ detail: "bad signature", code: "siwe_bad_signature" }, 403);
      }
      linked.push(message);
      const wallet = { id: wallets.length + 1, address: parsed.address!.toLowerCase(), chain_id: 31337, created_at: "2026-12-01T13:00:00Z" };
      wallets.push(wallet);
      return json(wallet, 201);
    }
    const match = /^\/me\/wallets\/(\d+)$/.exec(url.pathname);
    if (request.method === "DELETE" && match) {
      wallets.splice(wallets.findIndex((w) => w.id === Number(match[1])), 1);
      return json(null, 204);
    }
    return json({ detail: "not found", code: "not_found" }, 404);
  }
  return { handle, wallets, linked };
}

function renderWallets(server: ReturnType<typeof fakeServer>) {
  const services: Services = {
    session: new SessionManager(null, BASE),
    api: createApi(server.handle, BASE),
    queryClient: createQueryClient(),
    baseUrl: BASE,
  };
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <Wallets />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

afterEach(() => {
  delete (globalThis as { ethereum?: unknown }).ethereum;
});

describe("wallets", () => {
  it("builds the EIP-4361 message the server expects and has the wallet sign it", async () => {
    const { account, provider } = fakeWallet();
    const now = new Date("2026-12-01T13:00:00.000Z");
    const { message, signature } = await signSiwe(provider, INFO, "Link this wallet.", now);
    expect(message).toBe(
      [
        "tipline.test wants you to sign in with your Ethereum account:",
        account.address,
        "",
        "Link this wallet.",
        "",
        `URI: ${BASE}`,
        "Version: 1",
        "Chain ID: 31337",
        `Nonce: ${INFO.nonce}`,
        "Issued At: 2026-12-01T13:00:00.000Z",
        "Expiration Time: 2026-12-01T13:05:00.000Z",
      ].join("\n"),
    );
    expect(await verifyMessage({ address: account.address, message, signature: signature as Hex })).toBe(true);
  });

  it("connects the injected wallet, links it, lists it and unlinks it", async () => {
    const server = fakeServer();
    const { account, provider, calls } = fakeWallet();
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = provider;
    renderWallets(server);
    const button = await screen.findByRole("button", { name: "Connect wallet" });
    fireEvent.click(button);
    const short = `${account.address.toLowerCase().slice(0, 6)}…${account.address.toLowerCase().slice(-4)}`;
    await screen.findByText(short);
    expect(calls).toEqual(["eth_requestAccounts", "personal_sign"]);
    expect(server.wallets.map((w) => w.address)).toEqual([account.address.toLowerCase()]);
    fireEvent.click(screen.getByRole("button", { name: `Unlink ${short}` }));
    await waitFor(() => expect(screen.queryByText(short)).toBeNull());
    expect(server.wallets).toEqual([]);
  });

  it("says so when there is no wallet in the browser, or the user declines", async () => {
    const server = fakeServer();
    renderWallets(server);
    fireEvent.click(await screen.findByRole("button", { name: "Connect wallet" }));
    await screen.findByText(/No Ethereum wallet found/);

    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet({ decline: true }).provider;
    fireEvent.click(screen.getByRole("button", { name: "Connect wallet" }));
    await screen.findByText("The wallet request was declined.");
    expect(server.linked).toEqual([]);
  });
});
