"""The WebSocket protocol's frames (docs/protocol.md): a discriminated union on ``type``.

Client frames are validated with pydantic; an invalid one gets an ``error`` frame and the
socket stays open. Server frames are built as plain dicts (TypedDicts below, for the reader
and the type checker) and encoded once with orjson: the fan-out path never re-validates.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tipline.domain.messages.schemas import AttachmentIds, Body, ClientMsgId, MessageId, Seq

PROTOCOL = "tipline.v1"
AUTH_PREFIX = "tipline.auth."
ConversationId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Ref = Annotated[str, Field(max_length=64)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: Ref | None = None  # echoed in the error or reply frame this frame causes


class AuthFrame(_Frame):
    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class SendFrame(_Frame):
    type: Literal["send"]
    conversation_id: ConversationId
    client_msg_id: ClientMsgId
    body: Body
    reply_to: MessageId | None = None
    attachment_ids: AttachmentIds = Field(default_factory=list)


class TypingFrame(_Frame):
    type: Literal["typing"]
    conversation_id: ConversationId


class PresenceFrame(_Frame):
    type: Literal["presence"]
    status: Literal["online", "away"]


class ReadFrame(_Frame):
    type: Literal["read"]
    conversation_id: ConversationId
    seq: Seq


class ResumeFrame(_Frame):
    type: Literal["resume"]
    # conversation id -> the last seq the client has; JSON object keys are strings.
    since: Annotated[dict[ConversationId, Seq], Field(max_length=1000)]


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    AuthFrame | SendFrame | TypingFrame | PresenceFrame | ReadFrame | ResumeFrame | PingFrame,
    Field(discriminator="type"),
]
CLIENT_FRAME_TYPES = frozenset({"auth", "send", "typing", "presence", "read", "resume", "ping"})
_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class FrameError(Exception):
    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def parse_client_frame(text: str) -> ClientFrame:
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError("invalid_json", "the frame is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise FrameError("invalid_frame", "a frame is a JSON object with a `type`")
    ref = raw.get("ref") if isinstance(raw.get("ref"), str) else None
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_FRAME_TYPES:
        raise FrameError("unknown_frame_type", f"unknown frame type: {str(kind)[:40]!r}", ref)
    try:
        return _adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        raise FrameError("invalid_frame", f"{where}: {first['msg']}", ref) from exc


# --- server frames ----------------------------------------------------------------------------


class ReadyFrameOut(TypedDict):
    type: Literal["ready"]
    protocol: str
    user_id: int
    session_id: str
    heartbeat_s: float
    idle_timeout_s: float
    away_after_s: float
    conversations: list[dict[str, int]]


class ErrorFrameOut(TypedDict, total=False):
    type: Literal["error"]
    code: str
    message: str
    ref: str | None
    conversation_id: int
    retry_after: float


def encode_bytes(frame: dict[str, Any] | ReadyFrameOut | ErrorFrameOut) -> bytes:
    """A server frame as the UTF-8 bytes the hub queues and writes."""
    return orjson.dumps(frame)


def encode(frame: dict[str, Any] | ReadyFrameOut | ErrorFrameOut) -> str:
    return encode_bytes(frame).decode()


def error_frame(code: str, message: str, ref: str | None = None, **extra: Any) -> str:
    return encode({"type": "error", "code": code, "message": message, "ref": ref, **extra})


class Close:
    """Close codes (docs/protocol.md)."""

    NORMAL = 1000
    POLICY = 1008
    TOO_BIG = 1009
    RESTART = 1012
    IDLE = 4002
    UNAUTHORIZED = 4001
    AUTH_TIMEOUT = 4003
    SLOW_CONSUMER = 4008
    RATE_LIMITED = 4029
