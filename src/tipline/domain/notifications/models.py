"""Notification tables: per-conversation levels, per-user settings, Web Push subscriptions, the
push outbox, the email digest's pending items and the worker's cursor over new messages.
See docs/subsystems/notifications.md."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from tipline.storage.meta import metadata

LEVELS = ("all", "mentions", "mute")

# One row per member who changed the default ("all"); it goes when the membership goes.
notify_levels = Table(
    "notify_levels",
    metadata,
    Column("conversation_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("level", Text, nullable=False),
    PrimaryKeyConstraint("conversation_id", "user_id"),
    ForeignKeyConstraint(
        ["conversation_id", "user_id"], ["members.conversation_id", "members.user_id"], ondelete="CASCADE"
    ),
    CheckConstraint("level IN ('all','mentions','mute')", name="level"),
)

notify_settings = Table(
    "notify_settings",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("email_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("endpoint", Text, nullable=False, unique=True),
    Column("p256dh", Text, nullable=False),
    Column("auth", Text, nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_push_at", DateTime(timezone=True), nullable=True),
    Index("ix_push_subscriptions_user_id", "user_id"),
)

# Like the mail outbox: leased with SKIP LOCKED, retried with backoff; a row whose subscription
# the push service says is gone (404/410) goes with the subscription.
push_outbox = Table(
    "push_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("subscription_id", BigInteger, ForeignKey("push_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("subscription_id", "message_id"),
    Index(
        "ix_push_outbox_due",
        "next_attempt_at",
        postgresql_where=text("sent_at IS NULL AND next_attempt_at IS NOT NULL"),
    ),
)

# A DM or mention that may be mailed once due_at passes, if still unread then.
notify_email_pending = Table(
    "notify_email_pending",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("user_id", "message_id"),
    Index("ix_notify_email_pending_due", "due_at"),
)

# The worker's position in the messages table: one row, locked by the node scanning.
notify_cursor = Table(
    "notify_cursor",
    metadata,
    Column("name", Text, primary_key=True),
    Column("last_message_id", BigInteger, nullable=False, server_default=text("0")),
    # Messages above last_message_id already handled: the cursor trails the newest message by a few
    # seconds (a lower id may still commit), and these are not handled twice meanwhile.
    Column("recent_ids", ARRAY(BigInteger), nullable=False, server_default="{}"),
)
