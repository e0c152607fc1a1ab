"""SQL for wallets and sign-in nonces. Every function takes the connection explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.wallets.models import siwe_nonces, wallets

WALLET = (wallets.c.id, wallets.c.user_id, wallets.c.address, wallets.c.chain_id, wallets.c.created_at)


async def insert_nonce(conn: AsyncConnection, *, nonce: str, expires_at: datetime) -> None:
    await conn.execute(pg_insert(siwe_nonces).values(nonce=nonce, expires_at=expires_at))


async def delete_expired_nonces(conn: AsyncConnection, *, limit: int) -> None:
    doomed = select(siwe_nonces.c.nonce).where(siwe_nonces.c.expires_at < func.now()).limit(limit)
    await conn.execute(delete(siwe_nonces).where(siwe_nonces.c.nonce.in_(doomed.scalar_subquery())))


async def consume_nonce(conn: AsyncConnection, *, nonce: str, message_hash: bytes) -> bool:
    """Mark a live, unused nonce used. Of two concurrent calls for one nonce, one gets True:
    the second UPDATE waits on the first's row lock and then no longer matches."""
    stmt = (
        update(siwe_nonces)
        .where(siwe_nonces.c.nonce == nonce, siwe_nonces.c.used_at.is_(None), siwe_nonces.c.expires_at > func.now())
        .values(used_at=func.now(), message_hash=message_hash)
        .returning(siwe_nonces.c.nonce)
    )
    return (await conn.execute(stmt)).first() is not None


async def nonce_state(conn: AsyncConnection, *, nonce: str) -> RowMapping | None:
    stmt = select(siwe_nonces.c.used_at, siwe_nonces.c.message_hash, siwe_nonces.c.expires_at).where(
        siwe_nonces.c.nonce == nonce
    )
    return (await conn.execute(stmt)).mappings().first()


async def wallet_by_address(conn: AsyncConnection, *, address: str) -> RowMapping | None:
    return (await conn.execute(select(*WALLET).where(wallets.c.address == address))).mappings().first()


async def wallet_by_id(conn: AsyncConnection, *, wallet_id: int) -> RowMapping | None:
    return (await conn.execute(select(*WALLET).where(wallets.c.id == wallet_id))).mappings().first()


async def insert_wallet(conn: AsyncConnection, *, user_id: int, address: str, chain_id: int) -> RowMapping | None:
    """Link an address; None when it is already linked (to anyone)."""
    stmt = (
        pg_insert(wallets)
        .values(user_id=user_id, address=address, chain_id=chain_id)
        .on_conflict_do_nothing(index_elements=[wallets.c.address])
        .returning(*WALLET)
    )
    return (await conn.execute(stmt)).mappings().first()


async def delete_wallet(conn: AsyncConnection, *, wallet_id: int, user_id: int) -> bool:
    stmt = delete(wallets).where(wallets.c.id == wallet_id, wallets.c.user_id == user_id).returning(wallets.c.id)
    return (await conn.execute(stmt)).first() is not None


async def list_wallets(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    stmt = select(*WALLET).where(wallets.c.user_id == user_id).order_by(wallets.c.id)
    return list((await conn.execute(stmt)).mappings())


async def lock_user_sign_in_methods(conn: AsyncConnection, *, user_id: int) -> tuple[bool, int] | None:
    """Lock the user's row (so two unlinks cannot both remove the last way in); return whether
    they have a password and how many wallets they have linked."""
    has_password = users.c.password_hash.is_not(None).label("has_password")
    row = (
        (await conn.execute(select(users.c.id, has_password).where(users.c.id == user_id).with_for_update()))
        .mappings()
        .first()
    )
    if row is None:
        return None
    count = (await conn.execute(select(func.count()).where(wallets.c.user_id == user_id))).scalar_one()
    return bool(row["has_password"]), int(count)
