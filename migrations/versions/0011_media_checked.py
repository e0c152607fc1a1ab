"""media: an upload's checked object, served under a key no upload policy covers

Revision ID: 0011
Revises: 0010

An upload's presigned POST stays valid for MEDIA_UPLOAD_TTL_S after it was issued, so the key it
names cannot be trusted once the upload is completed: the same form would put other bytes
there. Completing now copies the object to a key of its own, checks that copy, and serves only
it (`object_key`). Uploads completed before this revision keep serving their upload key (its
policy lapses at most MEDIA_UPLOAD_TTL_S after it was issued). See docs/subsystems/media.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("object_key", sa.Text(), nullable=True))
    op.execute("UPDATE uploads SET object_key = key WHERE status = 'ready'")


def downgrade() -> None:
    # Back to serving the upload key: move nothing, point the row at what it serves.
    op.execute("UPDATE uploads SET key = object_key WHERE status = 'ready' AND object_key IS NOT NULL")
    op.drop_column("uploads", "object_key")
