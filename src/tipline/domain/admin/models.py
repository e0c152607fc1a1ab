"""The audit log: one row per admin or moderator action, never updated or deleted."""

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Identity, Index, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB

from tipline.storage.meta import metadata

# Append-only: no code path updates or deletes a row (docs/subsystems/admin.md). The actor is
# kept as SET NULL so deleting an account keeps the entry (with no person linked to it).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("action", Text, nullable=False),
    Column("target_type", Text, nullable=False),
    Column("target_id", Text, nullable=True),
    # The client IP as the request saw it (behind the trusted-proxy rules), as text.
    Column("ip", Text, nullable=True),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_id", "actor_id", "id"),
    Index("ix_audit_log_action", "action", "id"),
)
