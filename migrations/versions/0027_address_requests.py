"""address_requests: password reset and verification resend requests, settled off the request path

Revision ID: 0027
Revises: 0026

`POST /auth/password/forgot` and `POST /auth/verify/resend` answer the same for every address.
Both now store the normalized address and answer, whatever the address: a worker on each node
(`accounts/worker.py`) takes the rows one at a time (FOR UPDATE SKIP LOCKED) and, in the same
transaction that deletes the row, makes the link and queues the mail. The answer's time then does
not depend on whether the address has an account (docs/security.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('password_reset', 'resend_verification')", name="kind"),
    )


def downgrade() -> None:
    op.drop_table("address_requests")
