"""HTTP routes for sign-up, sign-in, token refresh, sign-out and sessions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status

from tipline.api.deps import CurrentCaller, Rt, client_ip, user_agent
from tipline.api.twofactor import EnrollingCaller
from tipline.domain.accounts import actions
from tipline.domain.accounts.schemas import (
    EmailChanged,
    EmailConfirmIn,
    ForgotPasswordIn,
    RefreshIn,
    ResendIn,
    ResetPasswordIn,
    ResetRequested,
    SecondFactorRequired,
    SessionOut,
    SignInIn,
    SignUpAccepted,
    SignUpIn,
    TokenPair,
    VerifyIn,
)
from tipline.errors import NotFound

router = APIRouter(prefix="/auth", tags=["auth"])


LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "rate limited; see Retry-After"}}


@router.post(
    "/signup",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SignUpAccepted | TokenPair,
    responses={
        **LIMITED,
        201: {"model": TokenPair, "description": "signed in at once (EMAIL_VERIFICATION off)"},
        409: {"description": "`handle_taken`; `email_taken` only with EMAIL_VERIFICATION off"},
    },
)
async def sign_up(body: SignUpIn, rt: Rt, request: Request, response: Response) -> SignUpAccepted | TokenPair:
    """Create an account (email, password, @handle, display name).

    With email verification (the default) the answer is `202 {"status": "verification_sent"}`
    whether or not the email already has an account; the mailbox learns the rest. Without it,
    `201` and a session.
    """
    await rt.limits.check("signup_per_ip", client_ip(request))
    result = await actions.do_sign_up(rt, data=body, user_agent=user_agent(request), ip=client_ip(request))
    if isinstance(result, TokenPair):
        response.status_code = status.HTTP_201_CREATED
    return result


@router.post("/verify", status_code=status.HTTP_201_CREATED, response_model=TokenPair | SecondFactorRequired)
async def verify_email(body: VerifyIn, rt: Rt, request: Request) -> TokenPair | SecondFactorRequired:
    """Follow an email verification link (its token): the address is verified and a session starts
    (or, for an account with a second factor, the second step: `POST /auth/2fa/verify`).

    A used or unknown token answers `400 verification_invalid`, an expired one `400 verification_expired`.
    """
    return await actions.do_verify_email(rt, token=body.token, user_agent=user_agent(request), ip=client_ip(request))


@router.post("/verify/resend", status_code=status.HTTP_202_ACCEPTED, response_model=SignUpAccepted, responses=LIMITED)
async def resend_verification(body: ResendIn, rt: Rt, request: Request) -> SignUpAccepted:
    """Mail a new verification link to an address whose account is not verified yet (any earlier link
    stops working). Answers the same whatever the address."""
    await rt.limits.check("signup_per_ip", client_ip(request))
    await actions.do_resend_verification(rt, email=body.email)
    return SignUpAccepted()


@router.post("/password/forgot", status_code=status.HTTP_202_ACCEPTED, response_model=ResetRequested, responses=LIMITED)
async def forgot_password(body: ForgotPasswordIn, rt: Rt, request: Request) -> ResetRequested:
    """Mail a single-use password reset link (to `PUBLIC_URL/reset#token=…`) to the address's account.

    Answers `202 {"status": "reset_requested"}` whatever the address: one with no active account
    gets a mail saying so instead of a link. Limited per client IP and per address.
    """
    await rt.limits.check("reset_per_ip", client_ip(request))
    await rt.limits.check("reset_per_email", actions.address_key(body.email))
    await actions.do_request_password_reset(rt, email=body.email)
    return ResetRequested()


@router.post("/password/reset", response_model=TokenPair | SecondFactorRequired)
async def reset_password(body: ResetPasswordIn, rt: Rt, request: Request) -> TokenPair | SecondFactorRequired:
    """Follow a reset link (its token) with a new password: every session of the account is signed
    out (their sockets close), the address counts as verified, and a new session starts; for an
    account with a second factor the answer is its second step instead (`POST /auth/2fa/verify`).

    `400 reset_invalid` (unknown, or replaced by a newer link), `400 reset_used`, `400 reset_expired`;
    the new password must pass the sign-up rules (`422`).
    """
    return await actions.do_reset_password(
        rt, token=body.token, new_password=body.new_password, user_agent=user_agent(request), ip=client_ip(request)
    )


@router.post("/email/confirm", response_model=EmailChanged)
async def confirm_email_change(body: EmailConfirmIn, rt: Rt) -> EmailChanged:
    """Follow the link mailed to a new address (`POST /me/email`): the account moves to it.

    `400 email_change_invalid`, `400 email_change_used`, `400 email_change_expired`, or
    `409 email_taken` when the address got an account of its own since the link was mailed.
    """
    return await actions.do_confirm_email_change(rt, token=body.token)


@router.post("/signin", response_model=TokenPair | SecondFactorRequired, responses=LIMITED)
async def sign_in(body: SignInIn, rt: Rt, request: Request) -> TokenPair | SecondFactorRequired:
    """Exchange email and password for an access token and a refresh token (a new session).

    For an account with a second factor (an authenticator app or a passkey) the answer is
    `{"second_factor_required": true, "challenge": …, "methods": […], "expires_in": …}` instead:
    no session until `POST /auth/2fa/verify` gets a code (or a passkey's answer) for the challenge.
    """
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
async def sign_out(rt: Rt, caller: EnrollingCaller) -> None:
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
