"""Audited checks for the admin console: only active server admins pass (docs/subsystems/admin.md)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.admin import repository as repo
from tipline.errors import Conflict, Forbidden

NOT_ADMIN = "only server admins can do this"


async def require_admin(conn: AsyncConnection, *, user_id: int) -> None:
    """The caller is an active server admin (``users.is_admin``), read now, not from the token."""
    if not await repo.is_active_admin(conn, user_id=user_id):
        raise Forbidden(NOT_ADMIN, code="not_a_server_admin")


async def lock_admins(conn: AsyncConnection, *, user_id: int) -> set[int]:
    """Lock every active admin's row (until commit), then check the caller is still one of them.

    A change that could leave the server without an admin takes this first, so two admins who
    demote or deactivate each other at once are ordered: the second sees the first's change."""
    admins = await repo.lock_active_admins(conn)
    if user_id not in admins:
        raise Forbidden(NOT_ADMIN, code="not_a_server_admin")
    return admins


def require_not_last_admin(admins: set[int], *, target_id: int) -> None:
    """Taking ``target_id`` out of the admins must leave at least one active admin."""
    if target_id in admins and len(admins) <= 1:
        raise Conflict("this is the last active admin: make another account an admin first", code="last_admin")
