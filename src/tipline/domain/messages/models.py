"""Message tables: messages and reactions (the log of other conversation events is in conversations)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from tipline.storage.meta import metadata

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sender_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    # Client-chosen id that makes a retried send idempotent (docs/subsystems/messages.md).
    Column("client_msg_id", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("reply_to_id", BigInteger, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    # A reply shown in its thread only, not in the conversation's timeline (docs/subsystems/messages.md, Threads).
    Column("thread_only", Boolean, nullable=False, server_default=text("false")),
    Column("mention_ids", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("edited_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # Maintained by PostgreSQL itself (docs/subsystems/search.md); never written by Tipline.
    Column("search_tsv", TSVECTOR, Computed("to_tsvector('english', body)", persisted=True)),
    UniqueConstraint("conversation_id", "seq"),
    UniqueConstraint("conversation_id", "sender_id", "client_msg_id"),
    Index("ix_messages_reply_to_id", "reply_to_id"),
    Index("ix_messages_search_tsv", "search_tsv", postgresql_using="gin"),
)

reactions = Table(
    "reactions",
    metadata,
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("emoji", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("message_id", "user_id", "emoji"),
)
