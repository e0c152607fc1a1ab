"""SQL for personal access tokens and bots. Every function takes the connection explicitly."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import sessions, users
from tipline.domain.tokens.models import api_tokens

TOKEN_COLS = (
    sessions.c.id,
    api_tokens.c.name,
    api_tokens.c.scopes,
    sessions.c.created_at,
    sessions.c.last_used_at,
    sessions.c.expires_at,
)


async def insert_token(
    conn: AsyncConnection,
    *,
    session_id: uuid.UUID,
    user_id: int,
    token_hash: bytes,
    name: str,
    scopes: list[str],
    expires_at: datetime,
    created_by: int,
) -> RowMapping:
    await conn.execute(
        insert(sessions).values(
            id=session_id, user_id=user_id, expires_at=expires_at, kind="token", user_agent="", ip=""
        )
    )
    await conn.execute(
        insert(api_tokens).values(
            session_id=session_id, token_hash=token_hash, name=name, scopes=scopes, created_by=created_by
        )
    )
    row = await token_by_id(conn, user_id=user_id, token_id=session_id)
    assert row is not None
    return row


def _live_tokens(user_id: int) -> Select[Any]:
    return (
        select(*TOKEN_COLS)
        .select_from(api_tokens.join(sessions, sessions.c.id == api_tokens.c.session_id))
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > func.now())
    )


async def list_tokens(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    """The user's tokens still working, newest first."""
    stmt = _live_tokens(user_id).order_by(sessions.c.created_at.desc(), sessions.c.id)
    return list((await conn.execute(stmt)).mappings())


async def token_by_id(conn: AsyncConnection, *, user_id: int, token_id: uuid.UUID) -> RowMapping | None:
    stmt = _live_tokens(user_id).where(sessions.c.id == token_id)
    row: RowMapping | None = (await conn.execute(stmt)).mappings().first()
    return row


async def token_state(conn: AsyncConnection, *, token_hash: bytes) -> RowMapping | None:
    """A presented token's session, scopes and liveness in one read (``access.check_session`` shape)."""
    stmt = (
        select(
            api_tokens.c.session_id,
            api_tokens.c.scopes,
            sessions.c.user_id,
            sessions.c.revoked_at,
            sessions.c.expires_at,
            sessions.c.created_at,
            sessions.c.last_used_at,
            sessions.c.enrol_only,
            users.c.is_active,
        )
        .select_from(
            api_tokens.join(sessions, sessions.c.id == api_tokens.c.session_id).join(
                users, users.c.id == sessions.c.user_id
            )
        )
        .where(api_tokens.c.token_hash == token_hash)
    )
    return (await conn.execute(stmt)).mappings().first()


async def touch_token(conn: AsyncConnection, *, session_id: uuid.UUID) -> None:
    # At most once a minute per token (and at its first use): "last used" is for people, not an
    # audit log, and a busy bot must not write a row version per call.
    await conn.execute(
        update(sessions)
        .where(
            sessions.c.id == session_id,
            (sessions.c.last_used_at == sessions.c.created_at)
            | (sessions.c.last_used_at < func.now() - text("interval '1 minute'")),
        )
        .values(last_used_at=func.now())
    )


# --- bots ---------------------------------------------------------------------------------------

BOT_COLS = (
    users.c.id,
    users.c.handle,
    users.c.display_name,
    users.c.is_bot,
    users.c.bot_description,
    users.c.owner_id,
    users.c.created_at,
)


async def insert_bot(
    conn: AsyncConnection, *, handle: str, display_name: str, description: str, owner_id: int
) -> RowMapping | None:
    """A bot account: no email, no password (it cannot sign in; it uses tokens). None if the handle is taken."""
    stmt = (
        pg_insert(users)
        .values(
            email=None,
            password_hash=None,
            handle=handle,
            display_name=display_name,
            is_bot=True,
            owner_id=owner_id,
            bot_description=description,
            email_verified_at=None,
        )
        .on_conflict_do_nothing()
        .returning(*BOT_COLS)
    )
    return (await conn.execute(stmt)).mappings().first()


async def bots_of(conn: AsyncConnection, *, owner_id: int) -> list[RowMapping]:
    stmt = (
        select(*BOT_COLS)
        .where(users.c.is_bot, users.c.owner_id == owner_id, users.c.is_active)
        .order_by(users.c.created_at, users.c.id)
    )
    return list((await conn.execute(stmt)).mappings())


async def bot_by_id(conn: AsyncConnection, *, bot_id: int) -> RowMapping | None:
    stmt = select(*BOT_COLS).where(users.c.id == bot_id, users.c.is_bot, users.c.is_active)
    return (await conn.execute(stmt)).mappings().first()


async def update_bot(conn: AsyncConnection, *, bot_id: int, values: dict[str, str]) -> RowMapping | None:
    stmt = update(users).where(users.c.id == bot_id, users.c.is_bot).values(**values).returning(*BOT_COLS)
    return (await conn.execute(stmt)).mappings().first()


async def deactivate_bot(conn: AsyncConnection, *, bot_id: int) -> None:
    await conn.execute(update(users).where(users.c.id == bot_id, users.c.is_bot).values(is_active=False))
