/**
 * Connect an EIP-1193 wallet (MetaMask first) and link it with Sign-In with Ethereum.
 *
 * Loaded only when the user asks to connect (`import("./connect")`), so viem stays out of the
 * first load. The server checks every field of the message (docs/subsystems/wallets.md); the
 * client builds it from what `POST /auth/siwe/nonce` says the server expects.
 */
import { getAddress, toHex } from "viem";
import { createSiweMessage } from "viem/siwe";
import { call, type ApiClient, type Schemas } from "../../api/client";

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

export type NonceInfo = Schemas["NonceOut"];
export type Wallet = Schemas["WalletOut"];

export class WalletUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WalletUnavailable";
  }
}

/** The page's injected wallet, if any. */
export function injectedProvider(): Eip1193Provider | null {
  const candidate = (globalThis as { ethereum?: Eip1193Provider }).ethereum;
  return candidate && typeof candidate.request === "function" ? candidate : null;
}

/** Ask the wallet for an account and a personal_sign signature of the EIP-4361 message. */
export async function signSiwe(
  provider: Eip1193Provider,
  info: NonceInfo,
  statement: string,
  now: Date = new Date(),
): Promise<{ message: string; signature: string }> {
  const accounts = (await provider.request({ method: "eth_requestAccounts" })) as string[];
  const first = Array.isArray(accounts) ? accounts[0] : undefined;
  if (!first) throw new WalletUnavailable("The wallet shared no account.");
  // Wallets often answer lower-case; EIP-4361 wants the EIP-55 checksummed form.
  const address = getAddress(first);
  const message = createSiweMessage({
    domain: info.domain,
    address,
    statement,
    uri: info.uri,
    version: "1",
    chainId: info.chain_id,
    nonce: info.nonce,
    issuedAt: now,
    expirationTime: new Date(info.expires_at),
  });
  const signature = (await provider.request({ method: "personal_sign", params: [toHex(message), address] })) as string;
  return { message, signature };
}

/** Link the wallet's current account to the signed-in user. */
export async function linkWallet(api: ApiClient, provider: Eip1193Provider): Promise<Wallet> {
  const info = await call(api.POST("/auth/siwe/nonce"));
  const body = await signSiwe(provider, info, "Link this wallet to my Tipline account.");
  return call(api.POST("/me/wallets", { body }));
}

/** Sign in with the wallet's current account alone (`POST /auth/siwe/signin`): the same tokens as
 * a password sign-in; `account_created` says the server made a new account for the address. */
export async function signInWithWallet(api: ApiClient, provider: Eip1193Provider): Promise<Schemas["TokenPair"]> {
  const info = await call(api.POST("/auth/siwe/nonce"));
  const body = await signSiwe(provider, info, "Sign in to Tipline.");
  return call(api.POST("/auth/siwe/signin", { body }));
}
