/**
 * The wallet side of a tip: pick the account, put the wallet on Tipline's chain, send the
 * intent's transaction(s) exactly as the server gave them.
 *
 * Loaded only when the user sends a tip (`import("./wallet")`), like wallets/connect.ts, so
 * viem stays out of the first load. Everything goes through the page's EIP-1193 provider;
 * Tipline never sees a key (docs/subsystems/tipping.md, Web client).
 */
import { getAddress, hexToNumber, numberToHex, type Hex } from "viem";
import type { Schemas } from "../../api/client";
import { injectedProvider, WalletUnavailable, type Eip1193Provider } from "../wallets/connect";

export { injectedProvider, WalletUnavailable, type Eip1193Provider };

type Intent = Schemas["IntentOut"];
type ContractCall = Schemas["ContractCall"];

/** EIP-3085: the wallet does not know the chain asked for. */
const UNKNOWN_CHAIN = 4902;
const RECEIPT_POLL_MS = 500;
const RECEIPT_TIMEOUT_MS = 120_000;

function codeOf(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** The wallet's current account, which must be one of the caller's linked wallets. */
export async function walletAccount(provider: Eip1193Provider, linked: string[]): Promise<Hex> {
  const accounts = (await provider.request({ method: "eth_requestAccounts" })) as string[];
  const first = Array.isArray(accounts) ? accounts[0] : undefined;
  if (!first) throw new WalletUnavailable("The wallet shared no account.");
  const address = getAddress(first);
  if (linked.length === 0) throw new WalletUnavailable("Link a wallet to your account first (Settings → Wallets).");
  // The chain watcher credits a tip only from a linked wallet: catch a mismatch before paying gas.
  if (!linked.some((a) => a.toLowerCase() === address.toLowerCase())) {
    throw new WalletUnavailable(
      `The wallet's account ${address.slice(0, 6)}…${address.slice(-4)} is not linked to your account: link it in Settings → Wallets, or switch accounts in the wallet.`,
    );
  }
  return address;
}

/** Put the wallet on `chainId` (EIP-3326 `wallet_switchEthereumChain`) unless it is there already. */
export async function ensureChain(provider: Eip1193Provider, chainId: number): Promise<void> {
  const current = async () => hexToNumber((await provider.request({ method: "eth_chainId" })) as Hex);
  if ((await current()) === chainId) return;
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: numberToHex(chainId) }] });
  } catch (err) {
    if (codeOf(err) === UNKNOWN_CHAIN) {
      throw new WalletUnavailable(`The wallet does not know chain ${chainId}: add that network to the wallet, then try again.`);
    }
    throw err;
  }
  const now = await current();
  if (now !== chainId) throw new WalletUnavailable(`The wallet is on chain ${now}, not chain ${chainId}: switch networks in the wallet.`);
}

async function send(provider: Eip1193Provider, from: Hex, call: ContractCall): Promise<Hex> {
  const tx = { from, to: call.to, data: call.data, value: numberToHex(BigInt(call.value)) };
  return (await provider.request({ method: "eth_sendTransaction", params: [tx] })) as Hex;
}

/** Wait until the node has a receipt for `hash` (the tip call's gas estimate needs the approval in). */
async function waitReceipt(provider: Eip1193Provider, hash: Hex, sleep: (ms: number) => Promise<void>): Promise<{ status: Hex }> {
  const deadline = Date.now() + RECEIPT_TIMEOUT_MS;
  for (;;) {
    const receipt = (await provider.request({ method: "eth_getTransactionReceipt", params: [hash] })) as { status: Hex } | null;
    if (receipt) return receipt;
    if (Date.now() > deadline) throw new WalletUnavailable("The token approval did not land in time; try again.");
    await sleep(RECEIPT_POLL_MS);
  }
}

export type Step = "approving" | "sending";

/** Send the intent's transactions: the ERC-20 approval first (and wait for it), then the tip. */
export async function sendIntent(
  provider: Eip1193Provider,
  from: Hex,
  intent: Intent,
  onStep: (step: Step) => void = () => {},
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<Hex> {
  if (!intent.call) throw new WalletUnavailable("This tip was already sent.");
  if (intent.approve) {
    onStep("approving");
    const approval = await send(provider, from, intent.approve);
    const receipt = await waitReceipt(provider, approval, sleep);
    if (hexToNumber(receipt.status) !== 1) throw new WalletUnavailable(`The ${intent.symbol} approval failed on-chain.`);
  }
  onStep("sending");
  return send(provider, from, intent.call);
}
