"""SQL for link previews. Every function takes the connection explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, RowMapping, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.messages.models import messages
from tipline.domain.notifications.models import notify_cursor
from tipline.domain.notifications.repository import settled_id as settled_id  # the same settling rule
from tipline.domain.previews.models import link_preview_jobs, link_previews

# The scan's row in notify_cursor (a table of named cursors over the messages table).
CURSOR = "link_previews"

# --- the scan of new messages ---------------------------------------------------------------------


async def lock_cursor(conn: AsyncConnection) -> tuple[int, list[int]] | None:
    """The cursor and the ids handled above it, locked for this transaction; None when another node holds it."""
    locked = (
        select(notify_cursor.c.last_message_id, notify_cursor.c.recent_ids)
        .where(notify_cursor.c.name == CURSOR)
        .with_for_update(skip_locked=True)
    )
    row = (await conn.execute(locked)).first()
    if row is None:
        if (await conn.execute(select(notify_cursor.c.name).where(notify_cursor.c.name == CURSOR))).first():
            return None
        # The migration makes the row; without it, start an hour back, not at the first message.
        start = (
            select(messages.c.id)
            .where(messages.c.created_at < func.now() - func.make_interval(0, 0, 0, 0, 1))
            .order_by(messages.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        await conn.execute(
            insert(notify_cursor).values(name=CURSOR, last_message_id=func.coalesce(start, 0)).on_conflict_do_nothing()
        )
        row = (await conn.execute(locked)).first()
    return None if row is None else (int(row[0]), list(row[1]))


async def save_cursor(conn: AsyncConnection, *, last_message_id: int, recent_ids: list[int]) -> None:
    await conn.execute(
        update(notify_cursor)
        .where(notify_cursor.c.name == CURSOR)
        .values(last_message_id=last_message_id, recent_ids=sorted(recent_ids))
    )


# strpos, not a regex: the scan reads every new message, and most have no link.
_CANDIDATES = text(
    """
    SELECT m.id, m.conversation_id, m.body
    FROM messages m
    WHERE m.id > :after AND m.id <= :upto AND NOT (m.id = ANY(CAST(:skip AS bigint[]))) AND m.deleted_at IS NULL
      AND strpos(m.body, '://') > 0
    ORDER BY m.id
    LIMIT :limit
    """
)


async def newest_id(conn: AsyncConnection) -> int:
    value = (await conn.execute(select(func.max(messages.c.id)))).scalar_one_or_none()
    return 0 if value is None else int(value)


async def candidates(conn: AsyncConnection, *, after: int, upto: int, skip: list[int], limit: int) -> list[RowMapping]:
    """Messages ``after < id <= upto`` that may hold a link."""
    params = {"after": after, "upto": upto, "skip": skip, "limit": limit}
    return list((await conn.execute(_CANDIDATES, params)).mappings())


async def queue_jobs(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(link_preview_jobs).values(rows).on_conflict_do_nothing())


async def claim_jobs(conn: AsyncConnection, *, limit: int, lease_s: float) -> list[RowMapping]:
    """Up to ``limit`` jobs no node is working on, leased to this one for ``lease_s``."""
    free = (
        select(link_preview_jobs.c.message_id)
        .where((link_preview_jobs.c.lease_until.is_(None)) | (link_preview_jobs.c.lease_until < func.now()))
        .order_by(link_preview_jobs.c.message_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(link_preview_jobs)
        .where(link_preview_jobs.c.message_id.in_(free))
        .values(
            lease_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
            attempts=link_preview_jobs.c.attempts + 1,
        )
        .returning(*link_preview_jobs.c)
    )
    return list((await conn.execute(stmt)).mappings())


async def finish_job(conn: AsyncConnection, *, message_id: int) -> None:
    await conn.execute(delete(link_preview_jobs).where(link_preview_jobs.c.message_id == message_id))


# --- previews ---------------------------------------------------------------------------------------


async def insert_previews(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(link_previews).values(rows).on_conflict_do_nothing())


async def previews_of(conn: AsyncConnection, *, message_id: int) -> list[RowMapping]:
    stmt = select(link_previews).where(link_previews.c.message_id == message_id).order_by(link_previews.c.position)
    return list((await conn.execute(stmt)).mappings())


async def previews_for(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, list[RowMapping]]:
    """The previews of these messages, each message's in the order of its links."""
    if not message_ids:
        return {}
    stmt = (
        select(link_previews)
        .where(link_previews.c.message_id == func.any(list(message_ids)))
        .order_by(link_previews.c.message_id, link_previews.c.position)
    )
    out: dict[int, list[RowMapping]] = {}
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["message_id"], []).append(row)
    return out


async def preview(conn: AsyncConnection, *, preview_id: int) -> RowMapping | None:
    row = (await conn.execute(select(link_previews).where(link_previews.c.id == preview_id))).mappings().first()
    return row


async def delete_preview(conn: AsyncConnection, *, preview_id: int) -> RowMapping | None:
    stmt = delete(link_previews).where(link_previews.c.id == preview_id).returning(*link_previews.c)
    return (await conn.execute(stmt)).mappings().first()


async def delete_previews_of(conn: AsyncConnection, *, message_id: int) -> list[str]:
    """Delete a message's previews; the object keys of their images, to delete once committed."""
    stmt = delete(link_previews).where(link_previews.c.message_id == message_id).returning(link_previews.c.image_key)
    return [k for k in (await conn.execute(stmt)).scalars() if k is not None]


async def image_keys_of_messages(conn: AsyncConnection, *, message_ids: Sequence[int]) -> list[str]:
    """The stored images of these messages' previews: their rows go with the messages (foreign key),
    the objects are deleted by the caller once it has committed."""
    stmt = select(link_previews.c.image_key).where(
        link_previews.c.message_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))),
        link_previews.c.image_key.is_not(None),
    )
    return [k for k in (await conn.execute(stmt, {"ids": list(message_ids)})).scalars() if k is not None]


async def image_keys_of_senders(conn: AsyncConnection, *, user_ids: Sequence[int]) -> list[str]:
    """The stored preview images of every message these people sent (an erased account's)."""
    stmt = (
        select(link_previews.c.image_key)
        .select_from(link_previews.join(messages, messages.c.id == link_previews.c.message_id))
        .where(
            messages.c.sender_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))),
            link_previews.c.image_key.is_not(None),
        )
    )
    return [k for k in (await conn.execute(stmt, {"ids": list(user_ids)})).scalars() if k is not None]
