"""notifications: per-conversation levels, email settings, Web Push subscriptions and outbox,
the email digest's pending items, the worker's cursor, and headers on outbox mail

Revision ID: 0020
Revises: 0019

The cursor starts at the newest message, so an existing server does not notify its history
(docs/subsystems/notifications.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "notify_levels",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name="pk_notify_levels"),
        sa.ForeignKeyConstraint(
            ["conversation_id", "user_id"],
            ["members.conversation_id", "members.user_id"],
            ondelete="CASCADE",
            name="fk_notify_levels_conversation_id_members",
        ),
        sa.CheckConstraint("level IN ('all','mentions','mute')", name="ck_notify_levels_level"),
    )
    op.create_table(
        "notify_settings",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("user_id", name="pk_notify_settings"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE", name="fk_notify_settings_user_id_users"),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.Text(), nullable=False),
        sa.Column("auth", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_push_subscriptions"),
        sa.UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_push_subscriptions_user_id_users"
        ),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    op.create_table(
        "push_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True, server_default=_now()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_push_outbox"),
        sa.UniqueConstraint("subscription_id", "message_id", name="uq_push_outbox_subscription_id_message_id"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            ondelete="CASCADE",
            name="fk_push_outbox_subscription_id_push_subscriptions",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], ondelete="CASCADE", name="fk_push_outbox_message_id_messages"
        ),
    )
    op.create_index(
        "ix_push_outbox_due",
        "push_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("sent_at IS NULL AND next_attempt_at IS NOT NULL"),
    )
    op.create_table(
        "notify_email_pending",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "message_id", name="pk_notify_email_pending"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_notify_email_pending_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], ondelete="CASCADE", name="fk_notify_email_pending_message_id_messages"
        ),
    )
    op.create_index("ix_notify_email_pending_due", "notify_email_pending", ["due_at"])
    op.create_table(
        "notify_cursor",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("recent_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("name", name="pk_notify_cursor"),
    )
    op.execute(
        "INSERT INTO notify_cursor (name, last_message_id) SELECT 'messages', coalesce(max(id), 0) FROM messages"
    )
    op.add_column("mail_outbox", sa.Column("headers", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("mail_outbox", "headers")
    op.drop_table("notify_cursor")
    op.drop_index("ix_notify_email_pending_due", table_name="notify_email_pending")
    op.drop_table("notify_email_pending")
    op.drop_index("ix_push_outbox_due", table_name="push_outbox")
    op.drop_table("push_outbox")
    op.drop_index("ix_push_subscriptions_user_id", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_table("notify_settings")
    op.drop_table("notify_levels")
