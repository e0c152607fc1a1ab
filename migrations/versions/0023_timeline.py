"""timeline: message revisions (edit history), pinned messages, read-receipt opt-outs

Revision ID: 0023
Revises: 0022

An edit keeps the body it replaced in ``message_revisions`` (deleted with the message); ``pins``
are per conversation; ``read_receipts_off`` lists people whose read positions others do not see
(docs/subsystems/messages.md, docs/subsystems/conversations.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_revisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], ondelete="CASCADE", name=op.f("fk_message_revisions_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_revisions")),
    )
    op.create_index("ix_message_revisions_message_id", "message_revisions", ["message_id", "id"])
    op.create_table(
        "pins",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("pinned_by", sa.BigInteger(), nullable=True),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            ondelete="CASCADE",
            name=op.f("fk_pins_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], ondelete="CASCADE", name=op.f("fk_pins_message_id_messages")
        ),
        sa.ForeignKeyConstraint(["pinned_by"], ["users.id"], ondelete="SET NULL", name=op.f("fk_pins_pinned_by_users")),
        sa.PrimaryKeyConstraint("conversation_id", "message_id", name=op.f("pk_pins")),
    )
    op.create_index("ix_pins_message_id", "pins", ["message_id"])
    op.create_table(
        "read_receipts_off",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name=op.f("fk_read_receipts_off_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_read_receipts_off")),
    )


def downgrade() -> None:
    op.drop_table("read_receipts_off")
    op.drop_index("ix_pins_message_id", table_name="pins")
    op.drop_table("pins")
    op.drop_index("ix_message_revisions_message_id", table_name="message_revisions")
    op.drop_table("message_revisions")
