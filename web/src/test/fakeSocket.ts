/** A WebSocket stand-in for the realtime client's tests: records frames, plays the server. */
import type { SocketLike } from "../realtime";

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closed: { code?: number; reason?: string } | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.all.push(this);
  }

  static last(): FakeSocket {
    const s = FakeSocket.all[FakeSocket.all.length - 1];
    if (!s) throw new Error("no socket was opened");
    return s;
  }

  static reset(): void {
    FakeSocket.all = [];
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
    this.readyState = 3;
  }

  // --- the server's side ---

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  ready(conversations: { id: number; last_seq: number }[] = [], userId = 1): void {
    this.open();
    this.receive({
      type: "ready",
      protocol: "tipline.v1",
      user_id: userId,
      session_id: "s",
      heartbeat_s: 25,
      idle_timeout_s: 75,
      away_after_s: 300,
      conversations,
    });
  }

  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentOfType(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }

  /** The `since` of each `resume` sent (each carries a ref of its own, left out here). */
  resumes(): unknown[] {
    return this.sentOfType("resume").map((f) => f.since);
  }
}

export function messageEvent(cid: number, seq: number, extra: Partial<{ id: number; sender_id: number; body: string; client_msg_id: string }> = {}) {
  const id = extra.id ?? seq * 100;
  return {
    type: "event",
    event: "message.created",
    conversation_id: cid,
    seq,
    data: {
      id,
      conversation_id: cid,
      seq,
      sender_id: extra.sender_id ?? 2,
      client_msg_id: extra.client_msg_id ?? `c-${id}`,
      body: extra.body ?? `message ${seq}`,
      reply_to_id: null,
      mention_ids: [],
      created_at: "2026-11-22T10:00:00+00:00",
      edited_at: null,
      deleted: false,
      reactions: [],
      reply_count: 0,
      tips: [],
      attachments: [],
      hidden: false,
    },
  };
}
