"""Privacy tables: data export jobs (the zip itself is in object storage)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from tipline.storage.meta import metadata

EXPORT_STATES = ("queued", "running", "ready", "failed", "expired")

# One row per requested export. ``user_id`` is whose data it holds (the row goes with the
# account); ``requested_by`` is who may download it: the person themselves, or the admin who
# asked for it. A worker on any node claims a queued row (FOR UPDATE SKIP LOCKED, with a lease
# so a node that dies mid-build leaves it to another), writes the zip to ``object_key`` and marks
# it ready until ``expires_at``, after which the object is purged and the row marked expired.
data_exports = Table(
    "data_exports",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("requested_by", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # Which object store the zip goes to (storage_name): only a node writing to that store builds
    # it, so the zip is where the nodes serving downloads read, even while a cluster moves stores.
    Column("store", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False, server_default="queued"),
    Column("progress", Integer, nullable=False, server_default=text("0")),
    Column("object_key", Text, nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(f"state IN {EXPORT_STATES!r}", name="state"),
    CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
    Index("ix_data_exports_user_id", "user_id"),
    Index("ix_data_exports_requested_by", "requested_by", "created_at"),
    Index("ix_data_exports_open", "state", postgresql_where=text("state IN ('queued', 'running', 'ready')")),
)
