"""Audited checks for accounts: is this token's session alive, is this account usable."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts import repository as repo
from tipline.domain.accounts.tokens import AccessClaims
from tipline.errors import DomainError, Forbidden, Unauthorized

ENROLMENT_REQUIRED = "two_factor_enrollment_required"


async def access_session_enrolling(conn: AsyncConnection, claims: AccessClaims) -> None:
    """``access_session``, but a session that may only enrol a second factor passes."""
    access_enrolling_session(await repo.session_state(conn, session_id=claims.session_id), claims)


async def access_session(conn: AsyncConnection, claims: AccessClaims) -> None:
    """A valid signature is not enough: the session must be live and the account active."""
    check_session(await repo.session_state(conn, session_id=claims.session_id), claims)


def check_session(state: Mapping[Any, Any] | None, claims: AccessClaims) -> None:
    """``access_session`` on a state already read (``user_id``, ``revoked_at``, ``expires_at``,
    ``is_active`` of the token's session), for reads that fetch it with their own check."""
    refusal = session_refusal(state, user_id=claims.user_id)
    if refusal is not None:
        raise refusal


def session_refusal(state: Mapping[Any, Any] | None, *, user_id: int) -> DomainError | None:
    """Why this session may not act for ``user_id`` any more; None while it may."""
    if state is None:
        return Unauthorized("unknown session", code="session_revoked")
    if state["user_id"] != user_id:
        return Unauthorized("invalid access token", code="invalid_token")
    if state["revoked_at"] is not None:
        return Unauthorized("this session has been signed out", code="session_revoked")
    if state["expires_at"] <= datetime.now(UTC):
        return Unauthorized("this session has expired", code="session_expired")
    if not state["is_active"]:
        return Unauthorized("this account is deactivated", code="account_inactive")
    # .get: a state built without the column (unit tests build some) counts as unrestricted.
    if state.get("enrol_only"):
        return Forbidden(
            "this server requires two-factor authentication: enrol an authenticator app or a passkey first",
            code=ENROLMENT_REQUIRED,
        )
    return None


def access_enrolling_session(state: Mapping[Any, Any] | None, claims: AccessClaims) -> None:
    """``check_session`` for the few routes a session that must first enrol a second factor
    (REQUIRE_2FA) may call: enrolment itself, /me, sign-out."""
    refusal = session_refusal(state, user_id=claims.user_id)
    if refusal is not None and refusal.code != ENROLMENT_REQUIRED:
        raise refusal
