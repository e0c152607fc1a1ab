/**
 * The WebSocket client for `tipline.v1`: one socket per tab (docs/protocol.md,
 * docs/subsystems/web-client.md).
 *
 * It owns the connection's life (connect, authenticate by subprotocol, heartbeat, reconnect
 * with backoff and jitter, refresh the session on 4001), the ordered outbox (optimistic sends
 * confirmed by `ack`), and the per-conversation seq bookkeeping (gaps and reconnects repaired
 * with `resume`). It knows nothing about React or the HTTP cache: the app listens to its
 * events and applies them.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
import { Emitter } from "./emitter";
import {
  CloseCode,
  RETRYABLE_SEND_ERRORS,
  parseServerFrame,
  type AckFrame,
  type ClientFrame,
  type ConversationEvent,
  type ErrorFrame,
  type PresenceSignal,
  type ReadSignal,
  type ReadyFrame,
  type ServerFrame,
  type TypingSignal,
} from "./frames";
import type { Outbox, OutboxItem } from "./outbox";
import { Sequencer, type Step } from "./sequencer";

export const PROTOCOL = "tipline.v1";
export const AUTH_PREFIX = "tipline.auth.";

/** The part of the browser's WebSocket the client uses (a fake one in tests). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

export type ConnectionState =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "open" }
  /** Waiting before the next attempt. */
  | { kind: "waiting"; attempt: number; retryAt: number; lastCloseCode: number | null }
  /** The browser says there is no network; reconnects when it comes back. */
  | { kind: "offline" }
  /** The session ended (signed out, revoked, expired) and could not be refreshed. */
  | { kind: "signed_out" }
  | { kind: "stopped" };

export type RefreshResult = "ok" | "signed_out" | "unavailable";

export interface RealtimeEvents {
  state: ConnectionState;
  ready: ReadyFrame & { fresh: number[] };
  /** A conversation event, in seq order per conversation, never twice. */
  event: ConversationEvent;
  ack: { ack: AckFrame; item: OutboxItem | undefined };
  sendFailed: OutboxItem;
  typing: TypingSignal;
  presence: PresenceSignal;
  read: ReadSignal;
  /** Too far behind for a replay: refetch this conversation's latest window. */
  reload: { conversation_id: number; last_seq: number };
  /**
   * The server's bus lost messages; behind conversations are being resumed. `fresh` lists the
   * ones not tracked until now (started at the server's last_seq): refetch what is shown of them.
   */
  sync: { fresh: number[] };
  /** No longer a member (a resume was refused). */
  lost: { conversation_id: number; code: string };
  error: ErrorFrame;
}

export interface RealtimeOptions {
  url: string;
  /** A currently valid access token, or null when signed out. */
  getAccessToken(): Promise<string | null>;
  /** Called when the server closes with 4001: rotate the tokens. */
  refreshSession(): Promise<RefreshResult>;
  outbox: Outbox;
  createSocket?: SocketFactory;
  random?: () => number;
  now?: () => number;
  isOnline?: () => boolean;
  newId?: () => string;
  backoff?: BackoffOptions;
  /** With no frame at all this long after a ping, the socket is presumed dead. */
  pongTimeoutMs?: number;
  /** A socket that has not said `ready` this long after being created is given up. */
  readyTimeoutMs?: number;
  /** Retries of a send refused with a retryable error before it is marked failed. */
  maxSendAttempts?: number;
}

const TYPING_INTERVAL_MS = 2000;
const OPEN = 1;

function defaultId(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

export class RealtimeClient extends Emitter<RealtimeEvents> {
  readonly outbox: Outbox;
  private readonly opts: Required<Omit<RealtimeOptions, "outbox">>;
  private readonly sequencer = new Sequencer();
  private socket: SocketLike | null = null;
  private state: ConnectionState = { kind: "idle" };
  private attempt = 0;
  private authFailures = 0;
  private generation = 0;
  private userId: number | null = null;
  private heartbeatMs = 25_000;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private deadlineTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Sends written on the current socket that have no answer yet. */
  private inflight = new Set<string>();
  private lastTyping = new Map<number, number>();
  private reads = new Map<number, { wanted: number; sent: number }>();
  private presence: "online" | "away" = "online";
  private lastCloseCode: number | null = null;
  /** From a `rate_limited` error before a 4029 close: the server's wait, in ms. */
  private connectRetryAfterMs = 0;
  /** Resumes on the current socket (by ref): the conversations not answered yet. */
  private resumes = new Map<string, Set<number>>();
  private resumeRefs = 0;
  /** Conversations whose resume failed on the server's side, to be asked again. */
  private resumeRetry: { conversations: Set<number>; failures: number; timer: ReturnType<typeof setTimeout> | null } = {
    conversations: new Set(),
    failures: 0,
    timer: null,
  };

  constructor(options: RealtimeOptions) {
    super();
    this.outbox = options.outbox;
    this.opts = {
      url: options.url,
      getAccessToken: options.getAccessToken,
      refreshSession: options.refreshSession,
      createSocket: options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike),
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      isOnline: options.isOnline ?? (() => (typeof navigator === "undefined" ? true : navigator.onLine !== false)),
      newId: options.newId ?? defaultId,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
      readyTimeoutMs: options.readyTimeoutMs ?? 15_000,
      maxSendAttempts: options.maxSendAttempts ?? 5,
    };
  }

  // --- public API -------------------------------------------------------------------------------

  getState(): ConnectionState {
    return this.state;
  }

  /** The user id from the last `ready` (null before the first). */
  getUserId(): number | null {
    return this.userId;
  }

  heldSeq(conversationId: number): number | undefined {
    return this.sequencer.heldSeq(conversationId);
  }

  start(): void {
    if (this.state.kind !== "idle" && this.state.kind !== "stopped") return;
    this.setState({ kind: "connecting", attempt: 0 });
    void this.connect();
  }

  stop(): void {
    this.generation++;
    this.clearTimers();
    const ws = this.socket;
    this.socket = null;
    ws?.close(CloseCode.NORMAL, "client stopped");
    this.setState({ kind: "stopped" });
  }

  /** Skip the wait: reconnect now (the user pressed "retry", or the tab became visible). */
  reconnectNow(): void {
    if (this.state.kind === "waiting" || this.state.kind === "offline") {
      this.clearReconnect();
      this.attemptConnect();
    }
  }

  /** The browser's `online` / `offline` events. */
  setNetwork(online: boolean): void {
    if (!online) {
      if (this.state.kind === "stopped" || this.state.kind === "signed_out") return;
      this.generation++;
      this.clearReconnect();
      this.dropSocket(CloseCode.NORMAL, "offline");
      this.setState({ kind: "offline" });
    } else if (this.state.kind === "offline" || this.state.kind === "waiting") {
      this.clearReconnect();
      this.attempt = 0;
      this.attemptConnect();
    }
  }

  /** Queue a message. It is sent now if connected, else after the next `ready`. */
  send(conversationId: number, body: string, replyTo?: number | null, attachmentIds: string[] = [], threadOnly = false): OutboxItem {
    const item: OutboxItem = {
      client_msg_id: this.opts.newId(),
      conversation_id: conversationId,
      body,
      reply_to: replyTo ?? null,
      ...(threadOnly && replyTo != null ? { thread_only: true } : {}),
      ...(attachmentIds.length > 0 ? { attachment_ids: attachmentIds } : {}),
      created_at: new Date(this.opts.now()).toISOString(),
      status: "pending",
      attempts: 0,
    };
    this.outbox.add(item);
    this.transmit(item);
    // Receivers clear the indicator when the message lands: the next keystroke may say so again.
    this.lastTyping.delete(conversationId);
    return item;
  }

  /** Send a failed item again (same client_msg_id: it can never be stored twice). */
  retry(clientMsgId: string): void {
    const item = this.outbox.get(clientMsgId);
    if (!item) return;
    this.outbox.update(clientMsgId, { status: "pending", attempts: 0, error: undefined });
    this.transmit({ ...item, status: "pending", attempts: 0 });
  }

  discard(clientMsgId: string): void {
    this.clearRetry(clientMsgId);
    this.inflight.delete(clientMsgId);
    this.outbox.remove(clientMsgId);
  }

  typing(conversationId: number): void {
    const now = this.opts.now();
    if (now - (this.lastTyping.get(conversationId) ?? -Infinity) < TYPING_INTERVAL_MS) return;
    if (this.write({ type: "typing", conversation_id: conversationId })) this.lastTyping.set(conversationId, now);
  }

  /** Move my read marker; coalesced, and kept for the next connection when offline. */
  markRead(conversationId: number, seq: number): void {
    const entry = this.reads.get(conversationId) ?? { wanted: 0, sent: 0 };
    if (seq <= entry.wanted) return;
    entry.wanted = seq;
    this.reads.set(conversationId, entry);
    this.flushRead(conversationId);
  }

  setPresence(status: "online" | "away"): void {
    if (status === this.presence) return;
    this.presence = status;
    this.write({ type: "presence", status });
  }

  /** Ask for what was missed in one conversation (e.g. the app noticed a stale view). */
  resume(conversationId: number): void {
    const held = this.sequencer.heldSeq(conversationId);
    if (held !== undefined) this.writeResume(new Map([[conversationId, held]]));
  }

  // --- connection life ----------------------------------------------------------------------------

  private attemptConnect(): void {
    this.setState({ kind: "connecting", attempt: this.attempt });
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (!this.opts.isOnline()) {
      this.setState({ kind: "offline" });
      return;
    }
    const gen = ++this.generation;
    let token: string | null;
    try {
      token = await this.opts.getAccessToken();
    } catch {
      if (gen === this.generation) this.scheduleReconnect();
      return;
    }
    if (gen !== this.generation) return;
    if (token === null) {
      this.setState({ kind: "signed_out" });
      return;
    }
    let ws: SocketLike;
    try {
      ws = this.opts.createSocket(this.opts.url, [PROTOCOL, AUTH_PREFIX + token]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = ws;
    ws.onmessage = (ev) => {
      if (this.socket === ws) this.onMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.socket === ws) void this.onClose(ev.code);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
    // No `ready` in time (a proxy that accepted and went quiet): try again.
    this.armDeadline(this.opts.readyTimeoutMs);
  }

  private onMessage(data: unknown): void {
    this.disarmDeadline();
    const frame = parseServerFrame(data);
    if (frame) this.handle(frame);
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "batch":
        for (const f of frame.frames) this.handle(f);
        return;
      case "ready":
        return this.onReady(frame);
      case "ack":
        return this.onAck(frame);
      case "error":
        return this.onError(frame);
      case "event":
        return this.onEvent(frame);
      case "resumed": {
        this.answered(frame.ref, frame.conversation_id);
        const step = this.sequencer.onResumed(frame.conversation_id, frame.last_seq);
        this.applyStep(step);
        if (step.reload) this.emit("reload", { conversation_id: frame.conversation_id, last_seq: frame.last_seq });
        return;
      }
      case "reload":
        this.answered(frame.ref, frame.conversation_id);
        this.applyStep(this.sequencer.onReload(frame.conversation_id, frame.last_seq));
        this.emit("reload", { conversation_id: frame.conversation_id, last_seq: frame.last_seq });
        return;
      case "typing":
        this.emit("typing", frame);
        return;
      case "presence":
        this.emit("presence", frame);
        return;
      case "read":
        this.emit("read", frame);
        return;
      case "sync": {
        const step = this.sequencer.onSync(frame.conversations);
        this.emit("sync", { fresh: step.fresh });
        this.applyStep(step);
        return;
      }
      case "pong":
        // Any frame meets the ping deadline (onMessage); a pong needs nothing more.
        return;
      default: {
        // A server frame type without a case here fails to compile.
        const unhandled: never = frame;
        void unhandled;
      }
    }
  }

  private onReady(ready: ReadyFrame): void {
    this.userId = ready.user_id;
    this.attempt = 0;
    this.authFailures = 0;
    this.heartbeatMs = Math.max(1000, Math.min(ready.heartbeat_s, 25) * 1000);
    this.startHeartbeat();
    this.setState({ kind: "open" });
    const step = this.sequencer.onReady(ready);
    if (this.presence !== "online") this.write({ type: "presence", status: this.presence });
    this.emit("ready", { ...ready, fresh: step.fresh });
    this.applyStep(step);
    // The outbox goes out in the order it was written; the server commits one socket's sends
    // in the order they arrive.
    for (const item of this.outbox.pending()) this.transmit(item);
    for (const cid of this.reads.keys()) this.flushRead(cid);
  }

  private async onClose(code: number): Promise<void> {
    this.socket = null;
    this.lastCloseCode = code;
    this.stopHeartbeat();
    this.disarmDeadline();
    this.inflight.clear();
    this.clearResumes();
    this.sequencer.onDisconnect();
    if (this.state.kind === "stopped" || this.state.kind === "signed_out") return;
    if (code === CloseCode.UNAUTHORIZED) {
      this.authFailures++;
      const gen = ++this.generation;
      this.setState({ kind: "connecting", attempt: this.attempt });
      const result = this.authFailures > 3 ? "signed_out" : await this.opts.refreshSession().catch(() => "unavailable" as const);
      if (gen !== this.generation) return;
      if (result === "ok") {
        void this.connect();
      } else if (result === "signed_out") {
        this.setState({ kind: "signed_out" });
      } else {
        this.scheduleReconnect();
      }
      return;
    }
    if (!this.opts.isOnline()) {
      this.setState({ kind: "offline" });
      return;
    }
    if (code === CloseCode.RATE_LIMITED) {
      const wait = Math.max(this.connectRetryAfterMs, backoffDelay(this.attempt, this.opts.random, this.opts.backoff));
      this.connectRetryAfterMs = 0;
      this.scheduleReconnect(wait);
      return;
    }
    if (code === CloseCode.RESTART) {
      // The node is draining: come back at once (another node takes us), with a little jitter.
      this.scheduleReconnect(Math.round(this.opts.random() * 1000));
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(delay?: number): void {
    this.clearReconnect();
    const wait = delay ?? backoffDelay(this.attempt, this.opts.random, this.opts.backoff);
    this.attempt++;
    this.setState({
      kind: "waiting",
      attempt: this.attempt,
      retryAt: this.opts.now() + wait,
      lastCloseCode: this.lastCloseCode,
    });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.attemptConnect();
    }, wait);
  }

  private dropSocket(code: number, reason: string): void {
    const ws = this.socket;
    this.socket = null;
    this.stopHeartbeat();
    this.disarmDeadline();
    this.inflight.clear();
    this.clearResumes();
    this.sequencer.onDisconnect();
    ws?.close(code, reason);
  }

  // --- heartbeat ------------------------------------------------------------------------------

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      if (this.write({ type: "ping" })) this.armDeadline(this.opts.pongTimeoutMs);
    }, this.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private armDeadline(ms: number): void {
    if (this.deadlineTimer !== null) return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      if (!this.socket) return;
      // Nothing heard in time: the connection is dead even if the browser has not noticed.
      this.dropSocket(CloseCode.HEARTBEAT_TIMEOUT, "no answer to ping");
      this.lastCloseCode = CloseCode.HEARTBEAT_TIMEOUT;
      this.generation++;
      this.scheduleReconnect();
    }, ms);
  }

  private disarmDeadline(): void {
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  // --- frames ---------------------------------------------------------------------------------

  private write(frame: ClientFrame): boolean {
    const ws = this.socket;
    if (!ws || this.state.kind !== "open" || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  private transmit(item: OutboxItem): void {
    if (item.status !== "pending" || this.inflight.has(item.client_msg_id)) return;
    const frame: ClientFrame = {
      type: "send",
      conversation_id: item.conversation_id,
      client_msg_id: item.client_msg_id,
      body: item.body,
      ...(item.reply_to !== null ? { reply_to: item.reply_to } : {}),
      ...(item.thread_only ? { thread_only: true } : {}),
      ...(item.attachment_ids?.length ? { attachment_ids: item.attachment_ids } : {}),
    };
    if (this.write(frame)) this.inflight.add(item.client_msg_id);
  }

  private flushRead(conversationId: number): void {
    const entry = this.reads.get(conversationId);
    if (!entry || entry.wanted <= entry.sent) return;
    if (this.write({ type: "read", conversation_id: conversationId, seq: entry.wanted })) entry.sent = entry.wanted;
  }

  private onAck(ack: AckFrame): void {
    this.inflight.delete(ack.client_msg_id);
    this.clearRetry(ack.client_msg_id);
    const item = this.outbox.get(ack.client_msg_id);
    // Listeners first (they show the message as sent), then the pending copy goes.
    this.emit("ack", { ack, item });
    this.outbox.remove(ack.client_msg_id);
  }

  private onError(err: ErrorFrame): void {
    const cmid = err.client_msg_id;
    if (cmid !== undefined) {
      this.inflight.delete(cmid);
      const item = this.outbox.get(cmid);
      if (!item) return;
      // Being paced by the server's rate limit is not a failure of this message.
      const paced = err.code === "rate_limited";
      const attempts = paced ? item.attempts : item.attempts + 1;
      if (paced || (RETRYABLE_SEND_ERRORS.has(err.code) && attempts < this.opts.maxSendAttempts)) {
        this.outbox.update(cmid, { attempts });
        const wait = err.retry_after ? err.retry_after * 1000 : backoffDelay(attempts, this.opts.random, this.opts.backoff);
        this.clearRetry(cmid);
        this.retryTimers.set(
          cmid,
          setTimeout(() => {
            this.retryTimers.delete(cmid);
            const current = this.outbox.get(cmid);
            if (current) this.transmit(current);
          }, wait),
        );
        return;
      }
      this.outbox.update(cmid, { status: "failed", attempts, error: { code: err.code, message: err.message } });
      const failed = this.outbox.get(cmid);
      if (failed) this.emit("sendFailed", failed);
      return;
    }
    const resume = err.ref ? this.resumes.get(err.ref) : undefined;
    if (err.ref && resume) {
      this.onResumeError(err.ref, resume, err);
      return;
    }
    if (err.code === "rate_limited" && err.retry_after !== undefined) {
      this.connectRetryAfterMs = err.retry_after * 1000;
      return;
    }
    if (err.conversation_id !== undefined && (err.code === "not_found" || err.code === "not_a_member")) {
      this.sequencer.forget(err.conversation_id);
      this.emit("lost", { conversation_id: err.conversation_id, code: err.code });
      return;
    }
    this.emit("error", err);
  }

  private onEvent(ev: ConversationEvent): void {
    if (ev.seq === null) {
      if (ev.event === "conversation.joined") this.sequencer.onJoined(ev.conversation_id, ev.data.last_seq);
      this.emit("event", ev);
      return;
    }
    this.applyStep(this.sequencer.onEvent(ev));
  }

  private applyStep(step: Step): void {
    for (const ev of step.apply) this.deliver(ev);
    if (step.resume.size > 0) this.writeResume(step.resume);
  }

  private writeResume(since: Map<number, number>): void {
    const ref = `resume-${++this.resumeRefs}`;
    const frame: ClientFrame = { type: "resume", since: Object.fromEntries([...since].map(([c, s]) => [String(c), s])), ref };
    if (this.write(frame)) this.resumes.set(ref, new Set(since.keys()));
  }

  /** A `resumed` or `reload` answered one conversation of a resume. */
  private answered(ref: string | null | undefined, conversationId: number): void {
    const waiting = ref ? this.resumes.get(ref) : undefined;
    if (!ref || !waiting) return;
    waiting.delete(conversationId);
    if (waiting.size === 0) this.resumes.delete(ref);
    this.resumeRetry.failures = 0;
  }

  /**
   * An `error` answering one of our resumes. Not a member: forget the conversation. Anything
   * else (`internal` for the whole frame, e.g. while the database is unreachable) would leave
   * the conversation marked as resuming forever, its gap never repaired: ask again later.
   */
  private onResumeError(ref: string, waiting: Set<number>, err: ErrorFrame): void {
    const failed = err.conversation_id !== undefined ? [err.conversation_id] : [...waiting];
    for (const cid of failed) waiting.delete(cid);
    if (waiting.size === 0 || err.conversation_id === undefined) this.resumes.delete(ref);
    for (const cid of failed) {
      if (err.code === "not_found" || err.code === "not_a_member") {
        this.sequencer.forget(cid);
        this.emit("lost", { conversation_id: cid, code: err.code });
      } else {
        this.sequencer.onResumeFailed(cid);
        this.resumeRetry.conversations.add(cid);
      }
    }
    if (this.resumeRetry.conversations.size === 0 || this.resumeRetry.timer !== null) return;
    const wait = backoffDelay(this.resumeRetry.failures++, this.opts.random, this.opts.backoff);
    this.resumeRetry.timer = setTimeout(() => {
      this.resumeRetry.timer = null;
      const cids = [...this.resumeRetry.conversations];
      this.resumeRetry.conversations.clear();
      this.applyStep(this.sequencer.resumeAgain(cids));
    }, wait);
  }

  private clearResumes(): void {
    this.resumes.clear();
    this.resumeRetry.conversations.clear();
    if (this.resumeRetry.timer !== null) clearTimeout(this.resumeRetry.timer);
    this.resumeRetry.timer = null;
  }

  private deliver(ev: ConversationEvent): void {
    this.emit("event", ev);
    if (ev.event === "message.created" && ev.data.sender_id === this.userId && this.userId !== null) {
      // Our own message, seen before (or instead of) its ack: the pending copy is confirmed.
      const cmid = ev.data.client_msg_id;
      if (this.outbox.get(cmid)) {
        this.inflight.delete(cmid);
        this.clearRetry(cmid);
        this.outbox.remove(cmid);
      }
    } else if ((ev.event === "member.removed" || ev.event === "member.left") && ev.data.user_id === this.userId) {
      this.sequencer.forget(ev.conversation_id);
    }
  }

  // --- bookkeeping ----------------------------------------------------------------------------

  private setState(state: ConnectionState): void {
    this.state = state;
    this.emit("state", state);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private clearRetry(cmid: string): void {
    const t = this.retryTimers.get(cmid);
    if (t !== undefined) clearTimeout(t);
    this.retryTimers.delete(cmid);
  }

  private clearTimers(): void {
    this.clearReconnect();
    this.clearResumes();
    this.stopHeartbeat();
    this.disarmDeadline();
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
  }
}
