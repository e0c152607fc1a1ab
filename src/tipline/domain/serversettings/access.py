"""The audited permission check for server settings: admins only, the admin console's own check."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.admin.access import require_admin


async def access_admin(conn: AsyncConnection, *, user_id: int) -> None:
    """Refuse anyone who is not an active admin (``users.is_admin``, read in the caller's
    transaction, not from the token): 403 ``not_a_server_admin``."""
    await require_admin(conn, user_id=user_id)
