"""password reset: single-use links to reset a password or confirm a new email address

Revision ID: 0013
Revises: 0012

A password reset link and an email change link are one kind of row: a token stored as its
SHA-256, for one account, expiring, and marked used (not deleted) when followed, so a second use
is told apart from an unknown token. An email change carries the address it moves to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.LargeBinary(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("new_email", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(purpose = 'password_reset' AND new_email IS NULL) OR (purpose = 'email_change' AND new_email IS NOT NULL)",
            name="purpose",  # ck_account_tokens_purpose, by the naming convention
        ),
    )
    op.create_index("ix_account_tokens_user_id", "account_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("account_tokens")
