"""Wallet actions: issue sign-in nonces, link and unlink wallets, sign in with a wallet.

The only code that writes wallets and nonces. See docs/subsystems/wallets.md.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.accounts.actions import open_session
from tipline.domain.accounts.schemas import TokenPair
from tipline.domain.serversettings.actions import admit_wallet_account
from tipline.domain.wallets import repository as repo
from tipline.domain.wallets.access import access_own_wallet, access_user_wallets
from tipline.domain.wallets.schemas import NonceOut, PublicWalletOut, SiweIn, WalletOut
from tipline.domain.wallets.siwe import SiweMessage, parse_message
from tipline.domain.wallets.verify import check_message, check_signature, expected_domain, expected_uri, new_nonce
from tipline.errors import Conflict, Forbidden, Unauthorized
from tipline.runtime import Runtime


def _wallet(row: RowMapping) -> WalletOut:
    return WalletOut(id=row["id"], address=row["address"], chain_id=row["chain_id"], created_at=row["created_at"])


async def do_issue_nonce(rt: Runtime) -> NonceOut:
    nonce = new_nonce()
    expires_at = datetime.now(UTC) + timedelta(seconds=rt.settings.siwe_nonce_ttl_s)
    async with rt.engine.begin() as conn:
        # Expired nonces are cleared a few at a time as new ones are issued: no sweeper needed.
        await repo.delete_expired_nonces(conn, limit=100)
        await repo.insert_nonce(conn, nonce=nonce, expires_at=expires_at)
    return NonceOut(
        nonce=nonce,
        expires_at=expires_at,
        domain=expected_domain(rt.settings),
        uri=expected_uri(rt.settings),
        chain_id=rt.settings.chain_id,
    )


async def _verified(rt: Runtime, data: SiweIn) -> tuple[SiweMessage, bytes]:
    """Parse and check the message and its signature; the nonce is spent later, in the write."""
    msg = parse_message(data.message)
    check_message(rt.settings, msg)
    await check_signature(rt.settings, msg, data.message, data.signature)
    return msg, hashlib.sha256(data.message.encode()).digest()


async def _spend_nonce(conn: AsyncConnection, *, msg: SiweMessage, message_hash: bytes) -> None:
    if await repo.consume_nonce(conn, nonce=msg.nonce, message_hash=message_hash):
        return
    state = await repo.nonce_state(conn, nonce=msg.nonce)
    if state is None:
        raise Forbidden("this nonce was not issued by this server (or is long gone)", code="siwe_nonce_unknown")
    if state["used_at"] is not None:
        if state["message_hash"] == message_hash:
            raise Conflict("this sign-in message was already used", code="siwe_replayed")
        raise Conflict("this nonce was already used; ask for a new one", code="siwe_nonce_reused")
    raise Forbidden("the nonce has expired; ask for a new one", code="siwe_nonce_expired")


async def do_link_wallet(rt: Runtime, *, user_id: int, data: SiweIn) -> WalletOut:
    """Link the message's address to the caller. Linking one already theirs answers it again."""
    msg, message_hash = await _verified(rt, data)
    address = msg.address.lower()
    async with rt.engine.begin() as conn:
        await _spend_nonce(conn, msg=msg, message_hash=message_hash)
        row = await repo.insert_wallet(conn, user_id=user_id, address=address, chain_id=msg.chain_id)
        if row is None:
            row = await repo.wallet_by_address(conn, address=address)
            if row is None or row["user_id"] != user_id:
                raise Conflict("this wallet is linked to another account", code="wallet_taken")
    return _wallet(row)


class _AddressRaced(Exception):
    """Another first sign-in with the same address created its account first."""


async def _create_wallet_user(conn: AsyncConnection, *, address: str) -> RowMapping:
    """A new account named after the address: @0x1234abcd, with a suffix when that is taken."""
    base = address[:10].lower()
    display_name = f"{address[:6]}…{address[-4:]}"
    handle = base
    while True:
        user = await accounts_repo.insert_user(
            conn, email=None, password_hash=None, handle=handle, display_name=display_name
        )
        if user is not None:
            return user
        handle = f"{base}_{secrets.token_hex(3)}"


async def do_sign_in_with_wallet(rt: Runtime, *, data: SiweIn, user_agent: str, ip: str) -> TokenPair:
    """Sign in with a wallet alone; its first use creates the account. Same tokens as password sign-in."""
    msg, message_hash = await _verified(rt, data)
    address = msg.address.lower()
    user: RowMapping | None = None
    created = False
    for _ in range(2):
        try:
            async with rt.engine.begin() as conn:
                await _spend_nonce(conn, msg=msg, message_hash=message_hash)
                wallet = await repo.wallet_by_address(conn, address=address)
                if wallet is not None:
                    user = await accounts_repo.user_by_id(conn, user_id=wallet["user_id"])
                else:
                    # Refused (rolled back, nonce unspent) where the server settings allow no new accounts.
                    await admit_wallet_account(conn)
                    user = await _create_wallet_user(conn, address=msg.address)
                    created = True
                    linked = await repo.insert_wallet(conn, user_id=user["id"], address=address, chain_id=msg.chain_id)
                    if linked is None:
                        raise _AddressRaced
            break
        except _AddressRaced:
            # Rolled back (the nonce too); the next turn finds the other request's account.
            created = False
            continue
    else:
        # Only if the address was linked and unlinked again between the two turns.
        raise Conflict("this wallet changed accounts while signing in; try again", code="wallet_busy")
    if user is None or not user["is_active"]:
        raise Unauthorized("this account is deactivated", code="account_inactive")
    pair = await open_session(rt, user=user, user_agent=user_agent, ip=ip)
    # The client tells the person a new account was made, in case they meant an existing one.
    return pair.model_copy(update={"account_created": created}) if created else pair


async def do_unlink_wallet(rt: Runtime, *, user_id: int, wallet_id: int) -> None:
    async with rt.engine.begin() as conn:
        methods = await repo.lock_user_sign_in_methods(conn, user_id=user_id)
        await access_own_wallet(conn, user_id=user_id, wallet_id=wallet_id)
        assert methods is not None
        has_password, wallet_count = methods
        if not has_password and wallet_count <= 1:
            raise Conflict(
                "this wallet is the only way into this account; link another first", code="last_sign_in_method"
            )
        await repo.delete_wallet(conn, wallet_id=wallet_id, user_id=user_id)


# --- reads ------------------------------------------------------------------------------------


async def list_wallets(rt: Runtime, *, user_id: int) -> list[WalletOut]:
    async with rt.engine.connect() as conn:
        rows = await repo.list_wallets(conn, user_id=user_id)
    return [_wallet(r) for r in rows]


async def list_user_wallets(rt: Runtime, *, user_id: int, owner_id: int) -> list[PublicWalletOut]:
    """A person's linked addresses, oldest first, for their profile card (access_user_wallets)."""
    async with rt.engine.connect() as conn:
        await access_user_wallets(conn, user_id=user_id, owner_id=owner_id)
        rows = await repo.list_wallets(conn, user_id=owner_id)
    return [PublicWalletOut(address=r["address"], chain_id=r["chain_id"]) for r in rows]
