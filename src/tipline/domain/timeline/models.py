"""Timeline tables: earlier versions of edited messages, pinned messages, and who sends no read
receipts (docs/subsystems/messages.md and conversations.md)."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)

from tipline.storage.meta import metadata

# One row per edit: the body the message had before it. Written in the edit's transaction;
# the rows go with the message (deleting a message deletes its revisions).
message_revisions = Table(
    "message_revisions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),
    # When this version was written (the message's creation, or the edit before this one).
    Column("written_at", DateTime(timezone=True), nullable=False),
    # When the edit that replaced it was made.
    Column("replaced_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_message_revisions_message_id", "message_id", "id"),
)

pins = Table(
    "pins",
    metadata,
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("pinned_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("pinned_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("conversation_id", "message_id"),
    Index("ix_pins_message_id", "message_id"),
)

# People who chose not to send read receipts: their read positions are shown to no one else.
read_receipts_off = Table(
    "read_receipts_off",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
