"""SQL for webhooks, slash commands and the delivery outbox. Every function takes the connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.conversations.models import conversations
from tipline.domain.integrations.models import incoming_webhooks, outgoing_webhooks, slash_commands, webhook_deliveries
from tipline.domain.messages.models import messages

BOT = (users.c.handle.label("bot_handle"), users.c.display_name.label("bot_display_name"))


def _with_bot(table: Table) -> Any:
    return select(table, *BOT).select_from(table.join(users, users.c.id == table.c.bot_id))


async def insert_row(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> RowMapping:
    new_id = (await conn.execute(insert(table).values(**values).returning(table.c.id))).scalar_one()
    row = await row_by_id(conn, table, row_id=new_id)
    assert row is not None
    return row


async def row_by_id(conn: AsyncConnection, table: Table, *, row_id: int, for_update: bool = False) -> RowMapping | None:
    stmt = _with_bot(table).where(table.c.id == row_id)
    if for_update:
        stmt = stmt.with_for_update(of=table)
    row: RowMapping | None = (await conn.execute(stmt)).mappings().first()
    return row


async def rows_of_conversation(conn: AsyncConnection, table: Table, *, conversation_id: int) -> list[RowMapping]:
    stmt = _with_bot(table).where(table.c.conversation_id == conversation_id).order_by(table.c.id)
    return list((await conn.execute(stmt)).mappings())


async def update_row(conn: AsyncConnection, table: Table, *, row_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(table).where(table.c.id == row_id).values(**values))


async def delete_row(conn: AsyncConnection, table: Table, *, row_id: int) -> None:
    await conn.execute(delete(table).where(table.c.id == row_id))


async def incoming_by_secret(conn: AsyncConnection, *, hook_id: int, secret_hash: bytes) -> RowMapping | None:
    stmt = select(incoming_webhooks).where(
        incoming_webhooks.c.id == hook_id, incoming_webhooks.c.secret_hash == secret_hash
    )
    row: RowMapping | None = (await conn.execute(stmt)).mappings().first()
    return row


async def touch_incoming(conn: AsyncConnection, *, hook_id: int) -> None:
    await conn.execute(
        update(incoming_webhooks).where(incoming_webhooks.c.id == hook_id).values(last_used_at=func.now())
    )


async def all_commands(conn: AsyncConnection) -> list[RowMapping]:
    return list((await conn.execute(_with_bot(slash_commands).order_by(slash_commands.c.name))).mappings())


async def command_by_name(conn: AsyncConnection, *, name: str) -> RowMapping | None:
    row: RowMapping | None = (
        (await conn.execute(_with_bot(slash_commands).where(slash_commands.c.name == name))).mappings().first()
    )
    return row


async def command_name_taken(conn: AsyncConnection, *, name: str) -> bool:
    return (await conn.execute(select(slash_commands.c.id).where(slash_commands.c.name == name))).first() is not None


async def record_outcome(
    conn: AsyncConnection, table: Table, *, row_id: int, status: int | None, error: str | None, extra: dict[str, Any]
) -> None:
    """A success resets the failure count; a failure adds one and keeps why."""
    failures = 0 if error is None else table.c.failure_count + 1
    values = {"failure_count": failures, "last_status": status, "last_error": None if error is None else error[:1000]}
    await conn.execute(update(table).where(table.c.id == row_id).values(**values, **extra))


# --- the outgoing-webhook scan and outbox -------------------------------------------------------


async def hooks_behind(conn: AsyncConnection, *, limit: int) -> list[RowMapping]:
    """Outgoing webhooks whose conversation has moved past their cursor, locked (SKIP LOCKED: one
    node scans each hook at a time), with the conversation's last seq and name."""
    stmt = (
        select(outgoing_webhooks, conversations.c.last_seq, conversations.c.name.label("conversation_name"))
        .select_from(outgoing_webhooks.join(conversations, conversations.c.id == outgoing_webhooks.c.conversation_id))
        .where(conversations.c.last_seq > outgoing_webhooks.c.cursor_seq)
        .order_by(outgoing_webhooks.c.id)
        .limit(limit)
        .with_for_update(of=outgoing_webhooks, skip_locked=True)
    )
    return list((await conn.execute(stmt)).mappings())


async def messages_between(
    conn: AsyncConnection, *, conversation_id: int, after: int, upto: int, limit: int
) -> list[RowMapping]:
    """Messages with after < seq <= upto (all committed: ``upto`` was read as the last seq), with their
    senders; those of bots are left out (no loops between integrations), as are deleted ones."""
    stmt = (
        select(
            messages.c.id,
            messages.c.seq,
            messages.c.sender_id,
            messages.c.body,
            messages.c.created_at,
            users.c.handle,
            users.c.is_bot,
        )
        .select_from(messages.join(users, users.c.id == messages.c.sender_id))
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.seq > after,
            messages.c.seq <= upto,
            messages.c.deleted_at.is_(None),
        )
        .order_by(messages.c.seq)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())


async def insert_deliveries(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(webhook_deliveries), rows)


async def claim_due(conn: AsyncConnection, *, limit: int, lease_s: float) -> list[RowMapping]:
    """Lease up to ``limit`` due deliveries (SKIP LOCKED: nodes claim different rows), with their hook."""
    due = (
        select(webhook_deliveries.c.id)
        .where(
            webhook_deliveries.c.delivered_at.is_(None),
            webhook_deliveries.c.next_attempt_at.is_not(None),
            webhook_deliveries.c.next_attempt_at <= func.now(),
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    leased = (
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(due))
        .values(
            attempts=webhook_deliveries.c.attempts + 1,
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
        )
        .returning(webhook_deliveries)
        .cte("leased")
    )
    stmt = (
        select(
            leased,
            outgoing_webhooks.c.url,
            outgoing_webhooks.c.secret,
            outgoing_webhooks.c.bot_id,
            outgoing_webhooks.c.conversation_id,
        )
        .select_from(leased.join(outgoing_webhooks, outgoing_webhooks.c.id == leased.c.hook_id))
        .order_by(leased.c.id)
    )
    return list((await conn.execute(stmt)).mappings())


async def finish_delivery(
    conn: AsyncConnection,
    *,
    delivery_id: int,
    attempts: int,
    delivered: bool,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """Record an attempt's outcome if the caller still holds the lease (``attempts`` unchanged since
    it claimed the row); whether it did."""
    values: dict[str, Any] = (
        {"delivered_at": func.now(), "last_error": None}
        if delivered
        else {"last_error": (error or "")[:1000], "next_attempt_at": retry_at}
    )
    stmt = (
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.attempts == attempts,
            webhook_deliveries.c.delivered_at.is_(None),
        )
        .values(**values)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def delivery_state(conn: AsyncConnection, *, hook_id: int) -> list[RowMapping]:
    stmt = select(webhook_deliveries).where(webhook_deliveries.c.hook_id == hook_id).order_by(webhook_deliveries.c.id)
    return list((await conn.execute(stmt)).mappings())
