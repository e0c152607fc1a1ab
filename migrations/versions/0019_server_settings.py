"""server_settings: runtime settings admins edit, invite links and custom emoji

Revision ID: 0019
Revises: 0018

``server_settings`` holds one row (id 1), inserted here with every value at its default: open
sign-up, no domain restriction, messages kept forever, the environment's upload limits
(docs/subsystems/admin.md, Server settings).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_by(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], ondelete="SET NULL", name=op.f(f"fk_{table}_{column}_users"))


def upgrade() -> None:
    op.create_table(
        "server_settings",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("signup_mode", sa.Text(), server_default="open", nullable=False),
        sa.Column("allowed_email_domains", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("retention_direct_days", sa.Integer(), nullable=True),
        sa.Column("retention_group_days", sa.Integer(), nullable=True),
        sa.Column("retention_public_days", sa.Integer(), nullable=True),
        sa.Column("retention_private_days", sa.Integer(), nullable=True),
        sa.Column("upload_max_bytes", sa.BigInteger(), nullable=True),
        sa.Column("upload_allowed_types", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_server_settings_one_row")),
        sa.CheckConstraint(
            "signup_mode IN ('open','invite_only','closed')", name=op.f("ck_server_settings_signup_mode")
        ),
        _created_by("server_settings", "updated_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_settings")),
    )
    op.execute("INSERT INTO server_settings (id) VALUES (1)")
    op.create_table(
        "invites",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hint", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("max_uses IS NULL OR max_uses >= 1", name=op.f("ck_invites_max_uses")),
        sa.CheckConstraint("max_uses IS NULL OR uses <= max_uses", name=op.f("ck_invites_uses")),
        _created_by("invites", "created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invites_code_hash")),
    )
    op.create_table(
        "custom_emoji",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        _created_by("custom_emoji", "created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_emoji")),
        sa.UniqueConstraint("name", name=op.f("uq_custom_emoji_name")),
    )


def downgrade() -> None:
    op.drop_table("custom_emoji")
    op.drop_table("invites")
    op.drop_table("server_settings")
