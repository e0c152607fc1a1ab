"""Dependencies shared by the HTTP routers: the runtime, the caller, request facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tipline.domain.accounts.access import access_session
from tipline.domain.accounts.tokens import AccessClaims, decode_access_token
from tipline.domain.messages.routing import SendRouter
from tipline.domain.tokens.access import access_api_token, is_api_token, require_scope
from tipline.domain.tokens.actions import do_touch_token
from tipline.domain.tokens.scopes import ROUTE_SCOPES
from tipline.errors import Unauthorized
from tipline.runtime import Runtime
from tipline.storage.db import read_connection

_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from /auth/signin or /auth/refresh, or a personal access token "
    "(`tlp_…`, from POST /me/tokens or POST /bots/{bot_id}/tokens) limited to its scopes: a route a "
    "token's scopes do not cover answers 403 `insufficient_scope` (docs/subsystems/integrations.md). "
    "Tokens are accepted only in this header, never in a URL.",
)

TOUCH_EVERY = timedelta(minutes=1)  # a token's "last used" is kept to the minute


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread handoff on
    # every request for one attribute read.
    rt: Runtime = request.app.state.rt
    return rt


Rt = Annotated[Runtime, Depends(get_runtime)]
# A row id in a URL: PostgreSQL's bigint, so an id past it is a 422, never a database error.
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def get_sends(request: Request) -> SendRouter:
    """This node's send pipeline (tipline.node.Node.router): sends go through it."""
    sends: SendRouter = request.app.state.sends
    return sends


Sends = Annotated[SendRouter, Depends(get_sends)]


@dataclass(frozen=True)
class Caller:
    user_id: int
    session_id: str
    claims: AccessClaims


async def get_token_claims(
    rt: Rt, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AccessClaims:
    """The bearer token's claims, its signature and expiry checked, but not its session.

    A personal access token (``tlp_…``) is checked in full here instead (it is looked up anyway):
    its session live, its scopes covering this route, its own rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: send `Authorization: Bearer <access token>`", code="not_authenticated")
    token = credentials.credentials
    if not is_api_token(token):
        return decode_access_token(rt.settings, rt.jwt_key, token)
    async with read_connection(rt.engine) as conn:
        claims, state = await access_api_token(conn, token)
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    require_scope(claims, ROUTE_SCOPES.get((request.method, path)) if path is not None else None)
    await rt.limits.check("api_per_token", str(claims.session_id))
    if state["last_used_at"] == state["created_at"] or state["last_used_at"] < datetime.now(UTC) - TOUCH_EVERY:
        await do_touch_token(rt, session_id=claims.session_id)
    return claims


async def get_caller(rt: Rt, claims: Annotated[AccessClaims, Depends(get_token_claims)]) -> Caller:
    """Every authenticated call checks the token *and* that its session is still live."""
    async with read_connection(rt.engine) as conn:
        await access_session(conn, claims)
    return Caller(user_id=claims.user_id, session_id=str(claims.session_id), claims=claims)


CurrentCaller = Annotated[Caller, Depends(get_caller)]
# Only for a route whose action checks the session itself in its own query (the session is
# live, the account active: ``messages.access.access_session_reader``); every other route
# takes CurrentCaller.
UncheckedSession = Annotated[AccessClaims, Depends(get_token_claims)]


def client_ip(request: Request) -> str:
    # Proxy headers are honoured only when uvicorn is told to trust the proxy
    # (--forwarded-allow-ips); otherwise this is the socket's peer address.
    return request.client.host if request.client else ""


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:256]
