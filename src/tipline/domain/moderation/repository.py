"""SQL for blocks, reports and slow mode. Every function takes the connection explicitly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import BigInteger, RowMapping, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.conversations.models import conversations, members
from tipline.domain.messages.models import messages
from tipline.domain.moderation.models import blocks, reports

# --- blocks -------------------------------------------------------------------------------------


async def add_block(conn: AsyncConnection, *, blocker_id: int, blocked_id: int) -> bool:
    stmt = (
        pg_insert(blocks)
        .values(blocker_id=blocker_id, blocked_id=blocked_id)
        .on_conflict_do_nothing()
        .returning(blocks.c.blocked_id)
    )
    return (await conn.execute(stmt)).first() is not None


async def remove_block(conn: AsyncConnection, *, blocker_id: int, blocked_id: int) -> bool:
    stmt = delete(blocks).where(blocks.c.blocker_id == blocker_id, blocks.c.blocked_id == blocked_id)
    return ((await conn.execute(stmt)).rowcount or 0) > 0


async def list_blocks(conn: AsyncConnection, *, blocker_id: int) -> list[RowMapping]:
    stmt = (
        select(users.c.id, users.c.handle, users.c.display_name, users.c.is_bot, blocks.c.created_at)
        .join(users, users.c.id == blocks.c.blocked_id)
        .where(blocks.c.blocker_id == blocker_id)
        .order_by(blocks.c.created_at, users.c.id)
    )
    return list((await conn.execute(stmt)).mappings())


async def blocked_by(conn: AsyncConnection, *, blocker_id: int) -> frozenset[int]:
    """Everyone this user has blocked (whose messages are hidden from them)."""
    stmt = select(blocks.c.blocked_id).where(blocks.c.blocker_id == blocker_id)
    return frozenset(r[0] for r in await conn.execute(stmt))


async def block_exists(conn: AsyncConnection, *, a: int, b: int) -> bool:
    stmt = select(blocks.c.blocker_id).where(
        or_(
            and_(blocks.c.blocker_id == a, blocks.c.blocked_id == b),
            and_(blocks.c.blocker_id == b, blocks.c.blocked_id == a),
        )
    )
    return (await conn.execute(stmt.limit(1))).first() is not None


async def blocked_with(conn: AsyncConnection, *, user_id: int, others: Iterable[int]) -> set[int]:
    """Which of ``others`` have a block with ``user_id``, in either direction."""
    ids = sorted(set(others))
    if not ids:
        return set()
    stmt = select(blocks.c.blocker_id, blocks.c.blocked_id).where(
        or_(
            and_(blocks.c.blocker_id == user_id, blocks.c.blocked_id.in_(ids)),
            and_(blocks.c.blocked_id == user_id, blocks.c.blocker_id.in_(ids)),
        )
    )
    return {r[1] if r[0] == user_id else r[0] for r in await conn.execute(stmt)}


async def blocks_among(conn: AsyncConnection, *, user_ids: set[int]) -> set[tuple[int, int]]:
    """Every (blocker, blocked) pair between these users."""
    ids = sorted(user_ids)
    stmt = select(blocks.c.blocker_id, blocks.c.blocked_id).where(
        blocks.c.blocker_id.in_(ids), blocks.c.blocked_id.in_(ids)
    )
    return {(r[0], r[1]) for r in await conn.execute(stmt)}


_DM_BLOCKS = text(
    "SELECT t.cid, t.uid FROM unnest(CAST(:cids AS bigint[]), CAST(:uids AS bigint[])) AS t(cid, uid) "
    "JOIN members m ON m.conversation_id = t.cid AND m.user_id <> t.uid "
    "JOIN blocks b ON (b.blocker_id = t.uid AND b.blocked_id = m.user_id) "
    "OR (b.blocker_id = m.user_id AND b.blocked_id = t.uid)"
).bindparams(bindparam("cids"), bindparam("uids"))


async def blocked_direct_senders(conn: AsyncConnection, *, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of (direct conversation, sender) pairs, those where a block stands between the two people."""
    if not pairs:
        return set()
    return {(r[0], r[1]) for r in await conn.execute(_DM_BLOCKS, _columns(pairs))}


# --- slow mode ----------------------------------------------------------------------------------


async def set_slow_mode(conn: AsyncConnection, *, conversation_id: int, seconds: int) -> None:
    await conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(slow_mode_s=seconds))


async def slow_mode(conn: AsyncConnection, *, conversation_id: int) -> int:
    stmt = select(conversations.c.slow_mode_s).where(conversations.c.id == conversation_id)
    return int((await conn.execute(stmt)).scalar_one())


_SLOW_MODE_STATE = text(
    "SELECT t.cid, t.uid, m.role, u.is_admin, m.last_sent_at "
    "FROM unnest(CAST(:cids AS bigint[]), CAST(:uids AS bigint[])) AS t(cid, uid) "
    "JOIN members m ON m.conversation_id = t.cid AND m.user_id = t.uid "
    "JOIN users u ON u.id = t.uid"
).bindparams(bindparam("cids"), bindparam("uids"))

_MARK_SENT = text(
    "UPDATE members AS m SET last_sent_at = now() "
    "FROM unnest(CAST(:cids AS bigint[]), CAST(:uids AS bigint[])) AS t(cid, uid) "
    "WHERE m.conversation_id = t.cid AND m.user_id = t.uid"
).bindparams(bindparam("cids"), bindparam("uids"))


def _columns(pairs: set[tuple[int, int]]) -> dict[str, list[int]]:
    ordered = sorted(pairs)
    return {"cids": [p[0] for p in ordered], "uids": [p[1] for p in ordered]}


async def slow_mode_state(conn: AsyncConnection, *, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], RowMapping]:
    """For (conversation, sender) pairs: the member's role, whether they are a server admin, and
    when they last sent there (kept on the membership row while slow mode is on)."""
    result = await conn.execute(_SLOW_MODE_STATE, _columns(pairs))
    return {(r["cid"], r["uid"]): r for r in result.mappings()}


async def mark_sent(conn: AsyncConnection, *, pairs: set[tuple[int, int]]) -> None:
    if pairs:
        await conn.execute(_MARK_SENT, _columns(pairs))


async def now(conn: AsyncConnection) -> datetime:
    value: datetime = (await conn.execute(select(func.now()))).scalar_one()
    return value


# --- reports ------------------------------------------------------------------------------------

REPORT_COLS = (
    reports.c.id,
    reports.c.message_id,
    reports.c.conversation_id,
    reports.c.reporter_id,
    reports.c.reason,
    reports.c.created_at,
    reports.c.resolved_at,
    reports.c.resolved_by,
    reports.c.resolution,
)


async def insert_report(
    conn: AsyncConnection, *, message_id: int, conversation_id: int, reporter_id: int, reason: str
) -> RowMapping:
    stmt = (
        pg_insert(reports)
        .values(message_id=message_id, conversation_id=conversation_id, reporter_id=reporter_id, reason=reason)
        .on_conflict_do_update(
            index_elements=[reports.c.message_id, reports.c.reporter_id],
            set_={"reason": reason},
            where=reports.c.resolved_at.is_(None),
        )
        .returning(*REPORT_COLS)
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        # Already reported and resolved: the earlier report stands.
        existing = select(*REPORT_COLS).where(reports.c.message_id == message_id, reports.c.reporter_id == reporter_id)
        row = (await conn.execute(existing)).mappings().one()
    return row


async def report(conn: AsyncConnection, *, report_id: int, for_update: bool = False) -> RowMapping | None:
    stmt = select(*REPORT_COLS).where(reports.c.id == report_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def list_reports(
    conn: AsyncConnection, *, conversation_ids: list[int] | None, include_resolved: bool, limit: int
) -> list[RowMapping]:
    """Reports, newest first; ``conversation_ids`` None means every conversation (server admins)."""
    stmt = (
        select(*REPORT_COLS, messages.c.body, messages.c.sender_id, messages.c.deleted_at)
        .join(messages, messages.c.id == reports.c.message_id)
        .order_by(reports.c.id.desc())
        .limit(limit)
    )
    if conversation_ids is not None:
        stmt = stmt.where(reports.c.conversation_id.in_(conversation_ids))
    if not include_resolved:
        stmt = stmt.where(reports.c.resolved_at.is_(None))
    return list((await conn.execute(stmt)).mappings())


async def resolve_report(conn: AsyncConnection, *, report_id: int, by: int, resolution: str) -> RowMapping:
    stmt = (
        update(reports)
        .where(reports.c.id == report_id)
        .values(resolved_at=func.now(), resolved_by=by, resolution=resolution)
        .returning(*REPORT_COLS)
    )
    return (await conn.execute(stmt)).mappings().one()


async def managed_conversation_ids(conn: AsyncConnection, *, user_id: int) -> list[int]:
    stmt = select(members.c.conversation_id).where(members.c.user_id == user_id, members.c.role.in_(["owner", "admin"]))
    return [r[0] for r in await conn.execute(stmt)]


async def report_recipients(conn: AsyncConnection, *, conversation_id: int) -> set[int]:
    """Who hears of a new report: the conversation's owners and admins, and every server admin."""
    managers = select(members.c.user_id).where(
        members.c.conversation_id == conversation_id, members.c.role.in_(["owner", "admin"])
    )
    admins = select(users.c.id).where(users.c.is_admin, users.c.is_active)
    return {r[0] for r in await conn.execute(managers.union(admins))}


# --- server administration ----------------------------------------------------------------------


async def is_server_admin(conn: AsyncConnection, *, user_id: int) -> bool:
    stmt = select(users.c.is_admin).where(users.c.id == user_id, users.c.is_active)
    return bool((await conn.execute(stmt)).scalar())


async def set_active(conn: AsyncConnection, *, user_id: int, active: bool) -> bool:
    stmt = update(users).where(users.c.id == user_id).values(is_active=active).returning(users.c.id)
    return (await conn.execute(stmt)).first() is not None


async def user_id_by_login(conn: AsyncConnection, *, login: str) -> int | None:
    """The account an operator names by @handle or email."""
    login = login.strip().lower()
    where = users.c.email == login if "@" in login[1:] else users.c.handle == login.removeprefix("@")
    found = (await conn.execute(select(users.c.id).where(where))).scalar()
    return None if found is None else int(found)


async def blocked_by_each(conn: AsyncConnection, *, blocker_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    """blocker id -> the people they blocked (every blocker listed)."""
    stmt = select(blocks.c.blocker_id, blocks.c.blocked_id).where(
        blocks.c.blocker_id == func.any(bindparam("ids", type_=ARRAY(BigInteger)))
    )
    found: dict[int, set[int]] = {uid: set() for uid in blocker_ids}
    for blocker, blocked in await conn.execute(stmt, {"ids": sorted(blocker_ids)}):
        found[blocker].add(blocked)
    return {uid: frozenset(ids) for uid, ids in found.items()}
