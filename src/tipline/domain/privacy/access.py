"""Audited checks of the privacy domain: whose export is this, who may act on another's account."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.moderation.repository import is_server_admin
from tipline.errors import Conflict, Forbidden, NotFound


def access_export(row: RowMapping | None, *, caller_id: int) -> RowMapping:
    """Only who requested an export sees or downloads it (an admin's export of someone is the admin's)."""
    if row is None:
        raise NotFound("export not found", code="export_not_found")
    if row["requested_by"] != caller_id:
        raise NotFound("export not found", code="export_not_found")
    return row


def require_ready(row: RowMapping) -> str:
    if row["state"] != "ready":
        raise Conflict(f"this export is {row['state']}, not ready to download", code="export_not_ready")
    if row["object_key"] is None:
        raise Conflict("this export is no longer available", code="export_not_ready")
    key: str = row["object_key"]
    return key


async def require_server_admin(conn: AsyncConnection, *, user_id: int) -> None:
    if not await is_server_admin(conn, user_id=user_id):
        raise Forbidden("only server admins may do this", code="admin_required")


def require_not_last_admin(user: RowMapping, *, other_admins: int) -> None:
    """A server always keeps an active admin: the last one cannot delete their own account."""
    if user["is_admin"] and user["is_active"] and other_admins == 0:
        raise Conflict("you are the last admin: make someone else an admin first", code="last_admin")
