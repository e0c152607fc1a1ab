"""wallets linked by Sign-In with Ethereum, and single-use sign-in nonces

Revision ID: 0004_wallets
Revises: 0001
Create Date: 2026-12-01 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_wallets"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("address ~ '^0x[0-9a-f]{40}$'", name=op.f("ck_wallets_address_lowercase_hex")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_wallets_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint("address", name=op.f("uq_wallets_address")),
    )
    op.create_index("ix_wallets_user_id", "wallets", ["user_id"], unique=False)
    op.create_table(
        "siwe_nonces",
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_hash", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_siwe_nonces")),
    )
    op.create_index("ix_siwe_nonces_expires_at", "siwe_nonces", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_siwe_nonces_expires_at", table_name="siwe_nonces")
    op.drop_table("siwe_nonces")
    op.drop_index("ix_wallets_user_id", table_name="wallets")
    op.drop_table("wallets")
