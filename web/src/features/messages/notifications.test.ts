import { QueryClient } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApiClient, Conversation } from "../../api/client";
import { MemoryStorage, Outbox, RealtimeClient } from "../../realtime";
import { FakeSocket, messageEvent } from "../../test/fakeSocket";
import { conversationsKey } from "../conversations/queries";
import { notificationsStore } from "./notifications";
import { attachSync } from "./sync";
import { Timelines } from "./timeline";

/** Records every notification the page asks the browser for. */
class FakeNotification {
  static permission: NotificationPermission = "granted";
  static shown: { title: string; body?: string; tag?: string }[] = [];
  onclick: (() => void) | null = null;
  constructor(title: string, options?: NotificationOptions) {
    FakeNotification.shown.push({ title, body: options?.body, tag: options?.tag });
  }
  close(): void {}
  static requestPermission = async (): Promise<NotificationPermission> => "granted";
}

const conv = (id: number, kind: Conversation["kind"], extra: Partial<Conversation> = {}): Conversation => ({
  id,
  kind,
  name: kind === "direct" ? "" : `room ${id}`,
  topic: "",
  created_at: "2026-11-20T10:00:00Z",
  archived: false,
  last_seq: 2,
  last_message_at: null,
  member_count: 2,
  role: "member",
  last_read_seq: 2,
  unread: 0,
  last_message: null,
  peer: kind === "direct" ? { id: 2, handle: "bob", display_name: "Bob", is_bot: false } : null,
  ...extra,
});

let hidden = true;

async function setup(now = Date.parse("2026-11-22T10:00:30Z")) {
  const qc = new QueryClient();
  const client = new RealtimeClient({
    url: "ws://t/ws",
    outbox: new Outbox(new MemoryStorage(), "o"),
    getAccessToken: async () => "t",
    refreshSession: async () => "ok",
    createSocket: (u, p) => new FakeSocket(u, p),
  });
  const api = { GET: vi.fn() } as unknown as ApiClient;
  const opened: number[] = [];
  attachSync({
    qc,
    api,
    client,
    timelines: new Timelines(qc, api),
    activeConversation: () => null,
    onRemoved: () => {},
    openConversation: (c) => opened.push(c),
    now: () => now,
  });
  client.start();
  await vi.advanceTimersByTimeAsync(0);
  const ws = FakeSocket.last();
  ws.ready([{ id: 7, last_seq: 2 }, { id: 8, last_seq: 2 }], 1);
  qc.setQueryData(conversationsKey, [conv(7, "direct"), conv(8, "group")]);
  return { ws, opened };
}

function mentioning(cid: number, seq: number, userIds: number[]) {
  const ev = messageEvent(cid, seq, { body: "hey @me" });
  (ev.data as { mention_ids: number[] }).mention_ids = userIds;
  return ev;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
  FakeNotification.shown = [];
  FakeNotification.permission = "granted";
  vi.stubGlobal("Notification", FakeNotification);
  hidden = true;
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  notificationsStore.set(true);
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("browser notifications", () => {
  it("notifies for a direct message and for a mention while the tab is hidden", async () => {
    const { ws } = await setup();
    ws.receive(messageEvent(7, 3, { body: "psst" }));
    ws.receive(messageEvent(8, 3, { body: "chatter" })); // a group message not about me
    ws.receive(mentioning(8, 4, [1]));
    expect(FakeNotification.shown.map((n) => [n.title, n.body])).toEqual([
      ["Bob", "psst"],
      ["Someone in room 8", "hey @me"],
    ]);
  });

  it("stays quiet while the tab is visible, when turned off, or without permission", async () => {
    const { ws } = await setup();
    hidden = false;
    ws.receive(messageEvent(7, 3));
    hidden = true;
    notificationsStore.set(false);
    ws.receive(messageEvent(7, 4));
    notificationsStore.set(true);
    FakeNotification.permission = "denied";
    ws.receive(messageEvent(7, 5));
    expect(FakeNotification.shown).toEqual([]);
  });

  it("does not notify for my own messages or for old ones replayed after a reconnect", async () => {
    const { ws } = await setup(Date.parse("2026-11-22T11:00:00Z"));
    ws.receive(messageEvent(7, 3)); // an hour old: a replay, not news
    ws.receive(messageEvent(7, 4, { sender_id: 1 }));
    expect(FakeNotification.shown).toEqual([]);
  });
});
