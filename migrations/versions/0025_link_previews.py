"""link_previews: previews of the links in messages, and the queue of links to fetch

Revision ID: 0025
Revises: 0024

Filled by the link preview worker after the messages commit (docs/subsystems/previews.md); its
scan keeps its place in ``notify_cursor`` (row ``link_previews``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_preview_jobs",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("urls", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_link_preview_jobs_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_link_preview_jobs")),
    )
    op.create_table(
        "link_previews",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("site_name", sa.Text(), nullable=True),
        sa.Column("image_key", sa.Text(), nullable=True),
        sa.Column("image_width", sa.Integer(), nullable=True),
        sa.Column("image_height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_link_previews_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_previews")),
        sa.UniqueConstraint("message_id", "position", name=op.f("uq_link_previews_message_id_position")),
    )
    op.create_index("ix_link_previews_message_id", "link_previews", ["message_id"])
    # The scan starts at the newest message: messages sent before previews existed get none.
    op.execute(
        "INSERT INTO notify_cursor (name, last_message_id) SELECT 'link_previews', coalesce(max(id), 0) FROM messages"
    )


def downgrade() -> None:
    op.execute("DELETE FROM notify_cursor WHERE name = 'link_previews'")
    op.drop_index("ix_link_previews_message_id", table_name="link_previews")
    op.drop_table("link_previews")
    op.drop_table("link_preview_jobs")
