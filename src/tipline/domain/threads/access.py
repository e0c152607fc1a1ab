"""Audited checks for threads: a thread is visible exactly where its root message is (a current
member of the root's conversation); anyone else gets 404 ``message_not_found``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.messages.access import MessageAccess, access_message


async def access_thread(conn: AsyncConnection, *, user_id: int, root_id: int) -> MessageAccess:
    """The root and the caller's membership of its conversation (``access_message``)."""
    return await access_message(conn, user_id=user_id, message_id=root_id)
