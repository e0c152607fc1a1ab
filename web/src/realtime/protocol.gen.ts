// Generated from src/tipline/protocol.py by `tipline protocol-ts` (npm run gen:api).
// Do not edit: tests/gateway/test_protocol_module.py fails when this file and the module differ.

export const CLIENT_FRAME_TYPES = [
  "auth",
  "send",
  "typing",
  "presence",
  "read",
  "resume",
  "ping",
] as const;

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
] as const;

export const EVENT_NAMES = [
  "message.created",
  "message.edited",
  "message.deleted",
  "reaction.added",
  "reaction.removed",
  "member.joined",
  "member.left",
  "member.removed",
  "member.role_changed",
  "conversation.updated",
  "conversation.archived",
  "conversation.unarchived",
  "conversation.slow_mode",
  "tip.pending",
  "tip.confirmed",
  "tip.failed",
  "tip.expired",
  "message.pinned",
  "message.unpinned",
  "preview.added",
  "preview.removed",
  "conversation.joined",
  "report.created",
  "thread.updated",
] as const;

export const RETRYABLE_SEND_ERROR_CODES = [
  "unavailable",
  "internal",
  "rate_limited",
] as const;

export const CloseCode = {
  NORMAL: 1000,
  POLICY: 1008,
  TOO_BIG: 1009,
  RESTART: 1012,
  IDLE: 4002,
  UNAUTHORIZED: 4001,
  AUTH_TIMEOUT: 4003,
  SLOW_CONSUMER: 4008,
  RATE_LIMITED: 4029,
} as const;
