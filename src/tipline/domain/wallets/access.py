"""Audited checks for wallets: a wallet is read or changed only by the account it is linked to."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.wallets import repository as repo
from tipline.errors import NotFound


async def access_own_wallet(conn: AsyncConnection, *, user_id: int, wallet_id: int) -> RowMapping:
    """The wallet, if it is the caller's. Another account's wallet answers like a missing one."""
    row = await repo.wallet_by_id(conn, wallet_id=wallet_id)
    if row is None:
        raise NotFound("wallet not found", code="wallet_not_found")
    if row["user_id"] != user_id:
        raise NotFound("wallet not found", code="wallet_not_found")
    return row
