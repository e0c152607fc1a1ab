"""Conversation tables: conversations (DMs, groups, channels) and their members."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from tipline.storage.meta import metadata

conversations = Table(
    "conversations",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("topic", Text, nullable=False, server_default=""),
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("archived_at", DateTime(timezone=True), nullable=True),
    # The conversation's event counter. Every durable event (a message, an edit, a reaction,
    # a membership change) takes the next value inside its own transaction, so committed
    # seqs are gap-free; this row's lock also serializes writers of one conversation.
    Column("last_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("last_message_at", DateTime(timezone=True), nullable=True),
    # "min:max" of the two user ids for a DM: the unique index makes one DM per pair.
    Column("direct_key", Text, nullable=True, unique=True),
    # Slow mode: a member may send one message per this many seconds (0: off). Owners and
    # admins are exempt (docs/subsystems/moderation.md).
    Column("slow_mode_s", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("kind IN ('direct','group','public','private')", name="kind"),
    Index("ix_conversations_public", "kind", postgresql_where=text("kind = 'public'")),
)

members = Table(
    "members",
    metadata,
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", Text, nullable=False, server_default="member"),
    Column("joined_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("joined_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("last_read_seq", BigInteger, nullable=False, server_default=text("0")),
    # When the member last sent here; written only in slow-mode conversations, where it is read.
    Column("last_sent_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("conversation_id", "user_id"),
    CheckConstraint("role IN ('owner','admin','member')", name="role"),
    Index("ix_members_user_id", "user_id"),
)

# Every durable event that is not a new message (edit, delete, reaction, membership and
# conversation changes) takes a seq and lands here, so a resume can replay exactly what a
# client missed. A seq is either a message's or one of these rows', never both.
conversation_events = Table(
    "conversation_events",
    metadata,
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("conversation_id", "seq"),
)
