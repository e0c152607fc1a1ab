"""Thread tables: each thread root's summary, and who follows a thread with their read position
(docs/subsystems/messages.md, Threads). A thread is the replies to one message (``reply_to_id``)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from tipline.storage.meta import metadata

# Written by the send's group commit, in the transaction that stores the replies (one statement
# per batch for all its roots), so the summary is never behind a committed reply.
threads = Table(
    "threads",
    metadata,
    Column("root_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("reply_count", Integer, nullable=False, server_default="0"),
    Column("last_reply_at", DateTime(timezone=True), nullable=False),
    Column("last_reply_seq", BigInteger, nullable=False),
    # The last (up to 3) distinct people who replied, the latest first.
    Column("last_repliers", ARRAY(BigInteger), nullable=False, server_default="{}"),
)

# One row per person who follows a thread (posted in it, was mentioned in it, wrote its root, or
# pressed Follow) or read it: ``following`` false keeps the read position of someone who left it.
thread_follows = Table(
    "thread_follows",
    metadata,
    Column("root_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("following", Boolean, nullable=False, server_default=text("true")),
    # The seq of the last reply this person has read (-1: none; their own replies count as read).
    Column("last_read_seq", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("root_id", "user_id"),
    Index("ix_thread_follows_user_id", "user_id", postgresql_where=text("following")),
)
