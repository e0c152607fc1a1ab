"""HTTP routes for sign-up, sign-in, token refresh, sign-out and sessions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status

from tipline.api.deps import CurrentCaller, Rt, client_ip, user_agent
from tipline.domain.accounts import actions
from tipline.domain.accounts.schemas import RefreshIn, SessionOut, SignInIn, SignUpIn, TokenPair
from tipline.errors import NotFound

router = APIRouter(prefix="/auth", tags=["auth"])


LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "rate limited; see Retry-After"}}


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=TokenPair, responses=LIMITED)
async def sign_up(body: SignUpIn, rt: Rt, request: Request) -> TokenPair:
    """Create an account (email, password, @handle, display name) and sign in."""
    await rt.limits.check("signup_per_ip", client_ip(request))
    return await actions.do_sign_up(rt, data=body, user_agent=user_agent(request), ip=client_ip(request))


@router.post("/signin", response_model=TokenPair, responses=LIMITED)
async def sign_in(body: SignInIn, rt: Rt, request: Request) -> TokenPair:
    """Exchange email and password for an access token and a refresh token (a new session)."""
    await rt.limits.check("signin_per_ip", client_ip(request))
    await rt.limits.check("signin_per_email", body.email.strip().lower())
    return await actions.do_sign_in(
        rt, email=body.email, password=body.password, user_agent=user_agent(request), ip=client_ip(request)
    )


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshIn, rt: Rt) -> TokenPair:
    """Rotate a refresh token. Reusing an old one revokes the session."""
    return await actions.do_refresh(rt, refresh_token=body.refresh_token)


@router.post("/signout", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(rt: Rt, caller: CurrentCaller) -> None:
    """End this session; its sockets close."""
    await actions.do_sign_out(rt, user_id=caller.user_id, session_id=caller.claims.session_id)


@router.post("/signout-all", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out_all(rt: Rt, caller: CurrentCaller) -> None:
    """End every session of this account, on every device."""
    await actions.do_sign_out(rt, user_id=caller.user_id, session_id=None)


sessions_router = APIRouter(prefix="/me/sessions", tags=["auth"])


@sessions_router.get("", response_model=list[SessionOut])
async def list_sessions(rt: Rt, caller: CurrentCaller) -> list[SessionOut]:
    """My signed-in sessions (devices), most recently used first."""
    return await actions.list_sessions(rt, user_id=caller.user_id, current_session_id=caller.session_id)


@sessions_router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: uuid.UUID, rt: Rt, caller: CurrentCaller) -> None:
    """Sign out one of my sessions (another device)."""
    if await actions.do_sign_out(rt, user_id=caller.user_id, session_id=session_id) == 0:
        raise NotFound("session not found", code="session_not_found")
