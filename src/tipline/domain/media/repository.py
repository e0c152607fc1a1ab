"""SQL for uploads and avatars, taking the connection explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.media.models import avatars, uploads


async def insert_upload(conn: AsyncConnection, *, values: dict[str, Any]) -> RowMapping:
    stmt = pg_insert(uploads).values(**values).returning(*uploads.c)
    return (await conn.execute(stmt)).mappings().one()


async def upload(conn: AsyncConnection, *, upload_id: uuid.UUID, for_update: bool = False) -> RowMapping | None:
    stmt = select(uploads).where(uploads.c.id == upload_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def upload_by_key(conn: AsyncConnection, *, key: str) -> RowMapping | None:
    return (await conn.execute(select(uploads).where(uploads.c.key == key))).mappings().first()


async def uploads_for_update(conn: AsyncConnection, *, upload_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
    """Lock the rows (in id order, so concurrent sends cannot deadlock) to attach them."""
    stmt = select(uploads).where(uploads.c.id.in_(sorted(set(upload_ids)))).order_by(uploads.c.id).with_for_update()
    return {row["id"]: row for row in (await conn.execute(stmt)).mappings()}


async def update_upload(conn: AsyncConnection, *, upload_id: uuid.UUID, values: dict[str, Any]) -> RowMapping | None:
    stmt = update(uploads).where(uploads.c.id == upload_id).values(**values).returning(*uploads.c)
    return (await conn.execute(stmt)).mappings().first()


async def record_object_keys(
    conn: AsyncConnection, *, upload_id: uuid.UUID, object_key: str, thumb_key: str | None
) -> bool:
    """Name the copy (and thumbnail) a completion is about to make, while the upload is still
    pending; False once it is not (another completion finished first, or it was removed)."""
    stmt = (
        update(uploads)
        .where(uploads.c.id == upload_id, uploads.c.status == "pending")
        .values(object_key=object_key, thumb_key=thumb_key)
        .returning(uploads.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def attach(conn: AsyncConnection, *, links: list[tuple[uuid.UUID, int, int]]) -> None:
    """Set (upload id, message id, position) links."""
    for upload_id, message_id, position in links:
        await conn.execute(
            update(uploads).where(uploads.c.id == upload_id).values(message_id=message_id, position=position)
        )


async def attachments_for(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, list[RowMapping]]:
    if not message_ids:
        return {}
    stmt = (
        select(uploads)
        .where(uploads.c.message_id.in_(list(message_ids)), uploads.c.status == "ready")
        .order_by(uploads.c.message_id, uploads.c.position)
    )
    out: dict[int, list[RowMapping]] = {}
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["message_id"], []).append(row)
    return out


async def mark_message_uploads_deleted(conn: AsyncConnection, *, message_id: int) -> list[uuid.UUID]:
    stmt = (
        update(uploads)
        .where(uploads.c.message_id == message_id, uploads.c.status != "deleted")
        .values(status="deleted")
        .returning(uploads.c.id)
    )
    return [row[0] for row in await conn.execute(stmt)]


async def mark_orphans_deleted(conn: AsyncConnection, *, older_than: datetime) -> int:
    stmt = (
        update(uploads)
        .where(uploads.c.message_id.is_(None), uploads.c.status != "deleted", uploads.c.created_at < older_than)
        .values(status="deleted")
    )
    return (await conn.execute(stmt)).rowcount or 0


async def deleted_uploads(
    conn: AsyncConnection, *, upload_ids: Sequence[uuid.UUID] | None, limit: int
) -> list[RowMapping]:
    """Rows whose objects are to be removed, locked so that two cleaners never share one."""
    stmt = select(uploads.c.id, uploads.c.key, uploads.c.object_key, uploads.c.thumb_key).where(
        uploads.c.status == "deleted"
    )
    if upload_ids is not None:
        stmt = stmt.where(uploads.c.id.in_(list(upload_ids)))
    stmt = stmt.order_by(uploads.c.id).limit(limit).with_for_update(skip_locked=True)
    return list((await conn.execute(stmt)).mappings())


async def delete_uploads(conn: AsyncConnection, *, upload_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute(delete(uploads).where(uploads.c.id.in_(list(upload_ids))))


async def avatar(conn: AsyncConnection, *, user_id: int, for_update: bool = False) -> RowMapping | None:
    stmt = select(avatars).where(avatars.c.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def set_avatar(conn: AsyncConnection, *, user_id: int, key: str) -> None:
    stmt = pg_insert(avatars).values(user_id=user_id, key=key)
    stmt = stmt.on_conflict_do_update(
        index_elements=[avatars.c.user_id], set_={"key": key, "updated_at": stmt.excluded.updated_at}
    )
    await conn.execute(stmt)
