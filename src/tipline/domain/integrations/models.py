"""Integration tables: incoming webhooks, outgoing webhooks (and their delivery outbox), slash commands.

Each integration posts as a bot of its own (a ``users`` row with ``is_bot``, owned by the person
who created it), so its messages carry an author, a BOT badge and the delivery contract of any
send. See docs/subsystems/integrations.md.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from tipline.storage.meta import metadata

# The secret is 256 random bits: its SHA-256 is kept, never the secret (shown once, rotatable).
incoming_webhooks = Table(
    "incoming_webhooks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("bot_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("name", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False, unique=True),
    Column("allow_overrides", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Index("ix_incoming_webhooks_conversation_id", "conversation_id"),
)

# The signing secret is kept as is: Tipline must compute the HMAC with it on every delivery.
outgoing_webhooks = Table(
    "outgoing_webhooks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("bot_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    # Empty: every message (but a bot's); else a message whose first word is one of these.
    Column("trigger_words", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # The conversation seq up to which messages have been looked at (scanned into deliveries).
    Column("cursor_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("failure_count", Integer, nullable=False, server_default=text("0")),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_outgoing_webhooks_conversation_id", "conversation_id"),
)

# The outbox of outgoing-webhook deliveries: written in the transaction that advances the hook's
# cursor, sent at least once by a worker on any node (leased with FOR UPDATE SKIP LOCKED).
# delivered_at set: done; next_attempt_at NULL without delivered_at: given up.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("hook_id", BigInteger, ForeignKey("outgoing_webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("delivered_at IS NULL AND next_attempt_at IS NOT NULL"),
    ),
)

slash_commands = Table(
    "slash_commands",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("usage_hint", Text, nullable=False, server_default=""),
    Column("bot_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("secret", Text, nullable=False),
    Column("failure_count", Integer, nullable=False, server_default=text("0")),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
