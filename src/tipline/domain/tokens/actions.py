"""Personal access tokens and bot accounts: the only code here that writes and publishes.

docs/subsystems/integrations.md. A token is a session of kind "token": revoking it revokes the
session (its sockets close on every node, 4001), and its expiry is the session's.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import RowMapping

from tipline.bus.base import topic_user
from tipline.bus.envelope import encode_control
from tipline.bus.on_commit import unit_of_work
from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.accounts.schemas import UserOut
from tipline.domain.tokens import repository as repo
from tipline.domain.tokens.access import PREFIX, access_bot, hash_api_token
from tipline.domain.tokens.schemas import (
    ApiTokenCreated,
    ApiTokenCreateIn,
    ApiTokenOut,
    BotCreateIn,
    BotOut,
    BotPatchIn,
)
from tipline.errors import Conflict, Forbidden, NotFound
from tipline.runtime import Runtime


def _token_out(row: RowMapping) -> ApiTokenOut:
    return ApiTokenOut(
        id=row["id"],
        name=row["name"],
        scopes=list(row["scopes"]),
        created_at=row["created_at"],
        # Both columns default to the inserting transaction's now(): equal means never used.
        last_used_at=None if row["last_used_at"] == row["created_at"] else row["last_used_at"],
        expires_at=row["expires_at"],
    )


def _bot_out(row: RowMapping) -> BotOut:
    return BotOut(
        user=UserOut(id=row["id"], handle=row["handle"], display_name=row["display_name"], is_bot=True),
        description=row["bot_description"],
        owner_id=row["owner_id"],
        created_at=row["created_at"],
    )


# --- tokens -------------------------------------------------------------------------------------


async def do_create_token(rt: Runtime, *, user_id: int, created_by: int, data: ApiTokenCreateIn) -> ApiTokenCreated:
    """A new token for ``user_id`` (the caller, or a bot the caller owns); its secret is returned once."""
    secret = PREFIX + secrets.token_urlsafe(32)
    scopes: list[str] = sorted(set(data.scopes))
    async with rt.engine.begin() as conn:
        row = await repo.insert_token(
            conn,
            session_id=uuid.uuid4(),
            user_id=user_id,
            token_hash=hash_api_token(secret),
            name=data.name,
            scopes=scopes,
            expires_at=datetime.now(UTC) + timedelta(days=data.expires_in_days),
            created_by=created_by,
        )
    return ApiTokenCreated(**_token_out(row).model_dump(), token=secret)


async def list_tokens(rt: Runtime, *, user_id: int) -> list[ApiTokenOut]:
    async with rt.engine.connect() as conn:
        return [_token_out(r) for r in await repo.list_tokens(conn, user_id=user_id)]


async def do_revoke_token(rt: Runtime, *, user_id: int, token_id: uuid.UUID) -> None:
    """Revoke one token of ``user_id``: calls with it fail from the commit on, and its open
    sockets close on every node (the session machinery's ``revoke_session`` control)."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        if await repo.token_by_id(uow.conn, user_id=user_id, token_id=token_id) is None:
            raise NotFound("token not found", code="token_not_found")
        revoked = await accounts_repo.revoke_sessions(
            uow.conn, user_id=user_id, session_id=token_id, reason="token_revoked"
        )
        for sid in revoked:
            uow.outbox.add(
                topic_user(user_id),
                encode_control(
                    {"op": "revoke_session", "user_id": user_id, "session_id": str(sid), "reason": "token_revoked"}
                ),
            )


async def do_touch_token(rt: Runtime, *, session_id: uuid.UUID) -> None:
    async with rt.engine.begin() as conn:
        await repo.touch_token(conn, session_id=session_id)


# --- bots ---------------------------------------------------------------------------------------


async def _caller_is_admin(rt: Runtime, *, user_id: int) -> bool:
    async with rt.engine.connect() as conn:
        me = await accounts_repo.user_by_id(conn, user_id=user_id)
    return bool(me is not None and me["is_admin"])


async def do_create_bot(rt: Runtime, *, owner_id: int, data: BotCreateIn) -> BotOut:
    if not rt.settings.bots_by_users and not await _caller_is_admin(rt, user_id=owner_id):
        raise Forbidden("only administrators may create bots on this server", code="bots_admin_only")
    async with rt.engine.begin() as conn:
        row = await repo.insert_bot(
            conn, handle=data.handle, display_name=data.display_name, description=data.description, owner_id=owner_id
        )
    if row is None:
        raise Conflict("this handle is taken", code="handle_taken")
    return _bot_out(row)


async def list_bots(rt: Runtime, *, owner_id: int) -> list[BotOut]:
    async with rt.engine.connect() as conn:
        return [_bot_out(r) for r in await repo.bots_of(conn, owner_id=owner_id)]


async def managed_bot(rt: Runtime, *, caller_id: int, bot_id: int) -> BotOut:
    """The bot, if the caller may manage it (404 otherwise)."""
    is_admin = await _caller_is_admin(rt, user_id=caller_id)
    async with rt.engine.connect() as conn:
        bot = access_bot(await repo.bot_by_id(conn, bot_id=bot_id), caller_id=caller_id, caller_is_admin=is_admin)
    return _bot_out(bot)


async def do_update_bot(rt: Runtime, *, caller_id: int, bot_id: int, patch: BotPatchIn) -> BotOut:
    await managed_bot(rt, caller_id=caller_id, bot_id=bot_id)
    values: dict[str, str] = {}
    if patch.display_name is not None:
        values["display_name"] = patch.display_name
    if patch.description is not None:
        values["bot_description"] = patch.description
    async with rt.engine.begin() as conn:
        row = (
            await repo.update_bot(conn, bot_id=bot_id, values=values)
            if values
            else await repo.bot_by_id(conn, bot_id=bot_id)
        )
    if row is None:
        raise NotFound("bot not found", code="bot_not_found")
    return _bot_out(row)


async def do_delete_bot(rt: Runtime, *, caller_id: int, bot_id: int) -> None:
    """Deactivate the bot and revoke every token it has (its sockets close on every node).

    The account row stays, so the messages it wrote keep their author; its handle stays taken."""
    await managed_bot(rt, caller_id=caller_id, bot_id=bot_id)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await repo.deactivate_bot(uow.conn, bot_id=bot_id)
        await accounts_repo.revoke_sessions(uow.conn, user_id=bot_id, session_id=None, reason="bot_deleted")
        uow.outbox.add(
            topic_user(bot_id), encode_control({"op": "revoke_user", "user_id": bot_id, "reason": "bot_deleted"})
        )
