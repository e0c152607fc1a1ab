/**
 * The `tipline.v1` WebSocket frames (docs/protocol.md), typed. Server frames are parsed with
 * `parseServerFrame`, which checks the discriminator and the few fields the client relies on
 * before anything is applied.
 */
import type { components } from "../api/schema";
import { CloseCode as ServerCloseCode, RETRYABLE_SEND_ERROR_CODES, SERVER_FRAME_TYPES } from "./protocol.gen";

// Every frame type below is generated from the server's protocol module
// (src/tipline/protocol.py → /openapi.json → src/api/schema.d.ts: `npm run gen:api`);
// the constants in ./protocol.gen.ts come from the same module. Nothing here is written by hand
// but the names.
type S = components["schemas"];

export type Message = S["MessageOut"];
export type UserRef = S["UserRef"];
/** A tip as conversation events carry it (docs/protocol.md, Events). */
export type TipEventData = S["TipEventData"];
export type Role = S["MemberRoleData"]["role"];
export type PresenceStatus = S["PresenceFrameOut"]["status"];
export type ConversationData = S["ConversationData"];

// --- client frames -----------------------------------------------------------------------------

export type SendFrame = S["SendFrame"];
/** What this client sends (authentication goes in the subprotocol, so no `auth` frame). */
export type ClientFrame = Exclude<S["ClientFrame"], S["AuthFrame"]>;

// --- server frames -----------------------------------------------------------------------------

export type ReadyFrame = S["ReadyFrameOut"];
export type AckFrame = S["AckFrameOut"];
export type ErrorFrame = S["ErrorFrameOut"];
export type ConversationEvent =
  | S["MessageCreatedEvent"]
  | S["MessageEditedEvent"]
  | S["MessageDeletedEvent"]
  | S["ReactionEvent"]
  | S["MemberJoinedEvent"]
  | S["MemberGoneEvent"]
  | S["MemberRoleEvent"]
  | S["ConversationEvent"]
  | S["SlowModeEvent"]
  | S["TipEvent"]
  | S["PinEvent"]
  | S["PreviewEvent"]
  | S["ConversationJoinedEvent"]
  | S["ReportEvent"]
  | S["ThreadUpdatedEvent"];
/** A durable event: it has a seq and takes part in gap detection. */
export type DurableEvent = Exclude<ConversationEvent, { seq: null }>;
export type TypingSignal = S["TypingFrameOut"];
export type PresenceSignal = S["PresenceFrameOut"];
export type ReadSignal = S["ReadFrameOut"];
export type ResumedFrame = S["ResumedFrameOut"];
export type ReloadFrame = S["ReloadFrameOut"];
export type PongFrame = S["PongFrameOut"];
export type BatchFrame = S["BatchFrameOut"];
/** The node's bus lost messages and is back: where each subscribed conversation stands now. */
export type SyncFrame = S["SyncFrameOut"];
export type ServerFrame = S["ServerFrame"];

export { CLIENT_FRAME_TYPES, CloseCode as ServerCloseCode, EVENT_NAMES, RETRYABLE_SEND_ERROR_CODES, SERVER_FRAME_TYPES } from "./protocol.gen";

// A frame type added to ServerFrame but not to the protocol's list fails to compile here.
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
      return {
        type: "batch",
        frames: raw.frames.map(checkFrame).filter((f): f is BatchFrame["frames"][number] => f !== null && f.type !== "batch"),
      };
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

/** WebSocket close codes (docs/protocol.md, Close codes), and the client's own. */
export const CloseCode = {
  ...ServerCloseCode,
  /** Client-side: no frame within the heartbeat deadline. */
  HEARTBEAT_TIMEOUT: 4900,
} as const;

/** Error codes after which the same `send` may succeed when retried with the same id. */
export const RETRYABLE_SEND_ERRORS: ReadonlySet<string> = new Set(RETRYABLE_SEND_ERROR_CODES);
