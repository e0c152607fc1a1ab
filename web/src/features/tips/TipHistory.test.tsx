import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext } from "../../app/services";
import { Leaderboard } from "./Leaderboard";
import { downloadTipsCsv, TipHistory } from "./TipHistory";

const me = { id: 7, handle: "ann", display_name: "Ann", email: "ann@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z" };
const pair: TokenPair = {
  access_token: "access-secret-1",
  refresh_token: "refresh-1",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000007",
  enrollment_required: false,
  account_created: false,
  user: me,
};
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const HASH = `0x${"ab".repeat(32)}`;

function tip(over: Record<string, unknown>) {
  return {
    intent_id: `0x${"1".repeat(64)}`,
    conversation_id: 5,
    message_id: 11,
    tipper_id: 7,
    recipient_id: 3,
    recipient_address: "0x" + "2".repeat(40),
    chain_id: 31337,
    contract: "0x" + "3".repeat(40),
    token: "0x" + "0".repeat(40),
    symbol: "ETH",
    decimals: 18,
    amount: "10000000000000000",
    amount_display: "0.01",
    state: "confirmed",
    reason: null,
    tx_hash: HASH,
    created_at: "2026-12-06T10:00:00Z",
    expires_at: "2026-12-06T10:15:00Z",
    confirmed_at: "2026-12-06T10:01:00Z",
    ...over,
  };
}

interface Seen {
  url: string;
  auth: string | null;
}

function serve(routes: Record<string, (req: Request) => Response>): Seen[] {
  const seen: Seen[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      seen.push({ url: req.url, auth: req.headers.get("Authorization") });
      const key = `${req.method} ${url.pathname}${url.pathname === "/tips/mine" ? `?${url.searchParams.get("direction")}` : ""}`;
      return routes[key]?.(req) ?? json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(node: React.ReactNode) {
  const services = createServices(window.location.origin, localStorage);
  services.session.set(pair);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>{node}</QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return services;
}

const common = {
  "GET /tips/config": () =>
    json({ enabled: true, chain_id: 31337, contract: "0x" + "3".repeat(40), confirmations: 2, tokens: [], min_amount: "0.000001", max_amount: "1000", explorer_url: "https://explorer.example" }),
  "GET /conversations": () => json({ conversations: [{ id: 5, kind: "group", name: "Crew", topic: "", peer: null, role: "member", member_count: 3, last_seq: 9, archived: false, last_activity_at: "2026-12-06T10:00:00Z" }] }),
  "GET /users/3": () => json({ id: 3, handle: "bob", display_name: "Bob", is_bot: false }),
  "GET /users/4": () => json({ id: 4, handle: "cy", display_name: "Cy", is_bot: false }),
};

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe("tip history", () => {
  it("lists sent and received tips with amount, person, state, conversation, time and a link to the transaction", async () => {
    serve({
      ...common,
      "GET /tips/mine?sent": () => json({ tips: [tip({}), tip({ intent_id: "0x" + "9".repeat(64), state: "failed", reason: "amount_mismatch", tx_hash: null, amount_display: "5", symbol: "TIP" })] }),
      "GET /tips/mine?received": () => json({ tips: [tip({ tipper_id: 4, recipient_id: 7, state: "pending", amount_display: "2" })] }),
    });
    mount(<TipHistory />);
    const rows = await screen.findAllByTestId("tip-row");
    expect(rows).toHaveLength(2);
    const first = rows[0]!;
    await within(first).findByText("to Bob");
    expect(within(first).getByText("0.01 ETH")).toBeTruthy();
    expect(within(first).getByTestId("tip-state").textContent).toBe("confirmed");
    await within(first).findByText("Crew");
    const link = within(first).getByTestId("tip-tx") as HTMLAnchorElement;
    expect(link.href).toBe(`https://explorer.example/tx/${HASH}`);
    expect(link.rel).toContain("noopener");
    expect(within(rows[1]!).getByTestId("tip-state").textContent).toBe("failed (amount_mismatch)");
    expect(within(rows[1]!).queryByTestId("tip-tx")).toBeNull();

    fireEvent.click(screen.getByRole("tab", { name: "Received" }));
    await screen.findByText("from Cy");
    expect(screen.getByTestId("tip-state").textContent).toBe("pending");
  });

  it("says when there are none", async () => {
    serve({ ...common, "GET /tips/mine?sent": () => json({ tips: [] }) });
    mount(<TipHistory />);
    expect((await screen.findByTestId("tips-empty")).textContent).toBe("You have not sent a tip yet.");
  });

  it("downloads the CSV with the Authorization header, never the token in a URL", async () => {
    const csv = "direction,intent_id\nsent,0x1\n";
    const seen = serve({ ...common, "GET /tips/mine.csv": () => new Response(csv, { headers: { "content-type": "text/csv; charset=utf-8" } }) });
    const services = mount(<></>);
    const saved: { blob: Blob; name: string }[] = [];
    await downloadTipsCsv(services.api, (blob, name) => saved.push({ blob, name }));
    expect(saved).toHaveLength(1);
    expect(saved[0]!.name).toBe("tipline-tips.csv");
    expect(await saved[0]!.blob.text()).toBe(csv);
    const call = seen.find((s) => s.url.includes("/tips/mine.csv"))!;
    expect(call.auth).toBe("Bearer access-secret-1");
    expect(seen.every((s) => !s.url.includes("access-secret-1"))).toBe(true);
  });

  it("the Download CSV button saves a file and shows a refusal in words", async () => {
    let fail = false;
    serve({
      ...common,
      "GET /tips/mine?sent": () => json({ tips: [] }),
      "GET /tips/mine.csv": () => (fail ? json({ detail: "slow down", code: "rate_limited" }, 429) : new Response("a,b\n", { headers: { "content-type": "text/csv" } })),
    });
    const created = vi.fn(() => "blob:tips");
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: created, revokeObjectURL: vi.fn() }));
    const clicked = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    mount(<TipHistory />);
    fireEvent.click(await screen.findByTestId("tips-csv"));
    await waitFor(() => expect(clicked).toHaveBeenCalled());
    expect(created).toHaveBeenCalled();
    fail = true;
    fireEvent.click(screen.getByTestId("tips-csv"));
    await screen.findByRole("alert");
    clicked.mockRestore();
  });
});

describe("leaderboard", () => {
  it("ranks who received and who gave the most, per token", async () => {
    serve({
      ...common,
      "GET /conversations/5/tips/leaderboard": () =>
        json({
          conversation_id: 5,
          received: [
            { user_id: 3, symbol: "ETH", total: "30000000000000000", total_display: "0.03", count: 2 },
            { user_id: 4, symbol: "ETH", total: "10000000000000000", total_display: "0.01", count: 1 },
          ],
          sent: [{ user_id: 7, symbol: "ETH", total: "40000000000000000", total_display: "0.04", count: 3 }],
        }),
      "GET /users/7": () => json({ id: 7, handle: "ann", display_name: "Ann", is_bot: false }),
    });
    mount(<Leaderboard conversationId={5} />);
    const received = await screen.findByTestId("leaderboard-received");
    await within(received).findByText("Bob");
    const lines = within(received).getAllByTestId("leader");
    expect(lines.map((l) => l.textContent)).toEqual(["1.Bob0.03 ETH(2 tips)", "2.Cy0.01 ETH(1 tip)"]);
    await within(screen.getByTestId("leaderboard-sent")).findByText("Ann");
  });

  it("says when nobody has been tipped here", async () => {
    serve({ ...common, "GET /conversations/5/tips/leaderboard": () => json({ conversation_id: 5, received: [], sent: [] }) });
    mount(<Leaderboard conversationId={5} />);
    await screen.findByText("No confirmed tips in this conversation yet.");
  });
});
