"""search: the trigram index covers only messages with CJK text

Revision ID: 0009_trgm_cjk
Revises: 0003_search

The full trigram index cost every send more than the text-search index itself (each body's
trigrams go into GIN). Word search never uses it; what needs it is text written without spaces
(Chinese, Japanese, Korean), where a word cannot be found any other way. So it becomes a partial
index over messages containing such characters; substring search of other text scans the
searcher's conversations, as on the embedded database. See docs/subsystems/search.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_trgm_cjk"
down_revision: str | None = "0003_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same class as tipline.domain.search.repository.CJK_CLASS: queries repeat this predicate
# word for word so that the planner can use the partial index (tests check that it does).
CJK_CLASS = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"


def _has_trigram_extension() -> bool:
    bind = op.get_bind()
    return bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first() is not None


def upgrade() -> None:
    if not _has_trigram_extension():
        return  # the embedded database: no pg_trgm, no trigram index before or after
    op.execute("DROP INDEX IF EXISTS ix_messages_body_trgm")
    op.execute(
        f"CREATE INDEX ix_messages_body_trgm_cjk ON messages USING gin (body gin_trgm_ops) WHERE body ~ '{CJK_CLASS}'"
    )


def downgrade() -> None:
    if not _has_trigram_extension():
        return
    op.execute("DROP INDEX IF EXISTS ix_messages_body_trgm_cjk")
    op.execute("CREATE INDEX ix_messages_body_trgm ON messages USING gin (body gin_trgm_ops)")
