"""HTTP routes for two-factor authentication (TOTP, recovery codes) and passkeys.

See docs/subsystems/accounts.md (Two-factor authentication and passkeys).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status

from tipline.api.deps import Caller, Rt, client_ip, get_token_claims, user_agent
from tipline.domain.accounts import actions
from tipline.domain.accounts.access import access_session_enrolling
from tipline.domain.accounts.schemas import (
    PasskeyOptions,
    PasskeyOut,
    PasskeyRegisterIn,
    PasskeySignInIn,
    ReauthIn,
    RecoveryCodes,
    SecondFactorPasskeyIn,
    SecondFactorVerifyIn,
    TokenPair,
    TotpConfirmIn,
    TotpEnrolment,
    TwoFactorStatus,
)
from tipline.domain.accounts.tokens import AccessClaims
from tipline.storage.db import read_connection


async def get_enrolling_caller(rt: Rt, claims: Annotated[AccessClaims, Depends(get_token_claims)]) -> Caller:
    """``get_caller``, but a session that must first enrol a second factor (REQUIRE_2FA) passes:
    only the enrolment routes, /me and sign-out take it."""
    async with read_connection(rt.engine) as conn:
        await access_session_enrolling(conn, claims)
    return Caller(user_id=claims.user_id, session_id=str(claims.session_id), claims=claims)


EnrollingCaller = Annotated[Caller, Depends(get_enrolling_caller)]

LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "rate limited; see Retry-After"}}

auth_router = APIRouter(prefix="/auth", tags=["auth"])


@auth_router.post("/2fa/verify", response_model=TokenPair, responses=LIMITED)
async def verify_second_factor(body: SecondFactorVerifyIn, rt: Rt, request: Request) -> TokenPair:
    """The second step of a sign-in: the challenge with a 6-digit code from the authenticator app,
    a recovery code, or a passkey's answer (`credential`, after `POST /auth/2fa/passkey/options`).

    `401 second_factor_invalid` (wrong or already used; 5 of them end the challenge),
    `401 challenge_invalid` (unknown, used or ended), `401 challenge_expired`. Limited per
    account and per client IP.
    """
    await rt.limits.check("twofactor_per_ip", client_ip(request))
    return await actions.do_verify_second_factor(
        rt,
        challenge=body.challenge,
        code=body.code,
        credential=body.credential,
        user_agent=user_agent(request),
        ip=client_ip(request),
    )


@auth_router.post("/2fa/passkey/options", response_model=PasskeyOptions, responses=LIMITED)
async def second_factor_passkey_options(body: SecondFactorPasskeyIn, rt: Rt, request: Request) -> PasskeyOptions:
    """WebAuthn request options to answer a sign-in's second step with one of the account's passkeys."""
    await rt.limits.check("twofactor_per_ip", client_ip(request))
    return await actions.do_second_factor_passkey_options(rt, challenge=body.challenge)


@auth_router.post("/passkey/options", response_model=PasskeyOptions, responses=LIMITED)
async def passkey_sign_in_options(rt: Rt, request: Request) -> PasskeyOptions:
    """Start a passwordless sign-in: WebAuthn request options for any discoverable passkey."""
    await rt.limits.check("signin_per_ip", client_ip(request))
    return await actions.do_passkey_signin_options(rt)


@auth_router.post("/passkey/verify", response_model=TokenPair, responses=LIMITED)
async def passkey_sign_in(body: PasskeySignInIn, rt: Rt, request: Request) -> TokenPair:
    """Finish a passwordless sign-in with the authenticator's answer: a new session.

    `401 passkey_invalid`, `401 challenge_invalid` / `challenge_expired` (each ceremony is single use).
    """
    await rt.limits.check("twofactor_per_ip", client_ip(request))
    return await actions.do_passkey_sign_in(
        rt, flow=body.flow, credential=body.credential, user_agent=user_agent(request), ip=client_ip(request)
    )


me_router = APIRouter(prefix="/me", tags=["auth"])


@me_router.get("/2fa", response_model=TwoFactorStatus)
async def two_factor_status(rt: Rt, caller: EnrollingCaller) -> TwoFactorStatus:
    """My second factors, and whether this server requires one of me."""
    return await actions.get_two_factor_status(rt, user_id=caller.user_id)


@me_router.post("/2fa/totp", status_code=status.HTTP_201_CREATED, response_model=TotpEnrolment)
async def start_totp(rt: Rt, caller: EnrollingCaller) -> TotpEnrolment:
    """Start setting up an authenticator app: a new secret, its otpauth URI and a QR code of it.

    Nothing changes at sign-in until `POST /me/2fa/totp/confirm` gets a code. `409 totp_already_enabled`.
    """
    return await actions.do_start_totp(rt, user_id=caller.user_id)


@me_router.post("/2fa/totp/confirm", response_model=RecoveryCodes, responses=LIMITED)
async def confirm_totp(body: TotpConfirmIn, rt: Rt, caller: EnrollingCaller) -> RecoveryCodes:
    """Turn the authenticator app on with a first code; answers ten single-use recovery codes,
    shown this once. `403 second_factor_invalid`, `409 totp_not_started`."""
    return await actions.do_confirm_totp(rt, user_id=caller.user_id, code=body.code)


@me_router.post("/2fa/totp/disable", status_code=status.HTTP_204_NO_CONTENT, responses=LIMITED)
async def disable_totp(body: ReauthIn, rt: Rt, caller: EnrollingCaller) -> None:
    """Turn the authenticator app off (its recovery codes too), confirmed by my password or a code.

    `403 password_incorrect`, `403 second_factor_invalid`, `404 totp_not_enabled`,
    `409 two_factor_required` (REQUIRE_2FA and no other factor).
    """
    await actions.do_disable_totp(rt, user_id=caller.user_id, password=body.password, code=body.code)


@me_router.post("/2fa/recovery-codes", response_model=RecoveryCodes, responses=LIMITED)
async def regenerate_recovery_codes(body: ReauthIn, rt: Rt, caller: EnrollingCaller) -> RecoveryCodes:
    """Ten new recovery codes (the old ones stop working), confirmed by my password or a code."""
    return await actions.do_regenerate_recovery_codes(
        rt, user_id=caller.user_id, password=body.password, code=body.code
    )


@me_router.get("/passkeys", response_model=list[PasskeyOut])
async def list_passkeys(rt: Rt, caller: EnrollingCaller) -> list[PasskeyOut]:
    return await actions.list_passkeys(rt, user_id=caller.user_id)


@me_router.post("/passkeys/options", response_model=PasskeyOptions)
async def passkey_register_options(rt: Rt, caller: EnrollingCaller) -> PasskeyOptions:
    """Start registering a passkey: WebAuthn creation options (a discoverable credential)."""
    return await actions.do_passkey_register_options(rt, user_id=caller.user_id)


@me_router.post("/passkeys", status_code=status.HTTP_201_CREATED, response_model=PasskeyOut)
async def register_passkey(body: PasskeyRegisterIn, rt: Rt, caller: EnrollingCaller) -> PasskeyOut:
    """Finish registering a passkey with the authenticator's answer.

    `422 passkey_invalid`, `409 passkey_exists`, `401 challenge_invalid` / `challenge_expired`.
    """
    return await actions.do_register_passkey(
        rt, user_id=caller.user_id, flow=body.flow, credential=body.credential, name=body.name
    )


@me_router.delete("/passkeys/{passkey_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_passkey(
    passkey_id: Annotated[str, Path(min_length=1, max_length=1400, pattern=r"^[A-Za-z0-9_-]+$")],
    rt: Rt,
    caller: EnrollingCaller,
) -> None:
    """Remove one of my passkeys. `404 passkey_not_found`, `409 two_factor_required`."""
    await actions.do_delete_passkey(rt, user_id=caller.user_id, passkey_id=passkey_id)
