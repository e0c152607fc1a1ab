"""Audited checks for tokens and bots: is this presented token live, may this caller manage this bot."""

from __future__ import annotations

import hashlib

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.access import session_refusal
from tipline.domain.accounts.tokens import AccessClaims
from tipline.domain.tokens import repository as repo
from tipline.errors import Forbidden, NotFound, Unauthorized

PREFIX = "tlp_"


def is_api_token(token: str) -> bool:
    return token.startswith(PREFIX)


def hash_api_token(token: str) -> bytes:
    """SHA-256 of the random part: the secret has 256 bits of entropy, so no slow hash is needed."""
    return hashlib.sha256(token[len(PREFIX) :].encode()).digest()


async def access_api_token(conn: AsyncConnection, token: str) -> tuple[AccessClaims, RowMapping]:
    """The claims of a presented ``tlp_`` token whose session is live (revocation and expiry at once)."""
    state = await repo.token_state(conn, token_hash=hash_api_token(token))
    if state is None:
        raise Unauthorized("invalid access token", code="invalid_token")
    refusal = session_refusal(state, user_id=state["user_id"])
    if refusal is not None:
        raise refusal
    claims = AccessClaims(
        user_id=state["user_id"],
        session_id=state["session_id"],
        scopes=frozenset(state["scopes"]),
        expires_at=state["expires_at"].timestamp(),
    )
    return claims, state


def require_scope(claims: AccessClaims, needed: str | None) -> None:
    """A signed-in session may do anything its user may; a token only what its scopes name.

    ``needed`` None: the route is open to no token. ``""``: to any token."""
    if claims.scopes is None:
        return
    if needed is None:
        raise Forbidden("personal access tokens cannot call this route", code="insufficient_scope")
    if needed and needed not in claims.scopes:
        raise Forbidden(f"this token lacks the scope {needed}", code="insufficient_scope")


def access_bot(bot: RowMapping | None, *, caller_id: int, caller_is_admin: bool) -> RowMapping:
    """A bot its caller may manage: its owner, or an administrator. Anyone else gets the 404 a
    missing bot gets (which bots exist and whose they are is nobody else's business)."""
    if bot is None:
        raise NotFound("bot not found", code="bot_not_found")
    if bot["owner_id"] != caller_id and not caller_is_admin:
        raise NotFound("bot not found", code="bot_not_found")
    return bot
