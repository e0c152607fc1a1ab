"""privacy: data export jobs, and tips that outlive the accounts they linked

Revision ID: 0021
Revises: 0020

``data_exports`` holds one row per requested export of a person's data (the zip is in object
storage). A tip's ``tipper_id`` and ``recipient_id`` become nullable and SET NULL: deleting an
account keeps its tips as on-chain facts (hash, amount, addresses) no longer linked to anyone
(docs/subsystems/accounts.md, "Deleting an account").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tip_links(ondelete: str, nullable: bool) -> None:
    for column in ("tipper_id", "recipient_id"):
        name = f"fk_tip_intents_{column}_users"
        op.drop_constraint(name, "tip_intents", type_="foreignkey")
        op.create_foreign_key(name, "tip_intents", "users", [column], ["id"], ondelete=ondelete)
        op.alter_column("tip_intents", column, existing_type=sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("store", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.Text(), server_default="queued", nullable=False),
        sa.Column("progress", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'ready', 'failed', 'expired')", name=op.f("ck_data_exports_state")
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_data_exports_progress")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_data_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_data_exports_requested_by_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index("ix_data_exports_user_id", "data_exports", ["user_id"])
    op.create_index("ix_data_exports_requested_by", "data_exports", ["requested_by", "created_at"])
    op.create_index(
        "ix_data_exports_open",
        "data_exports",
        ["state"],
        postgresql_where=sa.text("state IN ('queued', 'running', 'ready')"),
    )
    _tip_links("SET NULL", nullable=True)


def downgrade() -> None:
    # Tips whose people were deleted cannot be linked again: they go with the downgrade.
    op.execute("DELETE FROM tip_intents WHERE tipper_id IS NULL OR recipient_id IS NULL")
    _tip_links("CASCADE", nullable=False)
    op.drop_index("ix_data_exports_open", table_name="data_exports")
    op.drop_index("ix_data_exports_requested_by", table_name="data_exports")
    op.drop_index("ix_data_exports_user_id", table_name="data_exports")
    op.drop_table("data_exports")
