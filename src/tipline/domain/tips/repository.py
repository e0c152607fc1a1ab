"""SQL for tips, taking the connection explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, desc, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.tips.models import tip_intents
from tipline.domain.wallets.models import wallets


async def linked_addresses(conn: AsyncConnection, *, user_id: int, chain_id: int) -> list[str]:
    """The user's linked wallet addresses on a chain, most recently linked first (lower case)."""
    stmt = (
        select(wallets.c.address)
        .where(wallets.c.user_id == user_id, wallets.c.chain_id == chain_id)
        .order_by(desc(wallets.c.created_at), desc(wallets.c.id))
    )
    return [str(a).lower() for a in (await conn.execute(stmt)).scalars()]


async def insert_intent(conn: AsyncConnection, *, values: dict[str, Any]) -> RowMapping:
    return (await conn.execute(insert(tip_intents).values(**values).returning(*tip_intents.c))).mappings().one()


async def intent(conn: AsyncConnection, *, intent_id: str, for_update: bool = False) -> RowMapping | None:
    stmt = select(tip_intents).where(tip_intents.c.intent_id == intent_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def intent_by_pk(conn: AsyncConnection, *, id: int) -> RowMapping | None:
    return (await conn.execute(select(tip_intents).where(tip_intents.c.id == id))).mappings().first()


async def transition(
    conn: AsyncConnection, *, id: int, from_states: Sequence[str], values: dict[str, Any]
) -> RowMapping | None:
    """Change an intent only if it is still in one of ``from_states`` (so racing watchers or
    reports cannot apply one change twice); None when it had already moved on."""
    stmt = (
        update(tip_intents)
        .where(tip_intents.c.id == id, tip_intents.c.state.in_(list(from_states)))
        .values(updated_at=func.now(), **values)
        .returning(*tip_intents.c)
    )
    return (await conn.execute(stmt)).mappings().first()


async def watch_list(
    conn: AsyncConnection, *, chain_id: int, contract: str, reorg_depth: int, head: int
) -> list[RowMapping]:
    """What the watcher looks at: reported tips, issued ones past their expiry, and confirmed
    tips not yet seen on the chain at a head ``reorg_depth`` blocks past their own block.

    Which confirmed tips is decided by where they were last verified, not by the current head:
    a watcher that was stopped or behind while the chain reorganised and then grew still
    checks every tip it had not verified that deep, however deep it is now. A chain now
    shorter than where a tip was verified (a new chain, or a reorg deeper than any allowed)
    puts that tip in question again."""
    verified = tip_intents.c.verified_block
    unsettled = verified.is_(None) | (verified < tip_intents.c.block_number + reorg_depth) | (verified > head)
    stmt = (
        select(tip_intents)
        .where(
            tip_intents.c.chain_id == chain_id,
            tip_intents.c.contract == contract,
            or_(
                tip_intents.c.state == "pending",
                (tip_intents.c.state == "created") & (tip_intents.c.expires_at < func.now()),
                (tip_intents.c.state == "confirmed") & unsettled,
            ),
        )
        .order_by(tip_intents.c.id)
    )
    return list((await conn.execute(stmt)).mappings())


async def mark_verified(conn: AsyncConnection, *, tips: Sequence[tuple[int, str]], head: int) -> None:
    """Record that each (id, block_hash) was still on the chain when the head was ``head``; a tip
    that meanwhile left that block is left as it is."""
    stmt = (
        update(tip_intents)
        .where(
            tuple_(tip_intents.c.id, tip_intents.c.block_hash).in_(list(tips)),
            tip_intents.c.state == "confirmed",
        )
        .values(verified_block=head)
    )
    await conn.execute(stmt)


async def issued(conn: AsyncConnection, *, chain_id: int, contract: str, intent_ids: list[str]) -> list[RowMapping]:
    """Intents still waiting for their transaction to be reported, among ``intent_ids``."""
    stmt = select(tip_intents).where(
        tip_intents.c.intent_id.in_(intent_ids),
        tip_intents.c.chain_id == chain_id,
        tip_intents.c.contract == contract,
        tip_intents.c.state == "created",
    )
    return list((await conn.execute(stmt)).mappings())


async def user_tips(
    conn: AsyncConnection, *, user_id: int, direction: str, before: int | None, limit: int | None
) -> list[RowMapping]:
    column = tip_intents.c.tipper_id if direction == "sent" else tip_intents.c.recipient_id
    stmt = select(tip_intents).where(column == user_id)
    if direction == "received":
        # An intent the tipper never followed through is nobody else's business.
        stmt = stmt.where(tip_intents.c.state != "created")
    if before is not None:
        stmt = stmt.where(tip_intents.c.id < before)
    stmt = stmt.order_by(desc(tip_intents.c.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await conn.execute(stmt)).mappings())


async def message_totals(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Confirmed tips per message and token: message id -> [{token, symbol, decimals, total, count}]."""
    if not message_ids:
        return {}
    stmt = (
        select(
            tip_intents.c.message_id,
            tip_intents.c.token,
            tip_intents.c.symbol,
            tip_intents.c.decimals,
            func.sum(tip_intents.c.amount).label("total"),
            func.count().label("count"),
        )
        .where(tip_intents.c.message_id.in_(list(message_ids)), tip_intents.c.state == "confirmed")
        .group_by(tip_intents.c.message_id, tip_intents.c.token, tip_intents.c.symbol, tip_intents.c.decimals)
        .order_by(tip_intents.c.message_id, tip_intents.c.symbol)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["message_id"], []).append(dict(row))
    return out


async def leaderboard(conn: AsyncConnection, *, conversation_id: int, by: str, limit: int) -> list[RowMapping]:
    """Confirmed tip totals in a conversation per user (``by`` recipient or tipper) and token."""
    who = tip_intents.c.recipient_id if by == "recipient" else tip_intents.c.tipper_id
    stmt = (
        select(
            who.label("user_id"),
            tip_intents.c.symbol,
            tip_intents.c.decimals,
            func.sum(tip_intents.c.amount).label("total"),
            func.count().label("count"),
        )
        .where(tip_intents.c.conversation_id == conversation_id, tip_intents.c.state == "confirmed")
        .group_by(who, tip_intents.c.symbol, tip_intents.c.decimals)
        .order_by(tip_intents.c.symbol, desc("total"), who)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())
