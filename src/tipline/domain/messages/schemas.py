"""Request and response shapes for messages, reactions, history and replay."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import RowMapping

from tipline.domain.media.schemas import AttachmentOut
from tipline.domain.previews.schemas import PreviewOut
from tipline.domain.text import check_storable
from tipline.domain.tips.schemas import TotalOut

ClientMsgId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")]
# The schema accepts long bodies so that the action can answer the precise
# ``body_too_long`` error (with the limit) rather than a generic validation failure.
Body = Annotated[str, Field(max_length=100_000), AfterValidator(check_storable)]
# No whitespace, control characters or U+FFFD (what undecodable bytes in a URL turn into).
Emoji = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[^\s\x00-\x1f\ufffd]+$"),
    AfterValidator(check_storable),
]
MessageId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# The count is checked against MEDIA_MAX_ATTACHMENTS by the action, with a precise error.
AttachmentIds = Annotated[list[uuid.UUID], Field(max_length=100)]
Seq = Annotated[int, Field(ge=0, le=2**63 - 1)]

MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,32})\b")


def mentioned_handles(body: str) -> set[str]:
    return {m.lower() for m in MENTION_RE.findall(body)}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    # A field left out of the published schema's defaults: optional in the generated clients.
    schema.pop("default", None)


class SendIn(Strict):
    client_msg_id: ClientMsgId
    body: Body
    reply_to: MessageId | None = None
    attachment_ids: AttachmentIds = Field(
        default_factory=list, description="Completed uploads of mine for this conversation (POST /media/uploads)."
    )
    thread_only: bool = Field(
        False,
        json_schema_extra=_no_default,
        description="With reply_to: a reply in that message's thread only, left out of the conversation's "
        "timeline (false: the reply also shows in the conversation).",
    )


class EditIn(Strict):
    body: Body


class ReadIn(Strict):
    seq: Seq


class ReactionOut(BaseModel):
    emoji: str
    count: int
    user_ids: list[int]


class ThreadSummaryOut(BaseModel):
    """What a thread root carries about its replies (docs/subsystems/messages.md, Threads)."""

    reply_count: int
    last_reply_at: datetime
    last_reply_seq: int
    # The last (up to 3) distinct people who replied, the latest first.
    last_repliers: list[int]


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    seq: int
    sender_id: int | None
    client_msg_id: str
    body: str
    reply_to_id: int | None
    mention_ids: list[int]
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    reactions: list[ReactionOut] = []
    reply_count: int = 0
    tips: list[TotalOut] = []
    attachments: list[AttachmentOut] = []
    # Link previews attached after the send (docs/subsystems/previews.md); [] in message.created.
    # Optional in the published schema: clients written before previews build messages without it.
    previews: list[PreviewOut] = Field(default_factory=list, json_schema_extra=_no_default)
    # From someone the reader blocked: kept in place (its seq, its thread) with no words.
    hidden: bool = False
    # A reply shown in its thread only (not in the conversation's timeline). Optional in the
    # published schema (no default there): clients written before threads build messages without it.
    thread_only: bool = Field(False, json_schema_extra=_no_default)
    # A thread root's summary (null: no replies); history, thread pages and single reads fill it in.
    thread: ThreadSummaryOut | None = None


class SystemLineOut(BaseModel):
    """A membership or conversation change shown as a line of its own between messages: the
    logged event as its live frame carries it (docs/subsystems/conversations.md, System lines)."""

    seq: int
    event: str
    data: dict[str, Any]


class HistoryPage(BaseModel):
    messages: list[MessageOut]
    has_more: bool
    # The system lines whose seqs fall in the span this page covers, ascending.
    system_lines: list[SystemLineOut] = []


@dataclass(frozen=True)
class Page:
    """A history page as the action finds it, in seq order: messages in ``message_dict`` shape,
    or already encoded as their JSON object (entries of the recent-message cache)."""

    messages: Sequence[dict[str, Any] | bytes]
    has_more: bool
    system_lines: Sequence[Mapping[Any, Any]] = ()


# HistoryPage's message fields, reply_count last: the cache keeps each entry's JSON without it
# (reply counts change apart from the entry) and appends it when it reads the entry.
MESSAGE_FIELDS = (*(f for f in MessageOut.model_fields if f != "reply_count"), "reply_count")


def page_json(page: Page) -> bytes:
    """``HistoryPage`` as JSON, encoded straight from what the action holds.

    The dicts are already what clients get (the cache's entries and the database's rows both
    come from ``message_dict``, the shape message events carry) and the cache's entries are
    already JSON: building and validating a model per message was most of the CPU of a page
    served from the cache. Dicts are encoded with MESSAGE_FIELDS in order, the order of the
    cache's entries, so a page is the same bytes from the cache and from PostgreSQL."""
    parts = [m if isinstance(m, bytes) else orjson.dumps({k: m[k] for k in MESSAGE_FIELDS}) for m in page.messages]
    tail = b'],"has_more":true' if page.has_more else b'],"has_more":false'
    lines = orjson.dumps([{"seq": e["seq"], "event": e["event"], "data": e["data"]} for e in page.system_lines])
    return b'{"messages":[' + b",".join(parts) + tail + b',"system_lines":' + lines + b"}"


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One send, as both transports hand it to the pipeline and as a forward carries it.

    ``session_id`` is the sender's session (checked in the commit's transaction, so a send on a
    session revoked before it commits is refused). ``after`` is the ``client_msg_id`` of the same
    sender's previous send in this conversation that was not yet answered when this one was
    submitted on this node: a node committing this send somewhere else first checks that one is
    stored, so a send can never be stored before an earlier one (docs/subsystems/messages.md).
    """

    user_id: int
    conversation_id: int
    client_msg_id: str
    body: str
    reply_to: int | None = None
    attachment_ids: tuple[uuid.UUID, ...] = ()
    session_id: uuid.UUID | None = None
    after: str | None = None
    thread_only: bool = False

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.conversation_id, self.user_id, self.client_msg_id)

    def to_wire(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "client_msg_id": self.client_msg_id,
            "body": self.body,
            "reply_to": self.reply_to,
            "attachment_ids": [str(a) for a in self.attachment_ids],
            "session_id": None if self.session_id is None else str(self.session_id),
            "after": self.after,
            "thread_only": self.thread_only,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SendRequest:
        sid = data.get("session_id")
        return cls(
            user_id=int(data["user_id"]),
            conversation_id=int(data["conversation_id"]),
            client_msg_id=str(data["client_msg_id"]),
            body=str(data["body"]),
            reply_to=data.get("reply_to"),
            attachment_ids=tuple(uuid.UUID(a) for a in data.get("attachment_ids") or ()),
            session_id=None if sid is None else uuid.UUID(sid),
            after=data.get("after"),
            thread_only=bool(data.get("thread_only", False)),
        )


class Ack(BaseModel):
    """What a sender gets back once its message has committed."""

    conversation_id: int
    client_msg_id: str
    message_id: int
    seq: int
    created_at: datetime
    duplicate: bool = False


class ReplayOut(BaseModel):
    """Events after ``since``; or ``reload`` when further behind than the replay limit."""

    conversation_id: int
    last_seq: int
    reload: bool
    events: list[dict[str, Any]]


def message_dict(
    row: RowMapping,
    *,
    reactions: list[dict[str, Any]] | None = None,
    reply_count: int = 0,
    attachments: list[dict[str, Any]] | None = None,
    hidden: bool = False,
    previews: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A message as clients see it; a deleted message is a tombstone with no body, and so is,
    for its reader, a message from someone they blocked (``masked``)."""
    deleted = row["deleted_at"] is not None
    out = {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "seq": row["seq"],
        "sender_id": row["sender_id"],
        "client_msg_id": row["client_msg_id"],
        "body": "" if deleted else row["body"],
        "reply_to_id": row["reply_to_id"],
        "mention_ids": [] if deleted else list(row["mention_ids"]),
        "created_at": row["created_at"],
        "edited_at": row["edited_at"],
        "deleted": deleted,
        "reactions": [] if deleted else (reactions or []),
        "reply_count": reply_count,
        "tips": [],  # confirmed tip totals, filled in where messages are read (actions._decorate)
        "attachments": [] if deleted else (attachments or []),
        "previews": [] if deleted else (previews or []),
        # Always present, so every copy of a message (the cache's, the database's, an event's) is
        # the same shape.
        "hidden": False,
        "thread_only": bool(row.get("thread_only", False)),
        "thread": None,  # a root's summary changes apart from the message: filled in where read
    }
    return masked(out) if hidden else out


# What a reader who blocked a sender does not get of theirs: each field keeps its place, empty.
WORDS = ("body", "mention_ids", "reactions", "attachments", "previews")


def masked(data: Mapping[str, Any]) -> dict[str, Any]:
    """The one masking rule: a message, or a message event's data, as a reader who blocked its
    sender sees it: the same id and seq (nothing looks missing), none of the sender's words,
    mentions, reactions or files, and ``hidden: true``. History, replay, the cache's pages and
    the hub's live deliveries all use it (docs/subsystems/moderation.md)."""
    out = dict(data)
    for key in WORDS:
        if key in out:
            out[key] = "" if key == "body" else []
    out["hidden"] = True
    return out
