import { QueryClient } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApiClient, Conversation, Message } from "../../api/client";
import { MemoryStorage, Outbox, RealtimeClient } from "../../realtime";
import { FakeSocket, messageEvent } from "../../test/fakeSocket";
import { conversationsKey } from "../conversations/queries";
import { attachSync } from "./sync";
import { timelineKey, Timelines, type Timeline } from "./timeline";

const conv = (id: number, extra: Partial<Conversation> = {}): Conversation => ({
  id,
  kind: "group",
  name: `room ${id}`,
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
  peer: null,
  ...extra,
});

/** An API whose history answers are released by hand, to interleave them with live events. */
function fakeApi() {
  const pending: ((page: { messages: Message[]; has_more: boolean }) => void)[] = [];
  const api = {
    GET: vi.fn(
      () =>
        new Promise((resolve) => {
          pending.push((data) => resolve({ data, response: new Response(null, { status: 200 }) }));
        }),
    ),
  } as unknown as ApiClient;
  return { api, pending };
}

async function setup() {
  const qc = new QueryClient();
  const { api, pending } = fakeApi();
  const client = new RealtimeClient({
    url: "ws://t/ws",
    outbox: new Outbox(new MemoryStorage(), "o"),
    getAccessToken: async () => "t",
    refreshSession: async () => "ok",
    createSocket: (u, p) => new FakeSocket(u, p),
  });
  const timelines = new Timelines(qc, api);
  const removed: number[] = [];
  attachSync({ qc, api, client, timelines, activeConversation: () => null, onRemoved: (c) => removed.push(c), openConversation: () => {} });
  qc.setQueryData(conversationsKey, [conv(7)]);
  client.start();
  await vi.advanceTimersByTimeAsync(0);
  const ws = FakeSocket.last();
  ws.ready([{ id: 7, last_seq: 2 }], 1);
  qc.setQueryData(conversationsKey, [conv(7)]);
  return { qc, client, timelines, ws, pending, removed };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});
afterEach(() => vi.useRealTimers());

describe("attachSync", () => {
  it("updates the list once per event: last message, activity and unread", async () => {
    const { qc, ws } = await setup();
    ws.receive(messageEvent(7, 3, { body: "hey" }));
    ws.receive(messageEvent(7, 3, { body: "hey" }));
    const [c] = qc.getQueryData<Conversation[]>(conversationsKey) ?? [];
    expect(c?.unread).toBe(1);
    expect(c?.last_seq).toBe(3);
    expect(c?.last_message?.body).toBe("hey");
    // My own message does not count as unread.
    ws.receive(messageEvent(7, 4, { sender_id: 1 }));
    expect(qc.getQueryData<Conversation[]>(conversationsKey)?.[0]?.unread).toBe(1);
    ws.receive({ type: "read", conversation_id: 7, user_id: 1, seq: 4 });
    expect(qc.getQueryData<Conversation[]>(conversationsKey)?.[0]?.unread).toBe(0);
  });

  it("keeps events that arrive while a page is loading and applies them to it", async () => {
    const { qc, timelines, ws, pending } = await setup();
    const loading = timelines.fetchLatest(7);
    // The page was read at seq 2; message 3 arrives live before the answer does.
    ws.receive(messageEvent(7, 3, { body: "live" }));
    pending[0]!({ messages: [messageEvent(7, 2).data as Message], has_more: false });
    const t = await loading;
    qc.setQueryData(timelineKey(7), t);
    expect(t.messages.map((m) => m.body)).toEqual(["message 2", "live"]);
  });

  it("shows a sent message as soon as its ack arrives", async () => {
    const { qc, client, ws } = await setup();
    qc.setQueryData<Timeline>(timelineKey(7), { messages: [], hasOlder: false });
    const item = client.send(7, "mine");
    ws.receive({ type: "ack", conversation_id: 7, client_msg_id: item.client_msg_id, message_id: 50, seq: 3, created_at: "2026-11-22T10:00:00Z", duplicate: false });
    expect(qc.getQueryData<Timeline>(timelineKey(7))?.messages.map((m) => [m.id, m.body])).toEqual([[50, "mine"]]);
    expect(client.outbox.list()).toEqual([]);
  });

  it("on sync, shows what the server's bus lost: the replay lands in the timeline and the list", async () => {
    const { qc, ws } = await setup();
    qc.setQueryData<Timeline>(timelineKey(7), { messages: [messageEvent(7, 2).data as Message], hasOlder: false });
    ws.receive({ type: "sync", conversations: [{ id: 7, last_seq: 3 }] });
    expect(ws.resumes()).toEqual([{ "7": 2 }]);
    ws.receive(messageEvent(7, 3, { body: "lost live" }));
    ws.receive({ type: "resumed", conversation_id: 7, last_seq: 3 });
    expect(qc.getQueryData<Timeline>(timelineKey(7))?.messages.map((m) => m.body)).toEqual(["message 2", "lost live"]);
    const [c] = qc.getQueryData<Conversation[]>(conversationsKey) ?? [];
    expect([c?.last_seq, c?.unread, c?.last_message?.body]).toEqual([3, 1, "lost live"]);
  });

  it("on sync, reads a conversation it did not track over HTTP, and only then refetches the list", async () => {
    const { qc, ws, timelines } = await setup();
    const refreshed = vi.spyOn(timelines, "refresh");
    const invalidated = vi.spyOn(qc, "invalidateQueries");
    ws.receive({ type: "sync", conversations: [{ id: 7, last_seq: 2 }] });
    expect([refreshed.mock.calls.length, invalidated.mock.calls.length]).toEqual([0, 0]);
    ws.receive({ type: "sync", conversations: [{ id: 7, last_seq: 2 }, { id: 9, last_seq: 4 }] });
    expect(ws.resumes()).toEqual([]);
    expect(refreshed.mock.calls).toEqual([[9]]);
    expect(invalidated.mock.calls).toEqual([[{ queryKey: conversationsKey }]]);
  });

  it("leaves a conversation I was removed from", async () => {
    const { qc, ws, removed } = await setup();
    ws.receive({ type: "event", event: "member.removed", conversation_id: 7, seq: 3, data: { user_id: 1, by: 2 } });
    expect(removed).toEqual([7]);
    await vi.advanceTimersByTimeAsync(0);
    expect(qc.getQueryData<Conversation[]>(conversationsKey)).toEqual([]);
  });
});
