"""HTTP routes for "Sign in with <provider>" (OpenID Connect). See docs/subsystems/accounts.md.

The browser goes: GET /auth/oidc/{provider}/start → the provider → GET /auth/oidc/{provider}/callback,
which redirects to the web client with a one-time hand-off code in an HttpOnly cookie (never in
the URL); the web client POSTs /auth/oidc/complete and receives the usual token pair.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from tipline.api.deps import Rt, client_ip, user_agent
from tipline.domain.accounts import actions
from tipline.domain.accounts.schemas import SecondFactorRequired, TokenPair
from tipline.errors import Unauthorized

router = APIRouter(prefix="/auth/oidc", tags=["auth"])

STATE_COOKIE = "tipline_oidc_state"
HANDOFF_COOKIE = "tipline_oidc_handoff"
Token = Annotated[str, Query(min_length=1, max_length=2048)]


class ProviderOut(BaseModel):
    name: str
    display_name: str
    start_url: str


def _set_cookie(
    response: Response, request: Request, rt: Rt, name: str, value: str, *, max_age: int, path: str
) -> None:
    """HttpOnly (no script reads it), Secure behind https, and SameSite=Lax: it must come back on the
    provider's top-level redirect to the callback, and never on another site's POST."""
    secure = rt.settings.public_url.startswith("https://") or request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, secure=secure, samesite="lax")


@router.get("/providers", response_model=list[ProviderOut])
async def providers(rt: Rt) -> list[ProviderOut]:
    """The sign-in providers this server offers (public: the sign-in page shows a button for each)."""
    return [
        ProviderOut(name=p.name, display_name=p.display_name, start_url=f"/auth/oidc/{p.name}/start")
        for p in rt.oidc.providers.values()
    ]


@router.get("/{provider}/start", status_code=302, response_class=RedirectResponse)
async def start(provider: str, rt: Rt, request: Request) -> Response:
    """Redirect the browser to the provider (authorization code flow with PKCE, state and nonce)."""
    await rt.limits.check("signin_per_ip", client_ip(request))
    begun = await actions.do_oidc_start(rt, provider_name=provider)
    response = RedirectResponse(begun.authorization_url, status_code=302)
    _set_cookie(
        response,
        request,
        rt,
        STATE_COOKIE,
        begun.browser_token,
        max_age=rt.settings.oidc_state_ttl_s,
        path="/auth/oidc",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/{provider}/callback", status_code=303, response_class=RedirectResponse)
async def callback(
    provider: str,
    rt: Rt,
    request: Request,
    state: Token,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=128)] = None,
    browser_token: Annotated[str | None, Cookie(alias=STATE_COOKIE)] = None,
) -> Response:
    """Where the provider sends the browser back: check state, exchange the code, verify the ID token."""
    if error is not None or code is None:
        raise Unauthorized(f"the sign-in provider did not sign you in ({error or 'no code'})", code="oidc_denied")
    handoff = await actions.do_oidc_callback(
        rt, provider_name=provider, state=state, code=code, browser_token=browser_token
    )
    response = RedirectResponse("/?signin=oidc", status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/auth/oidc")
    _set_cookie(
        response, request, rt, HANDOFF_COOKIE, handoff, max_age=actions.HANDOFF_TTL_S, path="/auth/oidc/complete"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/complete", response_model=TokenPair | SecondFactorRequired)
async def complete(
    rt: Rt,
    request: Request,
    response: Response,
    handoff: Annotated[str | None, Cookie(alias=HANDOFF_COOKIE)] = None,
) -> TokenPair | SecondFactorRequired:
    """Exchange the hand-off cookie set by the callback for an access token and a refresh token
    (or, for an account with a second factor, a challenge for `POST /auth/2fa/verify`)."""
    response.delete_cookie(HANDOFF_COOKIE, path="/auth/oidc/complete")
    response.headers["Cache-Control"] = "no-store"
    if not handoff:
        raise Unauthorized("no sign-in to complete", code="oidc_handoff_invalid")
    return await actions.do_oidc_complete(rt, handoff=handoff, user_agent=user_agent(request), ip=client_ip(request))
