"""profile_status: a person's status (text, emoji, expiry) and IANA time zone on users

Revision ID: 0026
Revises: 0025

Shown on profile cards (docs/subsystems/accounts.md, "Status and local time"). An expired status
is kept until replaced but never answered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("status_text", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("status_emoji", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("status_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("timezone", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "timezone")
    op.drop_column("users", "status_expires_at")
    op.drop_column("users", "status_emoji")
    op.drop_column("users", "status_text")
