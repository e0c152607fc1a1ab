"""HTTP routes for bot accounts and their tokens (docs/subsystems/integrations.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.tokens import actions
from tipline.domain.tokens.schemas import (
    ApiTokenCreated,
    ApiTokenCreateIn,
    ApiTokenOut,
    BotCreateIn,
    BotOut,
    BotPatchIn,
)

router = APIRouter(prefix="/bots", tags=["integrations"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BotOut)
async def create_bot(body: BotCreateIn, rt: Rt, caller: CurrentCaller) -> BotOut:
    """Create a bot account owned by me (administrators; anyone with `BOTS_BY_USERS=true`).

    `403 bots_admin_only`, `409 handle_taken`."""
    return await actions.do_create_bot(rt, owner_id=caller.user_id, data=body)


@router.get("", response_model=list[BotOut])
async def list_bots(rt: Rt, caller: CurrentCaller) -> list[BotOut]:
    """The bots I own."""
    return await actions.list_bots(rt, owner_id=caller.user_id)


@router.get("/{bot_id}", response_model=BotOut)
async def get_bot(bot_id: IdPath, rt: Rt, caller: CurrentCaller) -> BotOut:
    """One of my bots (an administrator may manage any). Anyone else's: 404 `bot_not_found`."""
    return await actions.managed_bot(rt, caller_id=caller.user_id, bot_id=bot_id)


@router.patch("/{bot_id}", response_model=BotOut)
async def patch_bot(bot_id: IdPath, body: BotPatchIn, rt: Rt, caller: CurrentCaller) -> BotOut:
    return await actions.do_update_bot(rt, caller_id=caller.user_id, bot_id=bot_id, patch=body)


@router.delete("/{bot_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_bot(bot_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    """Deactivate the bot and revoke all its tokens (its sockets close); its messages keep their author."""
    await actions.do_delete_bot(rt, caller_id=caller.user_id, bot_id=bot_id)


@router.post("/{bot_id}/tokens", status_code=status.HTTP_201_CREATED, response_model=ApiTokenCreated)
async def create_bot_token(bot_id: IdPath, body: ApiTokenCreateIn, rt: Rt, caller: CurrentCaller) -> ApiTokenCreated:
    """A token for the bot: how it authenticates over HTTP and WebSocket. Shown once."""
    await actions.managed_bot(rt, caller_id=caller.user_id, bot_id=bot_id)
    return await actions.do_create_token(rt, user_id=bot_id, created_by=caller.user_id, data=body)


@router.get("/{bot_id}/tokens", response_model=list[ApiTokenOut])
async def list_bot_tokens(bot_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[ApiTokenOut]:
    await actions.managed_bot(rt, caller_id=caller.user_id, bot_id=bot_id)
    return await actions.list_tokens(rt, user_id=bot_id)


@router.delete("/{bot_id}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_bot_token(bot_id: IdPath, token_id: uuid.UUID, rt: Rt, caller: CurrentCaller) -> None:
    await actions.managed_bot(rt, caller_id=caller.user_id, bot_id=bot_id)
    await actions.do_revoke_token(rt, user_id=bot_id, token_id=token_id)
