"""HTTP routes for my personal access tokens (docs/subsystems/integrations.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from tipline.api.deps import CurrentCaller, Rt
from tipline.domain.tokens import actions
from tipline.domain.tokens.schemas import ApiTokenCreated, ApiTokenCreateIn, ApiTokenOut

router = APIRouter(prefix="/me/tokens", tags=["integrations"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiTokenCreated)
async def create_token(body: ApiTokenCreateIn, rt: Rt, caller: CurrentCaller) -> ApiTokenCreated:
    """Create a personal access token. The answer carries the token (`tlp_…`) once; only its hash is kept."""
    return await actions.do_create_token(rt, user_id=caller.user_id, created_by=caller.user_id, data=body)


@router.get("", response_model=list[ApiTokenOut])
async def list_tokens(rt: Rt, caller: CurrentCaller) -> list[ApiTokenOut]:
    """My tokens still working (never their secrets), newest first."""
    return await actions.list_tokens(rt, user_id=caller.user_id)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: uuid.UUID, rt: Rt, caller: CurrentCaller) -> None:
    """Revoke one of my tokens: calls with it fail at once and its open sockets close (4001)."""
    await actions.do_revoke_token(rt, user_id=caller.user_id, token_id=token_id)
