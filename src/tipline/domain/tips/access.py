"""Audited checks for tips: who may tip whom, and who may see or report an intent."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations import repository as conv_repo
from tipline.domain.tips import repository as repo
from tipline.errors import Conflict, Invalid, NotFound

INTENT_NOT_FOUND = "tip not found"


async def access_own_intent(
    conn: AsyncConnection, *, user_id: int, intent_id: str, for_update: bool = False
) -> RowMapping:
    """An intent its tipper acts on (reporting the transaction); 404 for anyone else."""
    row = await repo.intent(conn, intent_id=intent_id, for_update=for_update)
    if row is None:
        raise NotFound(INTENT_NOT_FOUND, code="tip_not_found")
    if row["tipper_id"] != user_id:
        raise NotFound(INTENT_NOT_FOUND, code="tip_not_found")
    return row


async def access_intent(conn: AsyncConnection, *, user_id: int, intent_id: str) -> RowMapping:
    """An intent its tipper or recipient reads; 404 for anyone else."""
    row = await repo.intent(conn, intent_id=intent_id)
    if row is None:
        raise NotFound(INTENT_NOT_FOUND, code="tip_not_found")
    if user_id not in (row["tipper_id"], row["recipient_id"]):
        raise NotFound(INTENT_NOT_FOUND, code="tip_not_found")
    return row


def require_not_self(*, tipper_id: int, recipient_id: int) -> None:
    if tipper_id == recipient_id:
        raise Invalid("you cannot tip yourself", code="self_tip")


async def require_member(conn: AsyncConnection, *, conversation_id: int, user_id: int) -> None:
    if await conv_repo.membership(conn, conversation_id=conversation_id, user_id=user_id) is None:
        raise Invalid("the recipient is not a member of this conversation", code="recipient_not_member")


async def tipper_wallets(conn: AsyncConnection, *, user_id: int, chain_id: int) -> list[str]:
    addresses = await repo.linked_addresses(conn, user_id=user_id, chain_id=chain_id)
    if not addresses:
        raise Conflict("link a wallet on this chain before tipping", code="tipper_no_wallet")
    return addresses


async def recipient_wallet(conn: AsyncConnection, *, user_id: int, chain_id: int) -> str:
    """The wallet a tip goes to: the recipient's most recently linked one on this chain."""
    addresses = await repo.linked_addresses(conn, user_id=user_id, chain_id=chain_id)
    if not addresses:
        raise Conflict("the recipient has not linked a wallet on this chain yet", code="recipient_no_wallet")
    return addresses[0]
