"""Audited moderation checks: blocks between two people, server admins, report handlers.

Other areas call these (direct messages, mentions, tips, history, search, live delivery);
they are the one place that says what a block means. See docs/subsystems/moderation.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import MANAGERS
from tipline.domain.moderation import repository as repo
from tipline.errors import Forbidden, NotFound

BLOCKED = "you cannot do this: one of you has blocked the other"


async def is_blocked_between(conn: AsyncConnection, a: int, b: int) -> bool:
    """True when either user has blocked the other (no DMs, no tips, no mention notices)."""
    return await repo.block_exists(conn, a=a, b=b)


async def require_not_blocked(conn: AsyncConnection, a: int, b: int) -> None:
    if await is_blocked_between(conn, a, b):
        raise Forbidden(BLOCKED, code="blocked")


async def hidden_senders(conn: AsyncConnection, *, viewer_id: int) -> frozenset[int]:
    """Senders whose messages are hidden from ``viewer_id``: the people they blocked."""
    return await repo.blocked_by(conn, blocker_id=viewer_id)


async def unblocked_mentions(conn: AsyncConnection, *, sender_id: int, mention_ids: Iterable[int]) -> list[int]:
    """Mentions that may notify: a block either way silences them."""
    ids = sorted(set(mention_ids))
    if not ids:
        return []
    blocked = await repo.blocked_with(conn, user_id=sender_id, others=ids)
    return [uid for uid in ids if uid not in blocked]


async def require_server_admin(conn: AsyncConnection, *, user_id: int) -> None:
    if not await repo.is_server_admin(conn, user_id=user_id):
        raise Forbidden("only server admins can do this", code="not_a_server_admin")


async def access_report(conn: AsyncConnection, *, user_id: int, report_id: int, for_update: bool = False) -> RowMapping:
    """A report, to a server admin or an owner/admin of its conversation; 404 to anyone else."""
    report = await repo.report(conn, report_id=report_id, for_update=for_update)
    if report is None:
        raise NotFound("report not found", code="report_not_found")
    if await repo.is_server_admin(conn, user_id=user_id):
        return report
    member = await conv_repo.membership(conn, conversation_id=report["conversation_id"], user_id=user_id)
    if member is None or member["role"] not in MANAGERS:
        raise NotFound("report not found", code="report_not_found")
    return report
