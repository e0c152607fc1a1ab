"""integrations: incoming webhooks, outgoing webhooks with their delivery outbox, slash commands

Revision ID: 0017
Revises: 0016

Each integration posts as a bot of its own; an outgoing webhook keeps a cursor (the conversation
seq it has looked at) and its deliveries wait in ``webhook_deliveries`` until a worker on any
node has sent them (docs/subsystems/integrations.md).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], ondelete=ondelete, name=op.f(f"fk_{table}_{column}_{referred}")
    )


def _owned(table: str) -> list[Any]:
    """The columns and keys every integration has: its bot, its creator, its creation time."""
    return [
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _fk(table, "bot_id", "users", "CASCADE"),
        _fk(table, "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "incoming_webhooks",
        *_owned("incoming_webhooks"),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("allow_overrides", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        _fk("incoming_webhooks", "conversation_id", "conversations", "CASCADE"),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_incoming_webhooks_secret_hash")),
    )
    op.create_index("ix_incoming_webhooks_conversation_id", "incoming_webhooks", ["conversation_id"])
    op.create_table(
        "outgoing_webhooks",
        *_owned("outgoing_webhooks"),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("trigger_words", postgresql.ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("failure_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        _fk("outgoing_webhooks", "conversation_id", "conversations", "CASCADE"),
    )
    op.create_index("ix_outgoing_webhooks_conversation_id", "outgoing_webhooks", ["conversation_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("hook_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True, server_default=sa.func.now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _fk("webhook_deliveries", "hook_id", "outgoing_webhooks", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivered_at IS NULL AND next_attempt_at IS NOT NULL"),
    )
    op.create_table(
        "slash_commands",
        *_owned("slash_commands"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("usage_hint", sa.Text(), nullable=False, server_default=""),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("name", name=op.f("uq_slash_commands_name")),
    )


def downgrade() -> None:
    op.drop_table("slash_commands")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_outgoing_webhooks_conversation_id", table_name="outgoing_webhooks")
    op.drop_table("outgoing_webhooks")
    op.drop_index("ix_incoming_webhooks_conversation_id", table_name="incoming_webhooks")
    op.drop_table("incoming_webhooks")
