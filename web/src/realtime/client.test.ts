import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket, messageEvent } from "../test/fakeSocket";
import { RealtimeClient, type RefreshResult } from "./client";
import type { ConversationEvent } from "./frames";
import { MemoryStorage, Outbox } from "./outbox";

const flush = () => vi.advanceTimersByTimeAsync(0);

function setup(opts: { storage?: MemoryStorage; online?: () => boolean; refresh?: () => Promise<RefreshResult>; random?: () => number } = {}) {
  const storage = opts.storage ?? new MemoryStorage();
  let n = 0;
  const refresh = vi.fn(opts.refresh ?? (async (): Promise<RefreshResult> => "ok"));
  const client = new RealtimeClient({
    url: "ws://chat.test/ws",
    outbox: new Outbox(storage, "tipline.outbox.1"),
    getAccessToken: async () => "tok",
    refreshSession: refresh,
    createSocket: (url, protocols) => new FakeSocket(url, protocols),
    random: opts.random ?? (() => 0.5),
    isOnline: opts.online ?? (() => true),
    newId: () => `m${++n}`,
  });
  const events: ConversationEvent[] = [];
  client.on("event", (e) => events.push(e));
  return { client, storage, events, refresh };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("connecting", () => {
  it("authenticates with subprotocols and never puts the token in the URL", async () => {
    const { client } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    expect(ws.url).toBe("ws://chat.test/ws");
    expect(ws.protocols).toEqual(["tipline.v1", "tipline.auth.tok"]);
    ws.ready();
    expect(client.getState()).toEqual({ kind: "open" });
    expect(client.getUserId()).toBe(1);
  });

  it("unpacks batch frames in order", async () => {
    const { client, events } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.open();
    ws.receive({
      type: "batch",
      frames: [
        { type: "ready", protocol: "tipline.v1", user_id: 1, session_id: "s", heartbeat_s: 25, conversations: [{ id: 7, last_seq: 2 }] },
        messageEvent(7, 3),
        messageEvent(7, 4),
      ],
    });
    expect(client.getState().kind).toBe("open");
    expect(events.map((e) => e.seq)).toEqual([3, 4]);
  });

  it("ignores frames that are not JSON or not server frames", async () => {
    const { client, events } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 0 }]);
    ws.onmessage?.({ data: "not json" });
    ws.receive({ type: "event", event: "message.created", conversation_id: "7", seq: 1, data: {} });
    ws.receive([1, 2]);
    expect(events).toEqual([]);
    expect(client.getState().kind).toBe("open");
  });
});

describe("reconnecting", () => {
  it("backs off exponentially with jitter, and resets after ready", async () => {
    const randoms = [0, 1, 0.5, 0];
    const { client } = setup({ random: () => randoms.shift() ?? 0 });
    client.start();
    await flush();
    FakeSocket.last().serverClose(1006);
    // attempt 0: base 500 ms, equal jitter → between 250 and 500; random 0 → 250.
    let s = client.getState();
    expect(s.kind).toBe("waiting");
    if (s.kind !== "waiting") throw new Error();
    expect(s.retryAt - Date.now()).toBe(250);
    await vi.advanceTimersByTimeAsync(249);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last().serverClose(1006);
    s = client.getState();
    if (s.kind !== "waiting") throw new Error();
    // attempt 1: 1000 ms window, random 1 → 1000.
    expect(s.retryAt - Date.now()).toBe(1000);
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.last().serverClose(1006);
    s = client.getState();
    if (s.kind !== "waiting") throw new Error();
    // attempt 2: 2000 ms window, random 0.5 → 1500.
    expect(s.retryAt - Date.now()).toBe(1500);
    await vi.advanceTimersByTimeAsync(1500);
    FakeSocket.last().ready();
    FakeSocket.last().serverClose(1006);
    s = client.getState();
    if (s.kind !== "waiting") throw new Error();
    expect(s.retryAt - Date.now()).toBe(250);
  });

  it("caps the delay at 30 s", async () => {
    const { client } = setup({ random: () => 1 });
    client.start();
    await flush();
    for (let i = 0; i < 12; i++) {
      FakeSocket.last().serverClose(1006);
      await vi.advanceTimersByTimeAsync(30_000);
    }
    FakeSocket.last().serverClose(1006);
    const s = client.getState();
    if (s.kind !== "waiting") throw new Error();
    expect(s.retryAt - Date.now()).toBe(30_000);
  });

  it("comes back within a second after a server restart (1012)", async () => {
    const { client } = setup({ random: () => 0.9 });
    client.start();
    await flush();
    FakeSocket.last().ready();
    FakeSocket.last().serverClose(1012);
    await vi.advanceTimersByTimeAsync(900);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("waits as long as the server says after a connection rate limit (4029)", async () => {
    const { client } = setup({ random: () => 0 });
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.open();
    ws.receive({ type: "error", code: "rate_limited", message: "too many", ref: null, retry_after: 12.5 });
    ws.serverClose(4029, "too many connections");
    await vi.advanceTimersByTimeAsync(12_499);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("refreshes the session on 4001 and reconnects at once", async () => {
    const { client, refresh } = setup();
    client.start();
    await flush();
    FakeSocket.last().ready();
    FakeSocket.last().serverClose(4001, "token_expired");
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("stops, signed out, when the session cannot be refreshed", async () => {
    const { client } = setup({ refresh: async () => "signed_out" });
    client.start();
    await flush();
    FakeSocket.last().ready();
    FakeSocket.last().serverClose(4001, "session ended");
    await flush();
    expect(client.getState()).toEqual({ kind: "signed_out" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it("waits offline without trying, and reconnects when the network returns", async () => {
    let online = true;
    const { client } = setup({ online: () => online });
    client.start();
    await flush();
    FakeSocket.last().ready();
    online = false;
    client.setNetwork(false);
    expect(client.getState()).toEqual({ kind: "offline" });
    expect(FakeSocket.last().closed).not.toBeNull();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    online = true;
    client.setNetwork(true);
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("gives up on a socket that stops answering pings", async () => {
    const { client } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready();
    await vi.advanceTimersByTimeAsync(25_000);
    expect(ws.sentOfType("ping")).toHaveLength(1);
    ws.receive({ type: "pong" });
    await vi.advanceTimersByTimeAsync(25_000);
    expect(ws.sentOfType("ping")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000); // no answer this time
    expect(ws.closed).not.toBeNull();
    expect(client.getState().kind).toBe("waiting");
  });
});

describe("outbox", () => {
  it("shows a send as pending until its ack, matched by client_msg_id", async () => {
    const { client } = setup();
    const acks: string[] = [];
    client.on("ack", ({ ack, item }) => acks.push(`${ack.client_msg_id}:${item?.body}`));
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 0 }]);
    const item = client.send(7, "hello");
    expect(ws.sentOfType("send")).toEqual([{ type: "send", conversation_id: 7, client_msg_id: "m1", body: "hello" }]);
    expect(client.outbox.list()).toHaveLength(1);
    ws.receive({ type: "ack", conversation_id: 7, client_msg_id: item.client_msg_id, message_id: 10, seq: 1, created_at: "2026-11-22T10:00:00Z", duplicate: false });
    expect(acks).toEqual(["m1:hello"]);
    expect(client.outbox.list()).toHaveLength(0);
  });

  it("sends a message's attachment ids with it", async () => {
    const { client } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 0 }]);
    client.send(7, "", null, ["u1", "u2"]);
    expect(ws.sentOfType("send")).toEqual([{ type: "send", conversation_id: 7, client_msg_id: "m1", body: "", attachment_ids: ["u1", "u2"] }]);
    expect(client.outbox.list()[0]!.attachment_ids).toEqual(["u1", "u2"]);
  });

  it("treats its own message.created as the confirmation when it comes before the ack", async () => {
    const { client } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 0 }]);
    client.send(7, "hello");
    ws.receive(messageEvent(7, 1, { sender_id: 1, client_msg_id: "m1" }));
    expect(client.outbox.list()).toHaveLength(0);
  });

  it("keeps what is written offline, in order, and sends it after the next ready", async () => {
    let online = false;
    const storage = new MemoryStorage();
    const { client } = setup({ storage, online: () => online });
    client.start();
    await flush();
    expect(FakeSocket.all).toHaveLength(0);
    client.send(7, "one");
    client.send(8, "two");
    client.send(7, "three");
    expect(JSON.parse(storage.getItem("tipline.outbox.1") ?? "[]").map((i: { body: string }) => i.body)).toEqual(["one", "two", "three"]);
    online = true;
    client.setNetwork(true);
    await flush();
    const ws = FakeSocket.last();
    expect(ws.sentOfType("send")).toEqual([]);
    ws.ready([{ id: 7, last_seq: 0 }, { id: 8, last_seq: 0 }]);
    expect(ws.sentOfType("send").map((f) => f.body)).toEqual(["one", "two", "three"]);
  });

  it("survives a reload: a new client sends what the old one left", async () => {
    const storage = new MemoryStorage();
    const first = setup({ storage, online: () => false });
    first.client.start();
    await flush();
    first.client.send(7, "written before the reload");
    first.client.stop();

    const second = setup({ storage });
    second.client.start();
    await flush();
    FakeSocket.last().ready([{ id: 7, last_seq: 0 }]);
    expect(FakeSocket.last().sentOfType("send").map((f) => f.body)).toEqual(["written before the reload"]);
  });

  it("sends an unacknowledged message again after a drop, with the same client_msg_id", async () => {
    const { client } = setup();
    client.start();
    await flush();
    FakeSocket.last().ready([{ id: 7, last_seq: 0 }]);
    client.send(7, "maybe lost");
    FakeSocket.last().serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 1 }]);
    expect(ws.sentOfType("send")).toEqual([{ type: "send", conversation_id: 7, client_msg_id: "m1", body: "maybe lost" }]);
    // The server had stored it: the duplicate ack confirms it, nothing is stored twice.
    ws.receive({ type: "ack", conversation_id: 7, client_msg_id: "m1", message_id: 10, seq: 1, created_at: "2026-11-22T10:00:00Z", duplicate: true });
    expect(client.outbox.list()).toHaveLength(0);
  });

  it("resends a message refused by the send rate limit after retry_after, without giving up", async () => {
    const { client } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 0 }]);
    client.send(7, "a");
    for (let i = 0; i < 8; i++) {
      ws.receive({ type: "error", code: "rate_limited", message: "slow down", ref: "m1", client_msg_id: "m1", conversation_id: 7, retry_after: 0.5 });
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(ws.sentOfType("send")).toHaveLength(9);
    expect(client.outbox.get("m1")?.status).toBe("pending");
  });

  it("retries retryable errors, fails the others, and can retry or discard a failed send", async () => {
    const { client } = setup();
    const failed: string[] = [];
    client.on("sendFailed", (i) => failed.push(i.error?.code ?? ""));
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 0 }]);
    client.send(7, "a");
    ws.receive({ type: "error", code: "unavailable", message: "retry", ref: "m1", client_msg_id: "m1", conversation_id: 7 });
    expect(client.outbox.get("m1")?.status).toBe("pending");
    await vi.advanceTimersByTimeAsync(2000);
    expect(ws.sentOfType("send")).toHaveLength(2);
    ws.receive({ type: "error", code: "conversation_archived", message: "archived", ref: "m1", client_msg_id: "m1", conversation_id: 7 });
    expect(client.outbox.get("m1")?.status).toBe("failed");
    expect(failed).toEqual(["conversation_archived"]);
    client.retry("m1");
    expect(ws.sentOfType("send")).toHaveLength(3);
    expect(ws.sentOfType("send")[2]?.client_msg_id).toBe("m1");
    client.discard("m1");
    expect(client.outbox.list()).toHaveLength(0);
  });
});

describe("seq, gaps and resume", () => {
  it("resumes from the last seq per conversation after a reconnect", async () => {
    const { client, events } = setup();
    client.start();
    await flush();
    let ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 3 }, { id: 8, last_seq: 10 }]);
    ws.receive(messageEvent(7, 4));
    ws.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 6 }, { id: 8, last_seq: 10 }]);
    expect(ws.resumes()).toEqual([{ "7": 4 }]);
    ws.receive(messageEvent(7, 5));
    ws.receive(messageEvent(7, 6));
    ws.receive({ type: "resumed", conversation_id: 7, last_seq: 6 });
    expect(events.map((e) => e.seq)).toEqual([4, 5, 6]);
    expect(client.heldSeq(7)).toBe(6);
  });

  it("detects a gap, resumes that conversation, and applies everything in order exactly once", async () => {
    const { client, events } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 3 }]);
    ws.receive(messageEvent(7, 4));
    ws.receive(messageEvent(7, 7)); // 5 and 6 went missing
    expect(ws.resumes()).toEqual([{ "7": 4 }]);
    ws.receive(messageEvent(7, 8)); // still behind: no second resume while one is in flight
    expect(ws.sentOfType("resume")).toHaveLength(1);
    // The replay, overlapping live delivery.
    ws.receive(messageEvent(7, 5));
    ws.receive(messageEvent(7, 6));
    ws.receive(messageEvent(7, 7));
    ws.receive({ type: "resumed", conversation_id: 7, last_seq: 8 });
    ws.receive(messageEvent(7, 8)); // late live copy
    expect(events.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(client.heldSeq(7)).toBe(8);
  });

  it("catches up on sync after the server's bus lost events, with no new event to show the gap", async () => {
    const { client, events } = setup();
    const syncs: number[][] = [];
    client.on("sync", (s) => syncs.push(s.fresh));
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 3 }, { id: 8, last_seq: 10 }]);
    // 4 was committed while the bus was down and never arrives live.
    ws.receive({ type: "sync", conversations: [{ id: 7, last_seq: 4 }, { id: 8, last_seq: 10 }] });
    expect(ws.resumes()).toEqual([{ "7": 3 }]);
    expect(syncs).toEqual([[]]);
    ws.receive({ type: "batch", frames: [messageEvent(7, 4), { type: "resumed", conversation_id: 7, last_seq: 4 }] });
    expect(events.map((e) => [e.conversation_id, e.seq])).toEqual([[7, 4]]);
    expect(client.heldSeq(7)).toBe(4);
    expect(client.heldSeq(8)).toBe(10);
    expect(client.getState()).toEqual({ kind: "open" });
    expect(FakeSocket.all).toHaveLength(1);
  });

  it("asks again after a backoff when the server could not answer a resume, so a quiet gap is still repaired", async () => {
    const { client, events } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 3 }, { id: 8, last_seq: 1 }]);
    ws.receive({ type: "sync", conversations: [{ id: 7, last_seq: 5 }, { id: 8, last_seq: 2 }] });
    const [first] = ws.sentOfType("resume");
    expect(first?.since).toEqual({ "7": 3, "8": 1 });
    // 7 was answered, then the database went away while 8 was read.
    ws.receive(messageEvent(7, 4));
    ws.receive(messageEvent(7, 5));
    ws.receive({ type: "resumed", conversation_id: 7, last_seq: 5, ref: first?.ref });
    ws.receive({ type: "error", code: "internal", message: "the server could not handle this frame; retry", ref: first?.ref });
    expect(ws.resumes()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(375); // attempt 0 of the backoff with random 0.5
    expect(ws.resumes()).toEqual([{ "7": 3, "8": 1 }, { "8": 1 }]);
    ws.receive(messageEvent(8, 2));
    ws.receive({ type: "resumed", conversation_id: 8, last_seq: 2, ref: ws.sentOfType("resume")[1]?.ref });
    expect(events.map((e) => [e.conversation_id, e.seq])).toEqual([[7, 4], [7, 5], [8, 2]]);
  });

  it("forgets a conversation whose resume is refused because I am no longer a member", async () => {
    const { client } = setup();
    const lost: number[] = [];
    client.on("lost", (l) => lost.push(l.conversation_id));
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 3 }]);
    ws.receive({ type: "sync", conversations: [{ id: 7, last_seq: 5 }] });
    const ref = ws.sentOfType("resume")[0]?.ref;
    ws.receive({ type: "error", code: "not_found", message: "conversation not found", ref, conversation_id: 7 });
    expect(lost).toEqual([7]);
    expect(client.heldSeq(7)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ws.resumes()).toHaveLength(1);
  });

  it("handles reload by asking the app to refetch, then continues after last_seq", async () => {
    const { client, events } = setup();
    const reloads: number[] = [];
    client.on("reload", (r) => reloads.push(r.conversation_id));
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 1 }]);
    ws.receive(messageEvent(7, 5000));
    ws.receive({ type: "reload", conversation_id: 7, last_seq: 5000 });
    expect(reloads).toEqual([7]);
    ws.receive(messageEvent(7, 5001));
    expect(events.map((e) => e.seq)).toEqual([5001]);
  });

  it("starts tracking a conversation it joins, and forgets one it was removed from", async () => {
    const { client, events } = setup();
    client.start();
    await flush();
    const ws = FakeSocket.last();
    ws.ready([]);
    ws.receive({ type: "event", event: "conversation.joined", conversation_id: 9, seq: null, data: { id: 9, kind: "group", name: "g", topic: "", archived: false, last_seq: 3, role: "member" } });
    ws.receive(messageEvent(9, 4));
    expect(client.heldSeq(9)).toBe(4);
    ws.receive({ type: "event", event: "member.removed", conversation_id: 9, seq: 5, data: { user_id: 1, by: 2 } });
    ws.receive(messageEvent(9, 6));
    expect(events.map((e) => e.event)).toEqual(["conversation.joined", "message.created", "member.removed"]);
    expect(client.heldSeq(9)).toBeUndefined();
  });

  it("sends read markers once, and after a reconnect if they could not go out", async () => {
    const { client } = setup();
    client.start();
    await flush();
    client.markRead(7, 3);
    const ws = FakeSocket.last();
    ws.ready([{ id: 7, last_seq: 3 }]);
    expect(ws.sentOfType("read")).toEqual([{ type: "read", conversation_id: 7, seq: 3 }]);
    client.markRead(7, 3);
    client.markRead(7, 2);
    expect(ws.sentOfType("read")).toHaveLength(1);
  });
});
