"""Audited checks for accounts: is this token's session alive, is this account usable."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts import repository as repo
from tipline.domain.accounts.tokens import AccessClaims
from tipline.errors import Unauthorized


async def access_session(conn: AsyncConnection, claims: AccessClaims) -> None:
    """A valid signature is not enough: the session must be live and the account active."""
    state = await repo.session_state(conn, session_id=claims.session_id)
    if state is None:
        raise Unauthorized("unknown session", code="session_revoked")
    if state["user_id"] != claims.user_id:
        raise Unauthorized("invalid access token", code="invalid_token")
    if state["revoked_at"] is not None:
        raise Unauthorized("this session has been signed out", code="session_revoked")
    if state["expires_at"] <= datetime.now(UTC):
        raise Unauthorized("this session has expired", code="session_expired")
    if not state["is_active"]:
        raise Unauthorized("this account is deactivated", code="account_inactive")
