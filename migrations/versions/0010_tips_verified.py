"""tips: the head at which the watcher last found a confirmed tip's block on the chain

Revision ID: 0010
Revises: 0009_trgm_cjk

A confirmed tip is re-checked for a reorg until the watcher has seen its block on the chain at a
head CHAIN_REORG_DEPTH blocks past it, however far behind the watcher was meanwhile. Tips
confirmed before this revision have no such head yet, so each is checked once more against the
canonical chain when the watcher next runs. See docs/subsystems/tipping.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009_trgm_cjk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tip_intents", sa.Column("verified_block", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("tip_intents", "verified_block")
