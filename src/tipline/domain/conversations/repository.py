"""SQL for conversations, members and the conversation event log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    RowMapping,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.conversations.models import conversation_events, conversations, members
from tipline.domain.messages.models import messages

CONV_COLS = (
    conversations.c.id,
    conversations.c.kind,
    conversations.c.name,
    conversations.c.topic,
    conversations.c.created_at,
    conversations.c.archived_at,
    conversations.c.last_seq,
    conversations.c.last_message_at,
)


async def conversation(conn: AsyncConnection, *, conversation_id: int, for_update: bool = False) -> RowMapping | None:
    stmt = select(*CONV_COLS).where(conversations.c.id == conversation_id)
    if for_update:
        # The conversation row's lock serializes every writer of one conversation:
        # seq allocation, membership changes and sends all take it first.
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def membership(conn: AsyncConnection, *, conversation_id: int, user_id: int) -> RowMapping | None:
    stmt = select(members).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    return (await conn.execute(stmt)).mappings().first()


async def insert_conversation(
    conn: AsyncConnection, *, kind: str, name: str, topic: str, created_by: int, direct_key: str | None = None
) -> RowMapping | None:
    stmt = (
        pg_insert(conversations)
        .values(kind=kind, name=name, topic=topic, created_by=created_by, direct_key=direct_key)
        .on_conflict_do_nothing()
        .returning(*CONV_COLS)
    )
    return (await conn.execute(stmt)).mappings().first()


async def direct_by_key(conn: AsyncConnection, *, direct_key: str) -> RowMapping | None:
    stmt = select(*CONV_COLS).where(conversations.c.direct_key == direct_key)
    return (await conn.execute(stmt)).mappings().first()


async def existing_user_ids(conn: AsyncConnection, *, user_ids: list[int]) -> set[int]:
    if not user_ids:
        return set()
    stmt = select(users.c.id).where(users.c.id.in_(user_ids), users.c.is_active)
    return {row[0] for row in await conn.execute(stmt)}


async def add_member(conn: AsyncConnection, *, conversation_id: int, user_id: int, role: str, joined_seq: int) -> bool:
    stmt = (
        pg_insert(members)
        .values(
            conversation_id=conversation_id, user_id=user_id, role=role, joined_seq=joined_seq, last_read_seq=joined_seq
        )
        .on_conflict_do_nothing()
        .returning(members.c.user_id)
    )
    return (await conn.execute(stmt)).first() is not None


async def remove_member(conn: AsyncConnection, *, conversation_id: int, user_id: int) -> bool:
    stmt = delete(members).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    return ((await conn.execute(stmt)).rowcount or 0) > 0


async def set_role(conn: AsyncConnection, *, conversation_id: int, user_id: int, role: str) -> None:
    await conn.execute(
        update(members)
        .where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
        .values(role=role)
    )


async def count_role(conn: AsyncConnection, *, conversation_id: int, role: str) -> int:
    stmt = select(func.count()).where(members.c.conversation_id == conversation_id, members.c.role == role)
    return int((await conn.execute(stmt)).scalar_one())


async def member_count(conn: AsyncConnection, *, conversation_id: int) -> int:
    stmt = select(func.count()).where(members.c.conversation_id == conversation_id)
    return int((await conn.execute(stmt)).scalar_one())


async def member_ids(conn: AsyncConnection, *, conversation_id: int) -> list[int]:
    stmt = select(members.c.user_id).where(members.c.conversation_id == conversation_id)
    return [row[0] for row in await conn.execute(stmt)]


async def update_conversation(conn: AsyncConnection, *, conversation_id: int, values: dict[str, Any]) -> RowMapping:
    stmt = update(conversations).where(conversations.c.id == conversation_id).values(**values).returning(*CONV_COLS)
    return (await conn.execute(stmt)).mappings().one()


async def append_event(conn: AsyncConnection, *, conversation_id: int, event: str, data: dict[str, Any]) -> int:
    """Take the conversation's next seq for a non-message event and log it; returns the seq.

    The caller holds the conversation row lock (``conversation(..., for_update=True)``).
    """
    seq = (
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(last_seq=conversations.c.last_seq + 1)
            .returning(conversations.c.last_seq)
        )
    ).scalar_one()
    await conn.execute(
        insert(conversation_events).values(conversation_id=conversation_id, seq=seq, event=event, data=data)
    )
    return int(seq)


async def events_since(conn: AsyncConnection, *, conversation_id: int, since: int, limit: int) -> list[RowMapping]:
    stmt = (
        select(conversation_events.c.seq, conversation_events.c.event, conversation_events.c.data)
        .where(conversation_events.c.conversation_id == conversation_id, conversation_events.c.seq > since)
        .order_by(conversation_events.c.seq)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())


_UNREAD = (
    select(func.count())
    .select_from(messages)
    .where(
        messages.c.conversation_id == conversations.c.id,
        messages.c.seq > members.c.last_read_seq,
        messages.c.sender_id.is_distinct_from(members.c.user_id),
        messages.c.deleted_at.is_(None),
        # Thread-only replies are unread in the Threads view instead (docs/subsystems/messages.md).
        messages.c.thread_only.is_(False),
    )
    .scalar_subquery()
)

_MEMBER_COUNT = (
    select(func.count())
    .select_from(members.alias("mc"))
    .where(literal_column("mc.conversation_id") == conversations.c.id)
    .scalar_subquery()
)


async def list_for_user(conn: AsyncConnection, *, user_id: int, conversation_id: int | None = None) -> list[RowMapping]:
    last = (
        select(
            messages.c.id.label("lm_id"),
            messages.c.seq.label("lm_seq"),
            messages.c.sender_id.label("lm_sender_id"),
            messages.c.body.label("lm_body"),
            messages.c.created_at.label("lm_created_at"),
            messages.c.deleted_at.label("lm_deleted_at"),
        )
        .where(messages.c.conversation_id == conversations.c.id, messages.c.thread_only.is_(False))
        .order_by(messages.c.seq.desc())
        .limit(1)
        .lateral("lm")
    )
    stmt = (
        select(
            *CONV_COLS,
            members.c.role,
            members.c.last_read_seq,
            _UNREAD.label("unread"),
            _MEMBER_COUNT.label("member_count"),
            last,
        )
        .select_from(members.join(conversations, conversations.c.id == members.c.conversation_id))
        .outerjoin(last, text("true"))
        .where(members.c.user_id == user_id)
        .order_by(func.coalesce(conversations.c.last_message_at, conversations.c.created_at).desc())
    )
    if conversation_id is not None:
        stmt = stmt.where(conversations.c.id == conversation_id)
    return list((await conn.execute(stmt)).mappings())


async def direct_peers(conn: AsyncConnection, *, user_id: int, conversation_ids: list[int]) -> dict[int, RowMapping]:
    if not conversation_ids:
        return {}
    stmt = (
        select(members.c.conversation_id, users.c.id, users.c.handle, users.c.display_name, users.c.is_bot)
        .join(users, users.c.id == members.c.user_id)
        .where(members.c.conversation_id.in_(conversation_ids), members.c.user_id != user_id)
    )
    return {row["conversation_id"]: row for row in (await conn.execute(stmt)).mappings()}


async def list_public(
    conn: AsyncConnection, *, user_id: int, query: str | None, limit: int, offset: int
) -> list[RowMapping]:
    """The channel directory; ``role`` and ``last_read_seq`` are the caller's where they joined."""
    mine = members.alias("mine")
    stmt = (
        select(*CONV_COLS, _MEMBER_COUNT.label("member_count"), mine.c.role, mine.c.last_read_seq)
        .select_from(
            conversations.outerjoin(mine, and_(mine.c.conversation_id == conversations.c.id, mine.c.user_id == user_id))
        )
        .where(conversations.c.kind == "public", conversations.c.archived_at.is_(None))
        .order_by(conversations.c.name, conversations.c.id)
        .limit(limit)
        .offset(offset)
    )
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            or_(
                conversations.c.name.ilike(f"%{escaped}%", escape="\\"),
                conversations.c.topic.ilike(f"%{escaped}%", escape="\\"),
            )
        )
    return list((await conn.execute(stmt)).mappings())


async def list_members(conn: AsyncConnection, *, conversation_id: int, user_id: int | None = None) -> list[RowMapping]:
    """The conversation's members (oldest first), or only ``user_id``'s row: one member's read
    must not cost the whole list in a 10,000-member channel."""
    stmt = (
        select(
            members.c.role,
            members.c.joined_at,
            members.c.last_read_seq,
            users.c.id,
            users.c.handle,
            users.c.display_name,
            users.c.is_bot,
        )
        .join(users, users.c.id == members.c.user_id)
        .where(members.c.conversation_id == conversation_id)
        .order_by(members.c.joined_at, users.c.id)
    )
    if user_id is not None:
        stmt = stmt.where(members.c.user_id == user_id)
    return list((await conn.execute(stmt)).mappings())


async def user_conversation_ids(conn: AsyncConnection, *, user_id: int) -> list[tuple[int, int]]:
    """(conversation_id, last_seq) of every conversation the user is a member of."""
    stmt = (
        select(conversations.c.id, conversations.c.last_seq)
        .join(members, members.c.conversation_id == conversations.c.id)
        .where(members.c.user_id == user_id)
    )
    return [(row[0], row[1]) for row in await conn.execute(stmt)]


async def memberships_of(conn: AsyncConnection, *, user_ids: Sequence[int]) -> dict[int, set[int]]:
    """user id -> the ids of the conversations they are a member of (every user listed)."""
    stmt = select(members.c.user_id, members.c.conversation_id).where(
        members.c.user_id == func.any(bindparam("ids", type_=ARRAY(BigInteger)))
    )
    out: dict[int, set[int]] = {uid: set() for uid in user_ids}
    for uid, cid in await conn.execute(stmt, {"ids": sorted(user_ids)}):
        out[uid].add(cid)
    return out


async def mark_read(conn: AsyncConnection, *, conversation_id: int, user_id: int, seq: int) -> int | None:
    """Move the read marker forward (never back, never past the last seq); returns the new marker."""
    stmt = (
        update(members)
        .where(
            and_(members.c.conversation_id == conversation_id, members.c.user_id == user_id),
            members.c.conversation_id == conversations.c.id,
        )
        .values(last_read_seq=func.greatest(members.c.last_read_seq, func.least(seq, conversations.c.last_seq)))
        .returning(members.c.last_read_seq)
    )
    value = (await conn.execute(stmt)).scalar_one_or_none()
    return None if value is None else int(value)


async def users_sharing_a_conversation(
    conn: AsyncConnection, *, user_id: int, others: list[int] | None, max_members: int | None = None
) -> set[int]:
    """Other users who share at least one conversation with ``user_id`` (among ``others`` if given;
    counting only conversations of at most ``max_members`` members if given)."""
    if others is not None and not others:
        return set()
    mine = members.alias("mine")
    theirs = members.alias("theirs")
    stmt = (
        select(theirs.c.user_id)
        .join(mine, mine.c.conversation_id == theirs.c.conversation_id)
        .where(mine.c.user_id == user_id, theirs.c.user_id != user_id)
        .distinct()
    )
    if others is not None:
        stmt = stmt.where(theirs.c.user_id.in_(others))
    if max_members is not None:
        size = (
            select(func.count())
            .select_from(members.alias("sz"))
            .where(literal_column("sz.conversation_id") == mine.c.conversation_id)
            .scalar_subquery()
        )
        stmt = stmt.where(size <= max_members)
    return {row[0] for row in await conn.execute(stmt)}


async def last_seqs(conn: AsyncConnection, *, conversation_ids: Sequence[int]) -> dict[int, int]:
    """conversation id -> last_seq, for these conversations (in chunks: any number of ids)."""
    wanted = sorted(set(conversation_ids))
    found: dict[int, int] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        stmt = select(conversations.c.id, conversations.c.last_seq).where(conversations.c.id.in_(chunk))
        found.update({row[0]: row[1] for row in await conn.execute(stmt)})
    return found
