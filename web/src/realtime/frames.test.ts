import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket, messageEvent } from "../test/fakeSocket";
import { RealtimeClient, type RealtimeEvents } from "./client";
import { SERVER_FRAME_TYPES, parseServerFrame, type BatchFrame, type ServerFrame } from "./frames";
import { MemoryStorage, Outbox } from "./outbox";

type FrameType = (typeof SERVER_FRAME_TYPES)[number];

/** The server frame types docs/protocol.md lists (its table of contents), in its order. */
function documentedServerFrames(): string[] {
  const doc = readFileSync(resolve(__dirname, "../../../docs/protocol.md"), "utf8");
  const line = doc.split("\n").find((l) => l.startsWith("- [Server frames](#server-frames):"));
  if (!line) throw new Error("docs/protocol.md lists no server frames");
  return [...line.split(":").slice(1).join(":").matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
}

/** A connected client (conversation 7 at seq 3) and everything it reports. */
async function connected() {
  const client = new RealtimeClient({
    url: "ws://chat.test/ws",
    outbox: new Outbox(new MemoryStorage(), "tipline.outbox.1"),
    getAccessToken: async () => "tok",
    refreshSession: async () => "ok",
    createSocket: (url, protocols) => new FakeSocket(url, protocols),
    random: () => 0.5,
    newId: () => "m1",
  });
  const seen: { name: keyof RealtimeEvents; payload: unknown }[] = [];
  for (const name of ["state", "ready", "event", "ack", "sendFailed", "typing", "presence", "read", "reload", "sync", "lost", "error"] as const) {
    client.on(name, (payload) => seen.push({ name, payload }));
  }
  client.start();
  await vi.advanceTimersByTimeAsync(0);
  const ws = FakeSocket.last();
  ws.ready([{ id: 7, last_seq: 3 }]);
  seen.length = 0;
  return { client, ws, seen };
}

type Harness = Awaited<ReturnType<typeof connected>>;

/**
 * For every server frame type: an example as the server sends it, and what the client must do
 * with it. Typed by the list in frames.ts, so a type added there without a case here does not
 * compile; the test below fails if the client does nothing with one.
 */
const CASES: Record<FrameType, { frame: (h: Harness) => ServerFrame; handled: (h: Harness) => void }> = {
  ready: {
    frame: () => ({ type: "ready", protocol: "tipline.v1", user_id: 1, session_id: "s", heartbeat_s: 25, idle_timeout_s: 90, away_after_s: 300, conversations: [{ id: 7, last_seq: 5 }] }),
    handled: ({ ws, seen }) => {
      expect(seen.map((s) => s.name)).toContain("ready");
      expect(ws.resumes()).toEqual([{ "7": 3 }]);
    },
  },
  ack: {
    frame: ({ client }) => {
      const item = client.send(7, "hi");
      return { type: "ack", ref: item.client_msg_id, conversation_id: 7, client_msg_id: item.client_msg_id, message_id: 9, seq: 4, created_at: "2026-11-22T10:00:00Z", duplicate: false };
    },
    handled: ({ client, seen }) => {
      expect(seen.map((s) => s.name)).toEqual(["ack"]);
      expect(client.outbox.list()).toEqual([]);
    },
  },
  error: {
    frame: () => ({ type: "error", code: "invalid_frame", message: "bad", ref: null }),
    handled: ({ seen }) => expect(seen.map((s) => s.name)).toEqual(["error"]),
  },
  event: {
    frame: () => messageEvent(7, 4) as ServerFrame,
    handled: ({ client, seen }) => {
      expect(seen.map((s) => s.name)).toEqual(["event"]);
      expect(client.heldSeq(7)).toBe(4);
    },
  },
  batch: {
    frame: () => ({ type: "batch", frames: [messageEvent(7, 4) as BatchFrame["frames"][number], { type: "typing", conversation_id: 7, user_id: 2 }] }),
    handled: ({ seen }) => expect(seen.map((s) => s.name)).toEqual(["event", "typing"]),
  },
  typing: {
    frame: () => ({ type: "typing", conversation_id: 7, user_id: 2 }),
    handled: ({ seen }) => expect(seen).toEqual([{ name: "typing", payload: { type: "typing", conversation_id: 7, user_id: 2 } }]),
  },
  presence: {
    frame: () => ({ type: "presence", user_id: 2, status: "away" }),
    handled: ({ seen }) => expect(seen).toEqual([{ name: "presence", payload: { type: "presence", user_id: 2, status: "away" } }]),
  },
  read: {
    frame: () => ({ type: "read", conversation_id: 7, user_id: 2, seq: 3 }),
    handled: ({ seen }) => expect(seen).toEqual([{ name: "read", payload: { type: "read", conversation_id: 7, user_id: 2, seq: 3 } }]),
  },
  resumed: {
    // A gap (seq 6 with 4 and 5 missing) is being repaired; `resumed` ends the replay.
    frame: ({ ws }) => {
      ws.receive(messageEvent(7, 6));
      ws.receive(messageEvent(7, 4));
      ws.receive(messageEvent(7, 5));
      return { type: "resumed", conversation_id: 7, last_seq: 6, ref: null };
    },
    handled: ({ client, ws }) => {
      expect(client.heldSeq(7)).toBe(6);
      // The next gap is resumed again: the one in flight was closed by `resumed`.
      ws.receive(messageEvent(7, 9));
      expect(ws.resumes()).toEqual([{ "7": 3 }, { "7": 6 }]);
    },
  },
  reload: {
    frame: () => ({ type: "reload", conversation_id: 7, last_seq: 5000, ref: null }),
    handled: ({ client, seen }) => {
      expect(seen).toEqual([{ name: "reload", payload: { conversation_id: 7, last_seq: 5000 } }]);
      expect(client.heldSeq(7)).toBe(5000);
    },
  },
  sync: {
    frame: () => ({ type: "sync", conversations: [{ id: 7, last_seq: 5 }] }),
    handled: ({ ws }) => expect(ws.resumes()).toEqual([{ "7": 3 }]),
  },
  pong: {
    // A ping is out: without an answer within 10 s the socket would be dropped.
    frame: pingOut,
    handled: ({ client, ws }) => {
      vi.advanceTimersByTime(10_001);
      expect(ws.closed).toBeNull();
      expect(client.getState()).toEqual({ kind: "open" });
    },
  },
};

function pingOut({ ws }: Harness): ServerFrame {
  vi.advanceTimersByTime(25_000);
  expect(ws.sentOfType("ping")).toHaveLength(1);
  return { type: "pong", ref: null };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});
afterEach(() => vi.useRealTimers());

describe("server frames", () => {
  it("lists exactly the server frames docs/protocol.md defines", () => {
    expect([...SERVER_FRAME_TYPES]).toEqual(documentedServerFrames());
  });

  it.each(SERVER_FRAME_TYPES.map((t) => [t]))("parses and handles %s", async (type) => {
    const h = await connected();
    const frame = CASES[type].frame(h);
    expect(frame.type).toBe(type);
    expect(parseServerFrame(JSON.stringify(frame))?.type).toBe(type);
    h.ws.receive(frame);
    CASES[type].handled(h);
  });

  it("refuses a sync frame whose entries are not conversations", () => {
    expect(parseServerFrame(JSON.stringify({ type: "sync", conversations: [{ id: "7", last_seq: 5 }] }))).toBeNull();
    expect(parseServerFrame(JSON.stringify({ type: "sync" }))).toBeNull();
  });
});
