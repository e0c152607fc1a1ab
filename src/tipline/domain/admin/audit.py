"""Writing the audit log. Every admin and moderator action calls :func:`record_audit`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.admin.models import audit_log


async def record_audit(
    conn: AsyncConnection,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str | None,
    ip: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry within the caller's transaction (it commits or rolls back with the action)."""
    await conn.execute(
        insert(audit_log).values(
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=ip or None,
            details=dict(details or {}),
        )
    )
