"""tips: tip intents

Revision ID: 0005_tips
Revises: 0006_oidc
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_tips"
down_revision: str | None = "0006_oidc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tip_intents",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("intent_id", sa.Text(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("tipper_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_address", sa.Text(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(78, 0), nullable=False),
        sa.Column("state", sa.Text(), server_default="created", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.Text(), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.Text(), nullable=True),
        sa.Column("tipper_address", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('created', 'pending', 'confirmed', 'failed', 'expired')", name=op.f("ck_tip_intents_state_known")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_tip_intents_amount_positive")),
        sa.CheckConstraint("tipper_id <> recipient_id", name=op.f("ck_tip_intents_not_self")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_tip_intents_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_tip_intents_message_id_messages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tipper_id"], ["users.id"], name=op.f("fk_tip_intents_tipper_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_tip_intents_recipient_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tip_intents")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_tip_intents_intent_id")),
    )
    op.create_index(
        "uq_tip_intents_credit",
        "tip_intents",
        ["chain_id", "tx_hash", "log_index"],
        unique=True,
        postgresql_where=sa.text("log_index IS NOT NULL"),
    )
    op.create_index(
        "ix_tip_intents_open",
        "tip_intents",
        ["state"],
        postgresql_where=sa.text("state IN ('created', 'pending', 'confirmed')"),
    )
    op.create_index("ix_tip_intents_tipper", "tip_intents", ["tipper_id", "id"])
    op.create_index("ix_tip_intents_recipient", "tip_intents", ["recipient_id", "id"])
    op.create_index("ix_tip_intents_conversation", "tip_intents", ["conversation_id", "state"])
    op.create_index("ix_tip_intents_message", "tip_intents", ["message_id"])


def downgrade() -> None:
    op.drop_table("tip_intents")
