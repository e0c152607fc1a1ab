import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext } from "../../app/services";
import { setCustomEmoji } from "../../lib/emoji";
import { ProfileCard } from "./ProfileCard";
import { expiryFor, localTime, statusShowing, statusUntil } from "./status";

const me = { id: 7, handle: "ann", display_name: "Ann", email: "ann@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z", status: null, timezone: "UTC" };
const pair: TokenPair = {
  access_token: "access-1",
  refresh_token: "refresh-1",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000007",
  enrollment_required: false,
  account_created: false,
  user: me,
};
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const ADDRESS = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

const tipConfig = { enabled: true, chain_id: 31337, contract: "0x" + "3".repeat(40), confirmations: 2, tokens: [{ symbol: "ETH", address: "0x" + "0".repeat(40), decimals: 18 }], min_amount: "0.000001", max_amount: "1000" };
const bob = (over: Record<string, unknown> = {}) => ({
  id: 3,
  handle: "bob",
  display_name: "Bob",
  is_bot: false,
  status: { text: "On a train", emoji: "🚆", expires_at: inAnHour() },
  timezone: "Asia/Tokyo",
  ...over,
});

function serve(routes: Record<string, (req: Request) => Response | Promise<Response>>) {
  const seen: { key: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const key = `${req.method} ${new URL(req.url).pathname}`;
      const body = req.method === "PATCH" || req.method === "POST" ? await req.clone().json().catch(() => null) : null;
      seen.push({ key, body });
      return (await routes[key]?.(req)) ?? json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(userId: number) {
  const services = createServices(window.location.origin, localStorage);
  services.session.set(pair);
  const onClose = vi.fn();
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <ProfileCard userId={userId} onClose={onClose} />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
  return onClose;
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe("profile card", () => {
  it("shows status with emoji and expiry, local time, wallets, and Tip opens the tip dialog in the direct conversation", async () => {
    const seen = serve({
      "GET /users/3": () => json(bob()),
      "GET /users/3/wallets": () => json([{ address: ADDRESS, chain_id: 31337 }]),
      "GET /tips/config": () => json(tipConfig),
      "POST /conversations/direct": () => json({ id: 42, kind: "direct", name: "", topic: "", peer: { id: 3, handle: "bob", display_name: "Bob", is_bot: false }, role: "member", member_count: 2, last_seq: 0, archived: false, created_at: "2026-12-01T12:00:00Z" }),
      "GET /conversations/42/tips/recipients/3": () => json({ can_tip: true, code: null, detail: null }),
    });
    mount(3);
    const status = await screen.findByTestId("profile-status");
    expect(status.textContent).toContain("🚆");
    expect(status.textContent).toContain("On a train");
    expect(status.textContent).toMatch(/until /);
    expect((await screen.findByTestId("profile-local-time")).textContent).toMatch(/local time/);
    expect(screen.getByTestId("profile-local-time").getAttribute("title")).toBe("Asia/Tokyo");
    const wallets = await screen.findByTestId("profile-wallets");
    expect(wallets.textContent).toContain("0x5aae…eaed");
    const tip = await screen.findByTestId("profile-tip");
    await waitFor(() => expect((tip as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(tip);
    await screen.findByRole("heading", { name: "Tip Bob" });
    expect(seen.some((s) => s.key === "POST /conversations/direct" && (s.body as { user_id: number }).user_id === 3)).toBe(true);
    await waitFor(() => expect(seen.some((s) => s.key === "GET /conversations/42/tips/recipients/3")).toBe(true));
  });

  it("draws a custom server emoji status from its image", async () => {
    setCustomEmoji([{ name: "party_parrot", url: "/emoji/party_parrot.png" }]);
    serve({
      "GET /users/3": () => json(bob({ status: { text: "Shipped", emoji: ":party_parrot:", expires_at: null } })),
      "GET /users/3/wallets": () => json([]),
      "GET /tips/config": () => json(tipConfig),
    });
    mount(3);
    const status = await screen.findByTestId("profile-status");
    const image = status.querySelector("img[data-custom-emoji]");
    expect(image?.getAttribute("src")).toBe("/emoji/party_parrot.png");
    expect(status.textContent).toBe("Shipped");
    setCustomEmoji([]);
  });

  it("says why there is no tipping before anything is pressed when the person has no wallet", async () => {
    serve({
      "GET /users/3": () => json(bob({ status: null, timezone: null })),
      "GET /users/3/wallets": () => json([]),
      "GET /tips/config": () => json(tipConfig),
    });
    mount(3);
    expect((await screen.findByTestId("profile-no-wallet")).textContent).toBe("Bob has not linked a wallet yet, so they cannot receive tips.");
    expect((screen.getByTestId("profile-tip") as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByTestId("profile-status")).toBeNull();
    expect(screen.queryByTestId("profile-local-time")).toBeNull();
    expect(screen.queryByTestId("profile-wallets")).toBeNull();
    expect(screen.getByRole("button", { name: "Message" })).toBeTruthy();
  });

  it("shows no wallets and no Tip where tipping is off or the wallets are not shared with me", async () => {
    serve({
      "GET /users/3": () => json(bob({ status: { text: "", emoji: "🌴", expires_at: new Date(Date.now() - 1000).toISOString() } })),
      "GET /users/3/wallets": () => json({ detail: "user not found", code: "user_not_found" }, 404),
      "GET /tips/config": () => json({ ...tipConfig, enabled: false }),
    });
    mount(3);
    await screen.findByRole("button", { name: "Message" });
    await waitFor(() => expect(screen.queryByTestId("profile-tip")).toBeNull());
    expect(screen.queryByTestId("profile-wallets")).toBeNull();
    // A status that ran out while the card was on its way is not shown.
    expect(screen.queryByTestId("profile-status")).toBeNull();
  });

  it("lets me set my status from my own card", async () => {
    let mine: Record<string, unknown> = { ...me };
    const seen = serve({
      "GET /users/7": () => json(mine),
      "GET /me": () => json(mine),
      "GET /users/7/wallets": () => json([]),
      "GET /tips/config": () => json(tipConfig),
      "PATCH /me": async (req) => {
        const body = (await req.json()) as { status: unknown };
        mine = { ...mine, status: body.status };
        return json(mine);
      },
    });
    mount(7);
    fireEvent.click(await screen.findByTestId("set-status"));
    expect(screen.queryByTestId("profile-tip")).toBeNull();
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "Deep work" } });
    fireEvent.change(screen.getByLabelText("Clear after"), { target: { value: "2" } });
    fireEvent.click(screen.getByRole("button", { name: "Set status" }));
    await waitFor(() => expect(seen.some((s) => s.key === "PATCH /me")).toBe(true));
    const sent = seen.find((s) => s.key === "PATCH /me")!.body as { status: { text: string; emoji: string | null; expires_at: string } };
    expect(sent.status.text).toBe("Deep work");
    expect(sent.status.emoji).toBeNull();
    const ahead = Date.parse(sent.status.expires_at) - Date.now();
    expect(ahead).toBeGreaterThan(59 * 60_000);
    expect(ahead).toBeLessThanOrEqual(60 * 60_000);
    expect((await screen.findByTestId("profile-status")).textContent).toContain("Deep work");
  });
});

describe("status and local time", () => {
  it("tells the other person's local time and how far it is from mine", () => {
    const at = new Date("2026-12-07T12:00:00Z");
    expect(localTime("Asia/Tokyo", at, "Europe/Berlin")).toEqual({ time: expect.stringMatching(/^(21:00|09:00 PM)$/), offset: "8 h ahead" });
    expect(localTime("America/St_Johns", at, "UTC")?.offset).toBe("3 h 30 min behind");
    expect(localTime("UTC", at, "UTC")?.offset).toBe("same time as you");
    expect(localTime("Not/A_Zone", at)).toBeNull();
  });

  it("works out expiry times and hides a status that ran out", () => {
    const now = new Date("2026-12-07T12:00:00Z");
    expect(expiryFor(null, now)).toBeNull();
    expect(expiryFor(30, now)).toBe("2026-12-07T12:30:00.000Z");
    const today = new Date(expiryFor("today", now)!);
    expect(today.getTime()).toBeGreaterThan(now.getTime());
    expect(today.toDateString()).toBe(now.toDateString());
    expect(new Date(expiryFor("week", now)!).getTime()).toBeGreaterThanOrEqual(today.getTime());
    expect(statusShowing({ text: "x", emoji: null, expires_at: "2026-12-07T11:59:00Z" }, now)).toBe(false);
    expect(statusShowing({ text: "x", emoji: null, expires_at: null }, now)).toBe(true);
    expect(statusShowing(null, now)).toBe(false);
    expect(statusUntil({ text: "x", emoji: null, expires_at: null }, now)).toBe("");
  });
});
