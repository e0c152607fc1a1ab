"""Audited checks for wallets: a wallet is changed only by the account it is linked to; its public
address is shown to that account and to people who share a conversation with it."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.conversations import repository as conversations_repo
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


async def access_user_wallets(conn: AsyncConnection, *, user_id: int, owner_id: int) -> None:
    """Whether the caller may see the addresses ``owner_id`` linked: their own, or an active
    account sharing a conversation with them (as presence and the tip dialog's check). Anyone
    else gets the 404 of a missing user, so wallets tell strangers nothing."""
    if owner_id == user_id:
        return
    if await accounts_repo.public_user(conn, user_id=owner_id) is None:
        raise NotFound("user not found", code="user_not_found")
    shared = await conversations_repo.users_sharing_a_conversation(conn, user_id=user_id, others=[owner_id])
    if owner_id not in shared:
        raise NotFound("user not found", code="user_not_found")
