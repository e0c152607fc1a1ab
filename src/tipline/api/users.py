"""HTTP routes for my profile and other users' public profiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tipline.api.deps import CurrentCaller, Rt
from tipline.domain.accounts import actions
from tipline.domain.accounts.schemas import MeOut, ProfilePatch, UserOut
from tipline.domain.conversations.actions import get_presence

router = APIRouter(tags=["users"])
UserIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/me", response_model=MeOut)
async def get_me(rt: Rt, caller: CurrentCaller) -> MeOut:
    return await actions.get_me(rt, user_id=caller.user_id)


@router.patch("/me", response_model=MeOut)
async def patch_me(body: ProfilePatch, rt: Rt, caller: CurrentCaller) -> MeOut:
    """Change my display name or @handle."""
    return await actions.do_update_profile(rt, user_id=caller.user_id, patch=body)


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: UserIdPath, rt: Rt, caller: CurrentCaller) -> UserOut:
    return await actions.get_user(rt, user_id=user_id)


@router.get("/users", response_model=UserOut)
async def user_by_handle(
    rt: Rt,
    caller: CurrentCaller,
    handle: Annotated[str, Query(min_length=1, max_length=33, pattern=r"^@?[A-Za-z0-9_]+$")],
) -> UserOut:
    """Look a user up by exact @handle."""
    return await actions.get_user(rt, handle=handle)


@router.get("/presence", response_model=dict[str, str])
async def presence(
    rt: Rt, caller: CurrentCaller, ids: Annotated[str, Query(max_length=2000, pattern=r"^\d+(,\d+)*$")]
) -> dict[str, str]:
    """Presence (online / away / offline) of up to 200 users, by comma-separated ids.

    Only users who share a conversation with the caller are answered; others are left out.
    """
    user_ids = sorted({int(x) for x in ids.split(",") if len(x) < 19})[:200]
    found = await get_presence(rt, user_id=caller.user_id, user_ids=user_ids)
    return {str(uid): status for uid, status in found.items()}
