"""SQL for the timeline: system lines (read from the conversation event log), message revisions,
pins and read-receipt opt-outs. Takes the connection explicitly; no HTTP, no bus."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations.models import conversation_events, members
from tipline.domain.messages.models import messages
from tipline.domain.messages.repository import MSG_COLS
from tipline.domain.timeline.models import message_revisions, pins, read_receipts_off

# The logged conversation events a timeline shows as a line of its own, between messages.
SYSTEM_EVENTS = (
    "member.joined",
    "member.left",
    "member.removed",
    "conversation.updated",
    "conversation.archived",
    "conversation.unarchived",
    "message.pinned",
)


async def system_lines(
    conn: AsyncConnection, *, conversation_id: int, lo: int, hi: int, limit: int
) -> list[RowMapping]:
    """System events with ``lo <= seq <= hi``, ascending (the newest ``limit`` of them)."""
    stmt = (
        select(conversation_events.c.seq, conversation_events.c.event, conversation_events.c.data)
        .where(
            conversation_events.c.conversation_id == conversation_id,
            conversation_events.c.seq >= lo,
            conversation_events.c.seq <= hi,
            conversation_events.c.event.in_(SYSTEM_EVENTS),
        )
        .order_by(conversation_events.c.seq.desc())
        .limit(limit)
    )
    rows = list((await conn.execute(stmt)).mappings())
    rows.reverse()
    return rows


# --- revisions ----------------------------------------------------------------------------------


async def add_revision(conn: AsyncConnection, *, message_id: int, body: str, written_at: datetime) -> None:
    await conn.execute(insert(message_revisions).values(message_id=message_id, body=body, written_at=written_at))


async def revisions(conn: AsyncConnection, *, message_id: int, limit: int) -> list[RowMapping]:
    """Earlier versions of a message, oldest first."""
    stmt = (
        select(
            message_revisions.c.id,
            message_revisions.c.body,
            message_revisions.c.written_at,
            message_revisions.c.replaced_at,
        )
        .where(message_revisions.c.message_id == message_id)
        .order_by(message_revisions.c.id)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())


async def delete_revisions(conn: AsyncConnection, *, message_id: int) -> None:
    await conn.execute(delete(message_revisions).where(message_revisions.c.message_id == message_id))


# --- pins ---------------------------------------------------------------------------------------


async def add_pin(conn: AsyncConnection, *, conversation_id: int, message_id: int, user_id: int) -> RowMapping | None:
    """The new pin, or None if the message was pinned already."""
    stmt = (
        pg_insert(pins)
        .values(conversation_id=conversation_id, message_id=message_id, pinned_by=user_id)
        .on_conflict_do_nothing()
        .returning(pins.c.message_id, pins.c.pinned_by, pins.c.pinned_at)
    )
    return (await conn.execute(stmt)).mappings().first()


async def remove_pin(conn: AsyncConnection, *, conversation_id: int, message_id: int) -> bool:
    stmt = delete(pins).where(pins.c.conversation_id == conversation_id, pins.c.message_id == message_id)
    return bool((await conn.execute(stmt)).rowcount)


async def delete_pins_of(conn: AsyncConnection, *, message_id: int) -> None:
    await conn.execute(delete(pins).where(pins.c.message_id == message_id))


async def pin_count(conn: AsyncConnection, *, conversation_id: int) -> int:
    stmt = select(func.count()).select_from(pins).where(pins.c.conversation_id == conversation_id)
    return int((await conn.execute(stmt)).scalar_one())


async def list_pins(conn: AsyncConnection, *, conversation_id: int) -> list[RowMapping]:
    """Pins of a conversation, newest pin first, each with its message's columns."""
    stmt = (
        select(*MSG_COLS, pins.c.pinned_by, pins.c.pinned_at)
        .select_from(pins)
        .join(messages, messages.c.id == pins.c.message_id)
        .where(pins.c.conversation_id == conversation_id, messages.c.deleted_at.is_(None))
        .order_by(pins.c.pinned_at.desc(), pins.c.message_id.desc())
    )
    return list((await conn.execute(stmt)).mappings())


async def pinned_ids(conn: AsyncConnection, *, message_ids: Sequence[int]) -> set[int]:
    if not message_ids:
        return set()
    stmt = select(pins.c.message_id).where(pins.c.message_id.in_(message_ids))
    return {int(r[0]) for r in await conn.execute(stmt)}


# --- read receipts ------------------------------------------------------------------------------


async def receipts_off(conn: AsyncConnection, *, user_id: int) -> bool:
    stmt = select(read_receipts_off.c.user_id).where(read_receipts_off.c.user_id == user_id)
    return (await conn.execute(stmt)).first() is not None


async def set_receipts_off(conn: AsyncConnection, *, user_id: int, off: bool) -> None:
    if off:
        await conn.execute(pg_insert(read_receipts_off).values(user_id=user_id).on_conflict_do_nothing())
    else:
        await conn.execute(delete(read_receipts_off).where(read_receipts_off.c.user_id == user_id))


async def read_positions(conn: AsyncConnection, *, conversation_id: int) -> list[RowMapping]:
    """Each member's read position, for members who send read receipts."""
    stmt = (
        select(members.c.user_id, members.c.last_read_seq)
        .outerjoin(read_receipts_off, read_receipts_off.c.user_id == members.c.user_id)
        .where(members.c.conversation_id == conversation_id, read_receipts_off.c.user_id.is_(None))
        .order_by(members.c.user_id)
    )
    return list((await conn.execute(stmt)).mappings())


async def seen_count(conn: AsyncConnection, *, conversation_id: int, seq: int, sender_id: int | None) -> int:
    """Members (receipt senders, other than the sender) whose read position reached ``seq``."""
    stmt = (
        select(func.count())
        .select_from(members)
        .outerjoin(read_receipts_off, read_receipts_off.c.user_id == members.c.user_id)
        .where(
            members.c.conversation_id == conversation_id,
            members.c.last_read_seq >= seq,
            members.c.user_id.is_distinct_from(sender_id),
            read_receipts_off.c.user_id.is_(None),
        )
    )
    return int((await conn.execute(stmt)).scalar_one())


async def last_message(conn: AsyncConnection, *, conversation_id: int) -> RowMapping | None:
    """The newest message still standing (its seq and sender)."""
    stmt = (
        select(messages.c.seq, messages.c.sender_id)
        .where(messages.c.conversation_id == conversation_id, messages.c.deleted_at.is_(None))
        .order_by(messages.c.seq.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).mappings().first()
