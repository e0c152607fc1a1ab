"""imports: the mapping from an export's users and conversations to Tipline's

Revision ID: 0014
Revises: 0013

`tipline import slack|mattermost` records here what each source user and conversation became,
so running an import again, or after a crash, creates nothing twice (docs/subsystems/import.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_map",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("source", "kind", "key", name=op.f("pk_import_map")),
        sa.CheckConstraint("source IN ('slack','mattermost')", name=op.f("ck_import_map_source")),
        sa.CheckConstraint("kind IN ('user','conversation')", name=op.f("ck_import_map_kind")),
    )


def downgrade() -> None:
    op.drop_table("import_map")
