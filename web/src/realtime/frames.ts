/**
 * The `tipline.v1` WebSocket frames (docs/protocol.md), typed. Server frames are parsed with
 * `parseServerFrame`, which checks the discriminator and the few fields the client relies on
 * before anything is applied.
 */
import type { components } from "../api/schema";

export type Message = components["schemas"]["MessageOut"];
export type UserRef = components["schemas"]["UserOut"];
/** A tip as conversation events carry it (docs/protocol.md, Events). */
export type TipEventData = Omit<components["schemas"]["IntentOut"], "approve" | "call"> & {
  /** Confirmed totals per token on the tipped message, after this change. */
  message_totals?: components["schemas"]["TotalOut"][];
};
export type Role = "owner" | "admin" | "member";
export type PresenceStatus = "online" | "away" | "offline";

// --- client frames -----------------------------------------------------------------------------

export interface SendFrame {
  type: "send";
  conversation_id: number;
  client_msg_id: string;
  body: string;
  reply_to?: number;
  /** Completed uploads of mine for this conversation (docs/subsystems/media.md). */
  attachment_ids?: string[];
  ref?: string;
}
export type ClientFrame =
  | SendFrame
  | { type: "typing"; conversation_id: number }
  | { type: "presence"; status: "online" | "away" }
  | { type: "read"; conversation_id: number; seq: number }
  | { type: "resume"; since: Record<string, number>; ref?: string }
  | { type: "ping"; ref?: string };

// --- server frames -----------------------------------------------------------------------------

export interface ReadyFrame {
  type: "ready";
  protocol: string;
  user_id: number;
  session_id: string;
  heartbeat_s: number;
  idle_timeout_s?: number;
  away_after_s?: number;
  conversations: { id: number; last_seq: number }[];
}

export interface AckFrame {
  type: "ack";
  ref?: string | null;
  conversation_id: number;
  client_msg_id: string;
  message_id: number;
  seq: number;
  created_at: string;
  duplicate: boolean;
}

export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  ref: string | null;
  client_msg_id?: string;
  conversation_id?: number;
  retry_after?: number;
}

export interface ConversationData {
  id: number;
  kind: "direct" | "group" | "public" | "private";
  name: string;
  topic: string;
  archived: boolean;
}

interface EventOf<E extends string, D, S = number> {
  type: "event";
  event: E;
  conversation_id: number;
  seq: S;
  data: D;
}

export type ConversationEvent =
  | EventOf<"message.created", Message>
  | EventOf<"message.edited", { id: number; body: string; edited_at: string; mention_ids: number[] }>
  | EventOf<"message.deleted", { id: number; deleted_at: string; by: number }>
  | EventOf<"reaction.added" | "reaction.removed", { message_id: number; emoji: string; user_id: number; count: number }>
  | EventOf<"member.joined", { user: UserRef; role: Role; by: number }>
  | EventOf<"member.left" | "member.removed", { user_id: number; by: number }>
  | EventOf<"member.role_changed", { user_id: number; role: Role; by: number }>
  | EventOf<"conversation.updated" | "conversation.archived" | "conversation.unarchived", ConversationData & { by: number }>
  | EventOf<"tip.pending" | "tip.confirmed" | "tip.failed" | "tip.expired", TipEventData>
  | EventOf<"conversation.joined", ConversationData & { last_seq: number; role: Role }, null>;

/** A durable event: it has a seq and takes part in gap detection. */
export type DurableEvent = Exclude<ConversationEvent, { seq: null }>;

export interface TypingSignal {
  type: "typing";
  conversation_id: number;
  user_id: number;
}
export interface PresenceSignal {
  type: "presence";
  user_id: number;
  status: PresenceStatus;
}
export interface ReadSignal {
  type: "read";
  conversation_id: number;
  user_id: number;
  seq: number;
}
export interface ResumedFrame {
  type: "resumed";
  conversation_id: number;
  last_seq: number;
  ref?: string | null;
}
export interface ReloadFrame {
  type: "reload";
  conversation_id: number;
  last_seq: number;
  ref?: string | null;
}
export interface PongFrame {
  type: "pong";
  ref?: string | null;
}
export interface BatchFrame {
  type: "batch";
  frames: ServerFrame[];
}
/** The node's bus lost messages and is back: where each subscribed conversation stands now. */
export interface SyncFrame {
  type: "sync";
  conversations: { id: number; last_seq: number }[];
}

export type ServerFrame =
  | ReadyFrame
  | AckFrame
  | ErrorFrame
  | ConversationEvent
  | TypingSignal
  | PresenceSignal
  | ReadSignal
  | ResumedFrame
  | ReloadFrame
  | PongFrame
  | BatchFrame
  | SyncFrame;

/**
 * Every server frame type, in the order docs/protocol.md lists them. The client handles each
 * (a test checks this list against the protocol page and against what the client does).
 */
export const SERVER_FRAME_TYPES = [
  "ready",
  "ack",
  "error",
  "event",
  "batch",
  "typing",
  "presence",
  "read",
  "resumed",
  "reload",
  "sync",
  "pong",
] as const satisfies readonly ServerFrame["type"][];

// A frame type added to ServerFrame but not to the list above fails to compile here.
type Unlisted = Exclude<ServerFrame["type"], (typeof SERVER_FRAME_TYPES)[number]>;
const everyTypeListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyTypeListed;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** Parse one WebSocket message; `null` for anything that is not a well-formed server frame. */
export function parseServerFrame(text: unknown): ServerFrame | null {
  if (typeof text !== "string") return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return checkFrame(raw);
}

function checkFrame(raw: unknown): ServerFrame | null {
  if (!isObject(raw) || typeof raw.type !== "string") return null;
  switch (raw.type) {
    case "batch":
      if (!Array.isArray(raw.frames)) return null;
      return { type: "batch", frames: raw.frames.map(checkFrame).filter((f): f is ServerFrame => f !== null) };
    case "ready":
      return Array.isArray(raw.conversations) && isInt(raw.user_id) ? (raw as unknown as ReadyFrame) : null;
    case "ack":
      return isInt(raw.conversation_id) && isInt(raw.seq) && typeof raw.client_msg_id === "string"
        ? (raw as unknown as AckFrame)
        : null;
    case "error":
      return typeof raw.code === "string" ? (raw as unknown as ErrorFrame) : null;
    case "event":
      return typeof raw.event === "string" &&
        isInt(raw.conversation_id) &&
        (raw.seq === null || isInt(raw.seq)) &&
        isObject(raw.data)
        ? (raw as unknown as ConversationEvent)
        : null;
    case "typing":
    case "presence":
    case "read":
      return isInt(raw.user_id) ? (raw as unknown as ServerFrame) : null;
    case "resumed":
    case "reload":
      return isInt(raw.conversation_id) && isInt(raw.last_seq) ? (raw as unknown as ServerFrame) : null;
    case "sync":
      return Array.isArray(raw.conversations) && raw.conversations.every((c) => isObject(c) && isInt(c.id) && isInt(c.last_seq))
        ? (raw as unknown as SyncFrame)
        : null;
    case "pong":
      return raw as unknown as PongFrame;
    default:
      return null;
  }
}

/** WebSocket close codes (docs/protocol.md, Close codes). */
export const CloseCode = {
  NORMAL: 1000,
  RESTART: 1012,
  UNAUTHORIZED: 4001,
  IDLE: 4002,
  AUTH_TIMEOUT: 4003,
  SLOW_CONSUMER: 4008,
  /** Too many connections: wait `retry_after` (from the error frame before the close). */
  RATE_LIMITED: 4029,
  /** Client-side: no frame within the heartbeat deadline. */
  HEARTBEAT_TIMEOUT: 4900,
} as const;

/** Error codes after which the same `send` may succeed when retried with the same id. */
export const RETRYABLE_SEND_ERRORS = new Set(["unavailable", "internal", "rate_limited"]);
