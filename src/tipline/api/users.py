"""HTTP routes for my profile and other users' public profiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from tipline.api.deps import CurrentCaller, IdPath, Rt, client_ip
from tipline.api.twofactor import EnrollingCaller
from tipline.domain.accounts import actions
from tipline.domain.accounts.schemas import EmailChangeIn, EmailChangeRequested, MeOut, ProfileOut, ProfilePatch
from tipline.domain.conversations.actions import get_presence

router = APIRouter(tags=["users"])


@router.get("/me", response_model=MeOut)
async def get_me(rt: Rt, caller: EnrollingCaller) -> MeOut:
    """My profile (also answered to a session that must first enrol a second factor, REQUIRE_2FA)."""
    return await actions.get_me(rt, user_id=caller.user_id)


@router.patch("/me", response_model=MeOut)
async def patch_me(body: ProfilePatch, rt: Rt, caller: CurrentCaller) -> MeOut:
    """Change my display name or @handle."""
    return await actions.do_update_profile(rt, user_id=caller.user_id, patch=body)


@router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EmailChangeRequested,
    responses={429: {"description": "rate limited; see Retry-After"}},
)
async def change_email(body: EmailChangeIn, rt: Rt, caller: CurrentCaller, request: Request) -> EmailChangeRequested:
    """Move my account to another email address, confirming my password.

    A link goes to the new address (`PUBLIC_URL/email/confirm#token=…`, then `POST /auth/email/confirm`)
    and a notice to the current one; the address changes only when the link is followed. The answer is
    the same when the new address already has an account (that mailbox is told instead).
    `403 password_incorrect`, `403 password_not_set`, `422 email_invalid`, `422 email_unchanged`.
    """
    await rt.limits.check("reset_per_ip", client_ip(request))
    await rt.limits.check("reset_per_email", actions.address_key(body.new_email))
    await actions.do_request_email_change(rt, user_id=caller.user_id, new_email=body.new_email, password=body.password)
    return EmailChangeRequested()


@router.get("/users/{user_id}", response_model=ProfileOut)
async def get_user(user_id: IdPath, rt: Rt, caller: CurrentCaller) -> ProfileOut:
    return await actions.get_user(rt, user_id=user_id)


@router.get("/users", response_model=ProfileOut)
async def user_by_handle(
    rt: Rt,
    caller: CurrentCaller,
    handle: Annotated[str, Query(min_length=1, max_length=33, pattern=r"^@?[A-Za-z0-9_]+$")],
) -> ProfileOut:
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
