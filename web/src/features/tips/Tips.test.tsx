import { QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, renderHook, screen, waitFor } from "@testing-library/react";
import { decodeFunctionData, hexToBigInt, parseAbi, type Hex } from "viem";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApi, type Conversation, type Member, type Message, type Schemas } from "../../api/client";
import { createQueryClient, ServicesContext, type Services } from "../../app/services";
import type { ConversationEvent, TipEventData } from "../../realtime";
import { messageEvent } from "../../test/fakeSocket";
import { SessionManager } from "../accounts/session";
import { MembersPanel } from "../conversations/MembersPanel";
import { membersKey } from "../conversations/queries";
import { MessageList } from "../messages/MessageList";
import { applyEvent, type Timeline } from "../messages/timeline";
import type { Eip1193Provider } from "../wallets/connect";
import { useTippingEnabled } from "./config";
import { recordTip, liveTipsKey, type LiveTips } from "./store";
import { TipDialog, type TipTarget } from "./TipDialog";
import { TipLines, TipTotals } from "./TipLines";

const BASE = "http://tipline.test";
const ME = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const JAR = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const TOKEN = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
const INTENT_ID = `0x${"ab".repeat(32)}`;
const TX = `0x${"cd".repeat(32)}`;
const APPROVE_TX = `0x${"ef".repeat(32)}`;
const TARGET: TipTarget = { conversationId: 7, recipientId: 2, recipientName: "Bob", messageId: 40 };
const ERC20_ABI = parseAbi(["function approve(address spender, uint256 amount) returns (bool)"]);

const CONFIG: Schemas["TipConfigOut"] = {
  enabled: true,
  chain_id: 31337,
  contract: JAR,
  confirmations: 2,
  tokens: [
    { symbol: "ETH", address: "0x0000000000000000000000000000000000000000", decimals: 18 },
    { symbol: "TIP", address: TOKEN, decimals: 18 },
  ],
  min_amount: "0.000001",
  max_amount: "1000",
};

function tip(over: Partial<TipEventData> = {}): TipEventData {
  return {
    intent_id: INTENT_ID,
    conversation_id: 7,
    message_id: 40,
    tipper_id: 1,
    recipient_id: 2,
    recipient_address: "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    chain_id: 31337,
    contract: JAR,
    token: "0x0000000000000000000000000000000000000000",
    symbol: "ETH",
    decimals: 18,
    amount: "10000000000000000",
    amount_display: "0.01",
    state: "created",
    reason: null,
    tx_hash: null,
    created_at: "2026-12-01T13:00:00Z",
    expires_at: "2026-12-01T13:30:00Z",
    confirmed_at: null,
    ...over,
  };
}

/** The server's side: config, my wallets, intents built like the real ones (ABI-encoded calls), reports. */
function fakeServer(opts: { refuse?: string; wallets?: string[]; check?: Schemas["TipCheckOut"] } = {}) {
  const intents: Record<string, unknown>[] = [];
  const reports: { intent_id: string; tx_hash: string }[] = [];
  const checks: string[] = [];
  let last = tip();
  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    if (request.method === "GET" && url.pathname === "/tips/config") return json(CONFIG);
    if (request.method === "GET" && /^\/conversations\/\d+\/tips\/recipients\/\d+$/.test(url.pathname)) {
      checks.push(url.pathname);
      return json(opts.check ?? { can_tip: true, code: null, detail: null });
    }
    if (request.method === "GET" && url.pathname === "/me/wallets") {
      return json((opts.wallets ?? [ME]).map((address, i) => ({ id: i + 1, address, chain_id: 31337, created_at: "2026-12-01T12:00:00Z" })));
    }
    if (request.method === "POST" && url.pathname === "/tips/intents") {
      const body = (await request.json()) as { token: string; amount: string; message_id?: number };
      intents.push(body);
      if (opts.refuse) return json({ detail: opts.refuse, code: "tip_refused" }, 403);
      const amount = BigInt(Math.round(Number(body.amount) * 1e6)) * 10n ** 12n;
      const base = tip({ amount: amount.toString(), amount_display: body.amount, symbol: body.token });
      last = base;
      if (body.token === "ETH") {
        const data = `0x00${"11".repeat(4)}`;
        return json({ ...base, call: { chain_id: 31337, to: JAR, data, value: amount.toString() } }, 201);
      }
      return json(
        {
          ...base,
          token: TOKEN,
          approve: { chain_id: 31337, to: TOKEN, data: `0x095ea7b3${"00".repeat(12)}${JAR.slice(2)}${amount.toString(16).padStart(64, "0")}`, value: "0" },
          call: { chain_id: 31337, to: JAR, data: "0x22", value: "0" },
        },
        201,
      );
    }
    const m = /^\/tips\/intents\/(0x[0-9a-f]{64})\/tx$/.exec(url.pathname);
    if (request.method === "POST" && m) {
      const { tx_hash } = (await request.json()) as { tx_hash: string };
      reports.push({ intent_id: m[1]!, tx_hash });
      return json({ ...last, state: "pending", tx_hash });
    }
    return json({ detail: "not found", code: "not_found" }, 404);
  }
  return { handle, intents, reports, checks };
}

/** An injected wallet on `chain`, switching when asked; it records what it was asked to do. */
function fakeWallet(opts: { chain?: number; reject?: string; unknownChain?: boolean; account?: string } = {}) {
  let chain = opts.chain ?? 31337;
  const calls: { method: string; params?: unknown[] }[] = [];
  const provider: Eip1193Provider = {
    async request({ method, params }) {
      calls.push({ method, ...(params ? { params } : {}) });
      if (opts.reject === method) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
      switch (method) {
        case "eth_requestAccounts":
          return [opts.account ?? ME];
        case "eth_chainId":
          return `0x${chain.toString(16)}`;
        case "wallet_switchEthereumChain": {
          if (opts.unknownChain) throw Object.assign(new Error("Unrecognized chain"), { code: 4902 });
          chain = Number((params as [{ chainId: string }])[0].chainId);
          return null;
        }
        case "eth_sendTransaction": {
          const [tx] = params as [{ to: string }];
          return tx.to === TOKEN ? APPROVE_TX : TX;
        }
        case "eth_getTransactionReceipt":
          return { status: "0x1" };
      }
      throw new Error(`unexpected ${method}`);
    },
  };
  return { provider, calls };
}

function services(server: ReturnType<typeof fakeServer>): Services {
  return { session: new SessionManager(null, BASE), api: createApi(server.handle, BASE), queryClient: createQueryClient(), baseUrl: BASE };
}

function renderDialog(server: ReturnType<typeof fakeServer>) {
  const s = services(server);
  let closed = 0;
  render(
    <ServicesContext.Provider value={s}>
      <QueryClientProvider client={s.queryClient}>
        <TipDialog target={TARGET} onClose={() => (closed += 1)} />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return { qc: s.queryClient, closed: () => closed };
}

async function fillAndSend(amount: string, token?: string) {
  const input = await screen.findByLabelText("Amount");
  if (token) fireEvent.change(screen.getByLabelText("Token"), { target: { value: token } });
  fireEvent.change(input, { target: { value: amount } });
  fireEvent.click(screen.getByRole("button", { name: "Send tip" }));
}

afterEach(() => {
  delete (globalThis as { ethereum?: unknown }).ethereum;
});

describe("tip dialog", () => {
  it("switches the wallet to Tipline's chain, sends the intent's call exactly, reports the hash", async () => {
    const server = fakeServer();
    const wallet = fakeWallet({ chain: 1 });
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = wallet.provider;
    const { qc } = renderDialog(server);
    expect(await screen.findByRole("option", { name: "TIP" })).toBeTruthy();
    await fillAndSend("0.01");
    await screen.findByText(/Sent 0\.01 ETH\. It shows as pending until the chain confirms it \(2 blocks\)/);

    expect(server.intents).toEqual([{ conversation_id: 7, message_id: 40, token: "ETH", amount: "0.01" }]);
    expect(wallet.calls.map((c) => c.method)).toEqual([
      "eth_requestAccounts",
      "eth_chainId",
      "wallet_switchEthereumChain",
      "eth_chainId",
      "eth_sendTransaction",
    ]);
    expect(wallet.calls[2]!.params).toEqual([{ chainId: "0x7a69" }]);
    const [tx] = wallet.calls[4]!.params as [{ from: string; to: string; data: string; value: Hex }];
    expect(tx.from).toBe("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    expect(tx.to).toBe(JAR);
    expect(hexToBigInt(tx.value)).toBe(10n ** 16n);
    expect(server.reports).toEqual([{ intent_id: INTENT_ID, tx_hash: TX }]);
    // The tipper sees the tip pending at once, before the event comes back.
    expect(qc.getQueryData<LiveTips>(liveTipsKey(7))?.[INTENT_ID]?.state).toBe("pending");
  });

  it("approves an ERC-20 first, waits for the approval, then sends the tip", async () => {
    const server = fakeServer();
    const wallet = fakeWallet();
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = wallet.provider;
    renderDialog(server);
    await screen.findByRole("option", { name: "TIP" });
    await fillAndSend("2", "TIP");
    await screen.findByText(/Sent 2 TIP/);
    const sends = wallet.calls.filter((c) => c.method === "eth_sendTransaction").map((c) => (c.params as [{ to: string; data: Hex }])[0]);
    expect(sends.map((t) => t.to)).toEqual([TOKEN, JAR]);
    const approve = decodeFunctionData({ abi: ERC20_ABI, data: sends[0]!.data });
    expect(approve.args).toEqual([expect.stringMatching(/^0x5FbDB2315678afecb367f032d93F642f64180aa3$/i), 2n * 10n ** 18n]);
    const methods = wallet.calls.map((c) => c.method);
    expect(methods.indexOf("eth_getTransactionReceipt")).toBeGreaterThan(methods.indexOf("eth_sendTransaction"));
    expect(methods.lastIndexOf("eth_sendTransaction")).toBeGreaterThan(methods.indexOf("eth_getTransactionReceipt"));
    expect(server.reports).toEqual([{ intent_id: INTENT_ID, tx_hash: TX }]);
  });

  it("says so when there is no wallet, the user declines, the chain is unknown, or the account is not linked", async () => {
    const server = fakeServer();
    renderDialog(server);
    await fillAndSend("0.01");
    await screen.findByText(/No Ethereum wallet found/);

    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet({ reject: "eth_sendTransaction" }).provider;
    fireEvent.click(screen.getByRole("button", { name: "Send tip" }));
    await screen.findByText("You declined the request in the wallet; nothing was sent.");
    expect(server.reports).toEqual([]);

    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet({ chain: 1, unknownChain: true }).provider;
    fireEvent.click(screen.getByRole("button", { name: "Send tip" }));
    await screen.findByText(/The wallet does not know chain 31337/);

    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet({ account: "0x90f79bf6eb2c4f870365e785982e1f101e93b906" }).provider;
    fireEvent.click(screen.getByRole("button", { name: "Send tip" }));
    await screen.findByText(/0x90F7…b906 is not linked to your account/);
    expect(server.reports).toEqual([]);
  });

  it("shows the server's reason when it refuses the intent, and sends nothing", async () => {
    const server = fakeServer({ refuse: "the recipient has no linked wallet" });
    const wallet = fakeWallet();
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = wallet.provider;
    renderDialog(server);
    await fillAndSend("0.01");
    // In a sentence, never the server's raw lowercase text.
    await screen.findByText("The recipient has no linked wallet.");
    expect(wallet.calls.some((c) => c.method === "eth_sendTransaction")).toBe(false);
  });

  it("says when it opens that the recipient has no wallet, and offers no Send", async () => {
    const server = fakeServer({ check: { can_tip: false, code: "recipient_no_wallet", detail: "the recipient has not linked a wallet on this chain yet" } });
    const wallet = fakeWallet();
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = wallet.provider;
    renderDialog(server);
    // Before anything is typed or pressed.
    expect((await screen.findByTestId("tip-refusal")).textContent).toBe("Bob has not linked a wallet yet, so they cannot receive tips.");
    expect(server.checks).toEqual(["/conversations/7/tips/recipients/2"]);
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "0.01" } });
    const send = screen.getByRole("button", { name: "Send tip" }) as HTMLButtonElement;
    expect(send.disabled).toBe(true);
    fireEvent.submit(send.closest("form")!);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.intents).toEqual([]);
    expect(wallet.calls).toEqual([]);
  });

  it("says when it opens that I have no wallet to tip from", async () => {
    const server = fakeServer({ check: { can_tip: false, code: "tipper_no_wallet", detail: "link a wallet on this chain before tipping" } });
    renderDialog(server);
    expect((await screen.findByTestId("tip-refusal")).textContent).toBe("Link a wallet in Settings before tipping.");
  });

  it("lets Send try when the check cannot be answered", async () => {
    const server = fakeServer();
    const failing = { ...server, handle: async (r: Request) => (new URL(r.url).pathname.includes("/tips/recipients/") ? new Response("", { status: 500 }) : server.handle(r)) };
    (globalThis as { ethereum?: Eip1193Provider }).ethereum = fakeWallet().provider;
    renderDialog(failing);
    await fillAndSend("0.01");
    await screen.findByText(/Sent 0\.01 ETH/);
    expect(screen.queryByTestId("tip-refusal")).toBeNull();
  });
});

describe("tip state in the timeline", () => {
  const message = messageEvent(7, 3, { id: 40, sender_id: 2, body: "tip me" }).data as Message;
  const event = (name: "tip.pending" | "tip.confirmed", data: TipEventData, seq: number): ConversationEvent => ({
    type: "event",
    event: name,
    conversation_id: 7,
    seq,
    data,
  });

  it("puts the confirmed totals on the message, like reactions", () => {
    const t: Timeline = { messages: [message], hasOlder: false };
    const pending = applyEvent(t, event("tip.pending", tip({ state: "pending", tx_hash: TX }), 4));
    expect(pending.messages[0]!.tips).toEqual([]);
    const totals = [{ symbol: "ETH", token: "0x0000000000000000000000000000000000000000", total: "10000000000000000", total_display: "0.01", count: 1 }];
    const confirmed = applyEvent(pending, event("tip.confirmed", tip({ state: "confirmed", tx_hash: TX, message_totals: totals }), 5));
    expect(confirmed.messages[0]!.tips).toEqual(totals);
    render(<TipTotals totals={confirmed.messages[0]!.tips} />);
    expect(screen.getByTestId("tip-total").textContent).toBe("◈ 0.01 ETH");
    expect(screen.getByLabelText("Tipped 0.01 ETH in 1 tip")).toBeTruthy();
  });

  it("shows each tip's state live as its events arrive", async () => {
    const qc = createQueryClient();
    const names: Record<number, string> = { 1: "Alice", 2: "Bob" };
    render(
      <QueryClientProvider client={qc}>
        <TipLines conversationId={7} messageId={40} nameOf={(id) => names[id] ?? "?"} myId={2} />
      </QueryClientProvider>,
    );
    expect(screen.queryByTestId("tip-line")).toBeNull();
    act(() => recordTip(qc, tip({ state: "pending", tx_hash: TX })));
    const line = await screen.findByTestId("tip-line");
    expect(line.textContent).toBe("Alice tipped you 0.01 ETH · pending");
    act(() => recordTip(qc, tip({ state: "confirmed", tx_hash: TX })));
    await waitFor(() => expect(screen.getByTestId("tip-line").getAttribute("data-state")).toBe("confirmed"));
    act(() => recordTip(qc, tip({ intent_id: `0x${"99".repeat(32)}`, state: "failed", reason: "the transaction reverted", created_at: "2026-12-01T13:01:00Z" })));
    await waitFor(() => expect(screen.getAllByTestId("tip-line")).toHaveLength(2));
    expect(screen.getAllByTestId("tip-line")[1]!.textContent).toBe("Alice tipped you 0.01 ETH · failed (the transaction reverted)");
    // A tip on another message is not shown here.
    act(() => recordTip(qc, tip({ intent_id: `0x${"77".repeat(32)}`, message_id: 41, state: "pending" })));
    expect(screen.getAllByTestId("tip-line")).toHaveLength(2);
  });
});

describe("tip button and totals on messages", () => {
  it("offers Tip on other people's messages only, and shows totals and live lines under the message", async () => {
    const qc = createQueryClient();
    const mine = messageEvent(7, 1, { id: 39, sender_id: 1, body: "mine" }).data as Message;
    const theirs = {
      ...(messageEvent(7, 2, { id: 40, sender_id: 2, body: "theirs" }).data as Message),
      tips: [{ symbol: "ETH", token: "0x0000000000000000000000000000000000000000", total: "10000000000000000", total_display: "0.01", count: 1 }],
    };
    const onTip = vi.fn();
    const noop = vi.fn();
    render(
      <QueryClientProvider client={qc}>
        <MessageList
          messages={[mine, theirs]}
          pending={[]}
          hasOlder={false}
          loadingOlder={false}
          onLoadOlder={noop}
          myId={1}
          myHandle="me"
          nameOf={(id) => (id === 1 ? "Me" : "Bo")}
          canModerate={false}
          readOnly={false}
          unreadAfter={null}
          online
          onReply={noop}
          onEdit={vi.fn(async () => undefined)}
          onDelete={noop}
          onReact={noop}
          onRetry={noop}
          onDiscard={noop}
          onTip={onTip}
        />
      </QueryClientProvider>,
    );
    const buttons = screen.getAllByRole("button", { name: /^Tip / });
    expect(buttons.map((b) => b.getAttribute("aria-label"))).toEqual(["Tip Bo"]);
    fireEvent.click(buttons[0]!);
    expect(onTip).toHaveBeenCalledWith(theirs);
    expect(screen.getAllByTestId("tip-total").map((e) => e.textContent)).toEqual(["◈ 0.01 ETH"]);
    act(() => recordTip(qc, tip({ state: "pending", tx_hash: TX, tipper_id: 1 })));
    expect((await screen.findByTestId("tip-line")).textContent).toBe("You tipped Bo 0.01 ETH · pending");
  });
});

describe("tip button on members", () => {
  it("offers Tip for every member but me", () => {
    const s = services(fakeServer());
    const user = (id: number, name: string) => ({ id, handle: name.toLowerCase(), display_name: name });
    const members = [
      { user: user(1, "Me"), role: "owner", joined_at: "2026-12-01T12:00:00Z", last_read_seq: 0 },
      { user: user(2, "Bo"), role: "member", joined_at: "2026-12-01T12:00:00Z", last_read_seq: 0 },
    ] as Member[];
    s.queryClient.setQueryData(["me"], { ...user(1, "Me"), email: "me@example.com" });
    s.queryClient.setQueryData(membersKey(7), members);
    const conversation = { id: 7, kind: "group", name: "g", topic: "", archived: false, member_count: 2, role: "member" } as Conversation;
    const onTip = vi.fn();
    render(
      <ServicesContext.Provider value={s}>
        <QueryClientProvider client={s.queryClient}>
          <MembersPanel conversation={conversation} onTip={onTip} />
        </QueryClientProvider>
      </ServicesContext.Provider>,
    );
    const buttons = screen.getAllByRole("button", { name: /^Tip / });
    expect(buttons.map((b) => b.getAttribute("aria-label"))).toEqual(["Tip Bo"]);
    fireEvent.click(buttons[0]!);
    expect(onTip).toHaveBeenCalledWith(2, "Bo");
  });
});

describe("tipping off on the server", () => {
  function tippingWith(config: Schemas["TipConfigOut"] | "error") {
    let asked = 0;
    const handle = async (request: Request) => {
      if (new URL(request.url).pathname !== "/tips/config") return new Response("{}", { status: 404 });
      asked += 1;
      if (config === "error") return new Response(JSON.stringify({ detail: "down", code: "unavailable" }), { status: 503 });
      return new Response(JSON.stringify(config), { headers: { "content-type": "application/json" } });
    };
    const s: Services = { session: new SessionManager(null, BASE), api: createApi(handle, BASE), queryClient: createQueryClient(), baseUrl: BASE };
    const { result } = renderHook(() => useTippingEnabled(), {
      wrapper: ({ children }) => (
        <ServicesContext.Provider value={s}>
          <QueryClientProvider client={s.queryClient}>{children}</QueryClientProvider>
        </ServicesContext.Provider>
      ),
    });
    return { result, asked: () => asked };
  }

  it("offers no Tip while the server has not said tipping is on, nor when it says it is off", async () => {
    const off = tippingWith({ ...CONFIG, enabled: false, contract: null, tokens: [] });
    expect(off.result.current).toBe(false); // still asking: no button that might vanish
    await waitFor(() => expect(off.asked()).toBe(1));
    await act(async () => {});
    expect(off.result.current).toBe(false);
    const on = tippingWith(CONFIG);
    await waitFor(() => expect(on.result.current).toBe(true));
  });

  it("offers no Tip when the settings cannot be read", async () => {
    const failing = tippingWith("error");
    await waitFor(() => expect(failing.asked()).toBeGreaterThan(0));
    await act(async () => {});
    expect(failing.result.current).toBe(false);
  });
});
