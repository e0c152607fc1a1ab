"""Dependencies shared by the HTTP routers: the runtime, the caller, request facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tipline.domain.accounts.access import access_session
from tipline.domain.accounts.tokens import AccessClaims, decode_access_token
from tipline.errors import Unauthorized
from tipline.runtime import Runtime
from tipline.storage.db import read_connection

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/signin or /auth/refresh.")


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


Rt = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Caller:
    user_id: int
    session_id: str
    claims: AccessClaims


async def get_caller(rt: Rt, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """Every authenticated call checks the token *and* that its session is still live."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: send `Authorization: Bearer <access token>`", code="not_authenticated")
    claims = decode_access_token(rt.settings, rt.jwt_key, credentials.credentials)
    async with read_connection(rt.engine) as conn:
        await access_session(conn, claims)
    return Caller(user_id=claims.user_id, session_id=str(claims.session_id), claims=claims)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def client_ip(request: Request) -> str:
    # Proxy headers are honoured only when uvicorn is told to trust the proxy
    # (--forwarded-allow-ips); otherwise this is the socket's peer address.
    return request.client.host if request.client else ""


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:256]
