"""tokens and bots: personal access tokens (a session of kind "token") and bot accounts

Revision ID: 0016
Revises: 0015

A personal access token is a ``sessions`` row of kind ``token`` with an ``api_tokens`` row
beside it (its name, scopes and the SHA-256 of its secret), so revocation, expiry, the send
commit's session check and the sockets' re-checks apply to it unchanged. A bot is a ``users``
row with ``is_bot`` and the person who owns it (docs/subsystems/integrations.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("kind", sa.Text(), nullable=False, server_default="session"))
    op.create_check_constraint("kind", "sessions", "kind IN ('session','token')")
    op.add_column("users", sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.add_column(
        "users",
        sa.Column(
            "owner_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="SET NULL", name=op.f("fk_users_owner_id_users")),
            nullable=True,
        ),
    )
    op.add_column("users", sa.Column("bot_description", sa.Text(), nullable=False, server_default=""))
    op.create_check_constraint("bot_owner", "users", "is_bot OR owner_id IS NULL")
    op.create_index("ix_users_owner_id", "users", ["owner_id"], postgresql_where=sa.text("owner_id IS NOT NULL"))
    op.create_table(
        "api_tokens",
        sa.Column("session_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], ondelete="CASCADE", name=op.f("fk_api_tokens_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], ondelete="SET NULL", name=op.f("fk_api_tokens_created_by_users")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_index("ix_users_owner_id", table_name="users")
    op.drop_constraint(op.f("ck_users_bot_owner"), "users", type_="check")
    op.drop_column("users", "bot_description")
    op.drop_column("users", "owner_id")
    op.drop_column("users", "is_bot")
    op.drop_constraint(op.f("ck_sessions_kind"), "sessions", type_="check")
    op.drop_column("sessions", "kind")
