"""The WebSocket protocol (docs/protocol.md) in one place: every client and server frame, the
event names and their data, the close codes, the error frame and the retryable error codes.

Client frames are validated with pydantic; an invalid one gets an ``error`` frame and the
socket stays open. Server frames are built as plain dicts (TypedDicts below, for the reader
and the type checker) and encoded once with orjson: the fan-out path never re-validates.
The OpenAPI document publishes both directions' schemas (``frame_schemas``), the web
client's frame types are generated from it (`cd web && npm run gen:api`), and its constants
from ``web_constants_ts`` (web/src/realtime/protocol.gen.ts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, get_args, get_type_hints

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, WithJsonSchema
from pydantic.json_schema import JsonSchemaMode
from typing_extensions import TypedDict

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
    # With reply_to: a reply in that message's thread only, not in the conversation's timeline.
    thread_only: bool = False


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
# In the order docs/protocol.md lists them.
CLIENT_FRAME_TYPES = ("auth", "send", "typing", "presence", "read", "resume", "ping")
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
#
# TypedDicts: the server builds plain dicts (encoded once, never re-validated on the fan-out
# path), the type checker checks the builders, and the same types give the JSON Schema that the
# OpenAPI document publishes (``frame_schemas``) and the web client's types are generated
# from. The test suite validates every frame its sockets receive against ``SERVER_FRAME``.


class _Out(TypedDict):
    """A server frame or part of one (SERVER_FRAME refuses keys not declared)."""


# A shape the HTTP API already documents (the OpenAPI component of that name), checked loosely
# here. The marker becomes a $ref in frame_schemas: pydantic resolves every $ref against
# its own definitions, which do not hold the HTTP API's models.
COMPONENT = "x-tipline-component"
MessageOutRef = Annotated[dict[str, Any], WithJsonSchema({COMPONENT: "MessageOut"})]
TotalOutRef = Annotated[dict[str, Any], WithJsonSchema({COMPONENT: "TotalOut"})]
PreviewOutRef = Annotated[dict[str, Any], WithJsonSchema({COMPONENT: "PreviewOut"})]
Role = Literal["owner", "admin", "member"]
Kind = Literal["direct", "group", "public", "private"]


class ConversationPosition(_Out):
    id: int
    last_seq: int


class ReadyFrameOut(_Out):
    type: Literal["ready"]
    protocol: str
    user_id: int
    session_id: str
    heartbeat_s: float
    idle_timeout_s: float
    away_after_s: float
    conversations: list[ConversationPosition]


class AckFrameOut(_Out):
    type: Literal["ack"]
    ref: str | None
    conversation_id: int
    client_msg_id: str
    message_id: int
    seq: int
    created_at: str
    duplicate: bool


class ErrorFrameOut(_Out):
    type: Literal["error"]
    code: str
    message: str
    ref: str | None
    client_msg_id: NotRequired[str]
    conversation_id: NotRequired[int]
    retry_after: NotRequired[float]


class UserRef(_Out):
    id: int
    handle: str
    display_name: str
    # True for a bot account; absent in events stored before bots existed (read as false).
    is_bot: NotRequired[bool]


class MessageEditedData(_Out):
    id: int
    sender_id: NotRequired[int]
    body: str
    edited_at: str
    mention_ids: list[int]
    hidden: NotRequired[bool]


class MessageDeletedData(_Out):
    id: int
    deleted_at: str
    by: int


class ReactionData(_Out):
    message_id: int
    emoji: str
    user_id: int
    count: int


class MemberJoinedData(_Out):
    user: UserRef
    role: Role
    by: int


class MemberGoneData(_Out):
    user_id: int
    by: int
    # Who left or was removed; absent in events stored before it was added.
    user: NotRequired[UserRef]


class MemberRoleData(_Out):
    user_id: int
    role: Role
    by: int


class ConversationData(_Out):
    id: int
    kind: Kind
    name: str
    topic: str
    archived: bool
    by: int
    # conversation.updated: the fields that changed ("name", "topic", "kind"); absent on the
    # other events and in events stored before it was added.
    changed: NotRequired[list[Literal["name", "topic", "kind"]]]


class PinData(_Out):
    message_id: int
    by: int
    # message.pinned only.
    pinned_at: NotRequired[str]


class ConversationJoinedData(_Out):
    id: int
    kind: Kind
    name: str
    topic: str
    archived: bool
    last_seq: int
    role: Role


class SlowModeData(_Out):
    slow_mode_s: int
    by: int


class ReportData(_Out):
    report_id: int
    message_id: int
    reason: str


class TipEventData(_Out):
    """A tip as conversation events carry it (docs/subsystems/tipping.md)."""

    intent_id: str
    conversation_id: int
    message_id: int | None
    tipper_id: int | None  # None once that person deleted their account
    recipient_id: int | None
    recipient_address: str
    chain_id: int
    contract: str
    token: str
    symbol: str
    decimals: int
    amount: str
    amount_display: str
    state: str
    reason: str | None
    tx_hash: str | None
    created_at: str
    expires_at: str
    confirmed_at: str | None
    # Confirmed totals per token on the tipped message, after this change.
    message_totals: NotRequired[list[TotalOutRef]]


class ThreadUpdatedData(_Out):
    """A thread root's new summary (docs/subsystems/messages.md, Threads)."""

    root_id: int
    reply_count: int
    last_reply_at: str
    last_reply_seq: int
    last_repliers: list[int]


class PreviewData(_Out):
    """A message's link previews after a change (docs/subsystems/previews.md)."""

    message_id: int
    sender_id: int | None
    # The message's previews now, in the order of its links: a client replaces its list.
    previews: list[PreviewOutRef]
    # preview.removed only: the preview removed, and who removed it.
    preview_id: NotRequired[int]
    by: NotRequired[int]
    # For a reader who blocked the sender: previews is [] (schemas.masked).
    hidden: NotRequired[bool]


class _Event(_Out):
    type: Literal["event"]
    conversation_id: int


class MessageCreatedEvent(_Event):
    event: Literal["message.created"]
    seq: int
    data: MessageOutRef


class MessageEditedEvent(_Event):
    event: Literal["message.edited"]
    seq: int
    data: MessageEditedData


class MessageDeletedEvent(_Event):
    event: Literal["message.deleted"]
    seq: int
    data: MessageDeletedData


class ReactionEvent(_Event):
    event: Literal["reaction.added", "reaction.removed"]
    seq: int
    data: ReactionData


class MemberJoinedEvent(_Event):
    event: Literal["member.joined"]
    seq: int
    data: MemberJoinedData


class MemberGoneEvent(_Event):
    event: Literal["member.left", "member.removed"]
    seq: int
    data: MemberGoneData


class MemberRoleEvent(_Event):
    event: Literal["member.role_changed"]
    seq: int
    data: MemberRoleData


class ConversationEvent(_Event):
    event: Literal["conversation.updated", "conversation.archived", "conversation.unarchived"]
    seq: int
    data: ConversationData


class SlowModeEvent(_Event):
    event: Literal["conversation.slow_mode"]
    seq: int
    data: SlowModeData


class TipEvent(_Event):
    event: Literal["tip.pending", "tip.confirmed", "tip.failed", "tip.expired"]
    seq: int
    data: TipEventData


class PinEvent(_Event):
    event: Literal["message.pinned", "message.unpinned"]
    seq: int
    data: PinData


class PreviewEvent(_Event):
    event: Literal["preview.added", "preview.removed"]
    seq: int
    data: PreviewData


class ConversationJoinedEvent(_Event):
    event: Literal["conversation.joined"]
    seq: None
    data: ConversationJoinedData


class ReportEvent(_Event):
    event: Literal["report.created"]
    seq: None
    data: ReportData


class ThreadUpdatedEvent(_Event):
    event: Literal["thread.updated"]
    seq: None
    data: ThreadUpdatedData


EventFrameOut = Annotated[
    MessageCreatedEvent
    | MessageEditedEvent
    | MessageDeletedEvent
    | ReactionEvent
    | MemberJoinedEvent
    | MemberGoneEvent
    | MemberRoleEvent
    | ConversationEvent
    | SlowModeEvent
    | TipEvent
    | PinEvent
    | PreviewEvent
    | ConversationJoinedEvent
    | ReportEvent
    | ThreadUpdatedEvent,
    Field(discriminator="event"),
]


class TypingFrameOut(_Out):
    type: Literal["typing"]
    conversation_id: int
    user_id: int


class PresenceFrameOut(_Out):
    type: Literal["presence"]
    user_id: int
    status: Literal["online", "away", "offline"]


class ReadFrameOut(_Out):
    type: Literal["read"]
    conversation_id: int
    user_id: int
    seq: int


class ResumedFrameOut(_Out):
    type: Literal["resumed"]
    conversation_id: int
    last_seq: int
    ref: str | None


class ReloadFrameOut(_Out):
    type: Literal["reload"]
    conversation_id: int
    last_seq: int
    ref: str | None


class SyncFrameOut(_Out):
    type: Literal["sync"]
    conversations: list[ConversationPosition]


class PongFrameOut(_Out):
    type: Literal["pong"]
    ref: str | None


# Every frame but a batch (batches are never nested).
SingleFrameOut = Annotated[
    ReadyFrameOut
    | AckFrameOut
    | ErrorFrameOut
    | EventFrameOut
    | TypingFrameOut
    | PresenceFrameOut
    | ReadFrameOut
    | ResumedFrameOut
    | ReloadFrameOut
    | SyncFrameOut
    | PongFrameOut,
    Field(discriminator="type"),
]


class BatchFrameOut(_Out):
    type: Literal["batch"]
    frames: list[SingleFrameOut]


ServerFrameOut = Annotated[SingleFrameOut | BatchFrameOut, Field(discriminator="type")]
SERVER_FRAME: TypeAdapter[ServerFrameOut] = TypeAdapter(ServerFrameOut, config=ConfigDict(extra="forbid"))
CLIENT_FRAME = _adapter
# In the order docs/protocol.md lists them.
SERVER_FRAME_TYPES = (
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
)
EVENT_NAMES = tuple(
    name
    for model in (
        MessageCreatedEvent,
        MessageEditedEvent,
        MessageDeletedEvent,
        ReactionEvent,
        MemberJoinedEvent,
        MemberGoneEvent,
        MemberRoleEvent,
        ConversationEvent,
        SlowModeEvent,
        TipEvent,
        PinEvent,
        PreviewEvent,
        ConversationJoinedEvent,
        ReportEvent,
        ThreadUpdatedEvent,
    )
    for name in get_args(get_type_hints(model)["event"])
)
# Error codes after which the same ``send`` may succeed when retried with the same client_msg_id.
RETRYABLE_SEND_ERRORS = ("unavailable", "internal", "rate_limited")


def frame_schemas() -> dict[str, Any]:
    """JSON Schemas of both directions' frames, as OpenAPI components (``ClientFrame``,
    ``ServerFrame`` and every frame they name), for the document /openapi.json serves."""
    template = "#/components/schemas/{model}"
    schemas: dict[str, Any] = {}
    # What the server accepts from clients, and what it sends them.
    both: tuple[tuple[str, TypeAdapter[Any], JsonSchemaMode], ...] = (
        ("ClientFrame", CLIENT_FRAME, "validation"),
        ("ServerFrame", SERVER_FRAME, "serialization"),
    )
    for name, adapter, mode in both:
        schema = adapter.json_schema(ref_template=template, mode=mode)
        defs = schema.pop("$defs", {})
        if mode == "validation":
            # A field the client may leave out: optional, not "present with its default" (how
            # generators read `default`).
            for model in defs.values():
                for prop in model.get("properties", {}).values():
                    prop.pop("default", None)
        schemas.update(defs)
        schemas[name] = schema
    return {name: _components(schema) for name, schema in schemas.items()}


def _components(node: Any) -> Any:
    if isinstance(node, dict):
        if COMPONENT in node:
            return {"$ref": f"#/components/schemas/{node[COMPONENT]}"}
        # Each frame's `type` (and each event's `event`) is a const already; pydantic's mapping for
        # the nested event union is an inline schema, which OpenAPI does not allow.
        return {k: _components(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_components(v) for v in node]
    return node


def encode_bytes(frame: Mapping[str, Any]) -> bytes:
    """A server frame as the UTF-8 bytes the hub queues and writes."""
    return orjson.dumps(frame)


def encode(frame: Mapping[str, Any]) -> str:
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


def web_constants_ts() -> str:
    """web/src/realtime/protocol.gen.ts: the protocol's constants for the web client
    (its frame types come from the OpenAPI document). `tipline protocol-ts` prints it."""

    def items(values: tuple[str, ...]) -> str:
        return "".join(f"  {orjson.dumps(v).decode()},\n" for v in values)

    codes = {name: value for name, value in vars(Close).items() if isinstance(value, int)}
    close = "".join(f"  {name}: {value},\n" for name, value in codes.items())
    return (
        "// Generated from src/tipline/protocol.py by `tipline protocol-ts` (npm run gen:api).\n"
        "// Do not edit: tests/gateway/test_protocol_module.py fails when this file and the module differ.\n\n"
        f"export const CLIENT_FRAME_TYPES = [\n{items(CLIENT_FRAME_TYPES)}] as const;\n\n"
        f"export const SERVER_FRAME_TYPES = [\n{items(SERVER_FRAME_TYPES)}] as const;\n\n"
        f"export const EVENT_NAMES = [\n{items(EVENT_NAMES)}] as const;\n\n"
        f"export const RETRYABLE_SEND_ERROR_CODES = [\n{items(RETRYABLE_SEND_ERRORS)}] as const;\n\n"
        f"export const CloseCode = {{\n{close}}} as const;\n"
    )
