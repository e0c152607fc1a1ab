"""threads: thread-only replies, each thread root's summary, followers and their read positions

Revision ID: 0022
Revises: 0021

A thread is the replies to one message (``messages.reply_to_id``, as before). A reply sent
to the thread only (``messages.thread_only``) keeps its seq in the conversation but is left
out of the conversation's timeline, unread count and last-message preview
(docs/subsystems/messages.md, Threads).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("thread_only", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.create_table(
        "threads",
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_reply_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_reply_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_repliers", postgresql.ARRAY(sa.BigInteger()), nullable=False, server_default="{}"),
        sa.ForeignKeyConstraint(
            ["root_id"], ["messages.id"], ondelete="CASCADE", name=op.f("fk_threads_root_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            ondelete="CASCADE",
            name=op.f("fk_threads_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("root_id", name=op.f("pk_threads")),
    )
    # Existing replies (sent or imported) form threads too: their summaries, once.
    op.execute(
        "INSERT INTO threads (root_id, conversation_id, reply_count, last_reply_at, last_reply_seq, last_repliers) "
        "SELECT r.reply_to_id, min(r.conversation_id), count(*), max(r.created_at), max(r.seq), "
        "(SELECT coalesce(array_agg(u ORDER BY s DESC), '{}') FROM (SELECT x.sender_id AS u, max(x.seq) AS s "
        "FROM messages x WHERE x.reply_to_id = r.reply_to_id AND x.sender_id IS NOT NULL AND x.deleted_at IS NULL "
        "GROUP BY x.sender_id ORDER BY max(x.seq) DESC LIMIT 3) y) "
        "FROM messages r WHERE r.reply_to_id IS NOT NULL AND r.deleted_at IS NULL GROUP BY r.reply_to_id"
    )
    op.create_table(
        "thread_follows",
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("following", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("last_read_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["root_id"], ["messages.id"], ondelete="CASCADE", name=op.f("fk_thread_follows_root_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name=op.f("fk_thread_follows_user_id_users")
        ),
        sa.PrimaryKeyConstraint("root_id", "user_id", name=op.f("pk_thread_follows")),
    )
    op.create_index("ix_thread_follows_user_id", "thread_follows", ["user_id"], postgresql_where=sa.text("following"))


def downgrade() -> None:
    op.drop_index("ix_thread_follows_user_id", table_name="thread_follows")
    op.drop_table("thread_follows")
    op.drop_table("threads")
    op.drop_column("messages", "thread_only")
