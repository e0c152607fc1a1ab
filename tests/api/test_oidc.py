"""Sign in with OpenID Connect against a real provider (npm oidc-provider) running on loopback.

Three provider instances: the main one (two clients: Tipline's and another app's), a second one
with the same signing keys but another issuer, and one whose clock runs ten minutes behind so
every ID token it issues has already expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import Server, free_port, make_settings, run_server, start_server
from tests.helpers import capture_logs, signup
from tests.oidc import drive, run_provider
from tipline.errors import Unauthorized

OTHER_REDIRECT = "http://127.0.0.1:1/other-app/callback"


@dataclass
class Env:
    server: Server
    main: str
    second: str
    skewed: str
    secret: str


def _private_jwks() -> dict[str, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    return {"keys": [{**jwk, "kid": "shared-test-key", "use": "sig", "alg": "RS256"}]}


@pytest.fixture(scope="module")
async def env(database_url: str, monkeypatch_module: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(24)

    def clients(name: str) -> list[dict[str, object]]:
        return [
            {"client_id": "tipline", "client_secret": secret, "redirect_uris": [f"{base}/auth/oidc/{name}/callback"]},
            {"client_id": "other-app", "client_secret": "other-secret", "redirect_uris": [OTHER_REDIRECT]},
        ]

    accounts = {
        "unverified": {"email": "victim@example.com", "email_verified": False, "name": "Not Verified"},
        "noemail": {"name": "No Email"},
    }
    jwks = _private_jwks()
    for name in ("main", "second", "skewed"):
        monkeypatch_module.setenv(f"OIDC_{name.upper()}_CLIENT_SECRET", secret)
    async with (
        run_provider(free_port(), clients=clients("main"), accounts=accounts, jwks=jwks) as main,
        run_provider(free_port(), clients=clients("second"), jwks=jwks) as second,
        run_provider(free_port(), clients=clients("skewed"), clock_offset_s=600, id_token_ttl_s=60) as skewed,
    ):
        providers = [
            {"name": "main", "display_name": "Main ID", "issuer": main.issuer, "client_id": "tipline"},
            {"name": "second", "display_name": "Second", "issuer": second.issuer, "client_id": "tipline"},
            {"name": "skewed", "display_name": "Skewed", "issuer": skewed.issuer, "client_id": "tipline"},
        ]
        settings = make_settings(port=port, public_url=base, oidc_providers=json.dumps(providers))
        async with run_server(settings, database_url) as srv:
            yield Env(server=srv, main=main.issuer, second=second.issuer, skewed=skewed.issuer, secret=secret)


@pytest.fixture(scope="module")
def monkeypatch_module() -> AsyncIterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp  # type: ignore[misc]


@pytest.fixture
async def browser(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=env.server.base_url, timeout=30) as client:
        yield client


async def start(browser: httpx.AsyncClient, provider: str = "main") -> str:
    r = await browser.get(f"/auth/oidc/{provider}/start")
    assert r.status_code == 302, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return r.headers["location"]


async def to_callback(browser: httpx.AsyncClient, env: Env, login: str, provider: str = "main") -> str:
    return await drive(browser, await start(browser, provider), stop_at=env.server.base_url, login=login)


async def finish(browser: httpx.AsyncClient, callback: str) -> dict[str, object]:
    r = await browser.get(callback)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/?signin=oidc"
    # Nothing secret in the URL the browser lands on; the hand-off is an HttpOnly cookie.
    handoff = r.headers["set-cookie"]
    assert "tipline_oidc_handoff=" in handoff and "HttpOnly" in handoff
    r = await browser.post("/auth/oidc/complete")
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def sign_in(browser: httpx.AsyncClient, env: Env, login: str, provider: str = "main") -> dict[str, object]:
    return await finish(browser, await to_callback(browser, env, login, provider))


async def identities(env: Env) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(env.server.database_url)
    try:
        return list(await conn.fetch("SELECT provider, subject, user_id FROM oidc_identities ORDER BY user_id"))
    finally:
        await conn.close()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))


# --- the flow -------------------------------------------------------------------------------------


async def test_providers_are_listed_publicly(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/auth/oidc/providers")
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["main", "second", "skewed"]
    assert r.json()[0] == {"name": "main", "display_name": "Main ID", "start_url": "/auth/oidc/main/start"}


async def test_start_uses_pkce_s256_state_and_nonce(browser: httpx.AsyncClient, env: Env) -> None:
    url = await start(browser)
    assert url.startswith(env.main + "/auth?")
    q = parse_qs(urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"]
    assert len(q["code_challenge"][0]) == 43 and len(q["state"][0]) >= 32 and len(q["nonce"][0]) >= 32
    assert q["redirect_uri"] == [f"{env.server.base_url}/auth/oidc/main/callback"]
    assert set(q["scope"][0].split()) == {"openid", "email", "profile"}


async def test_first_sign_in_creates_an_account_and_the_next_reuses_it(browser: httpx.AsyncClient, env: Env) -> None:
    first = await sign_in(browser, env, "newbie")
    user = first["user"]
    assert isinstance(user, dict)
    assert user["handle"] == "newbie" and user["email"] == "newbie@example.com"
    # The pair is Tipline's normal one: it works on the API and refreshes.
    me = await browser.get("/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    r = await browser.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    again = await sign_in(browser, env, "newbie")
    assert again["user"]["id"] == user["id"]  # type: ignore[index]
    assert [(r["provider"], r["subject"], r["user_id"]) for r in await identities(env)] == [
        ("main", "newbie", user["id"])
    ]


async def test_verified_email_links_to_the_existing_account(browser: httpx.AsyncClient, env: Env) -> None:
    async with httpx.AsyncClient(timeout=30, base_url=env.server.base_url) as other:
        existing = await signup(other, "alice")
    assert existing.email == "alice@example.com"
    body = await sign_in(browser, env, "alice")
    assert body["user"]["id"] == existing.id  # type: ignore[index]


async def test_verified_email_takes_over_an_account_never_verified(
    browser: httpx.AsyncClient, env: Env, database_url: str
) -> None:
    """Someone signs up with carol's address (never verified); carol signs in with a provider that
    has verified it. She gets the account, and the squatter's password no longer opens it."""
    squatter = {
        "email": "carol@example.com",
        "password": "squatters passphrase 1",
        "handle": "squatter_c",
        "display_name": "S",
    }
    async with (
        start_server(database_url, email_verification=True) as verifying,
        httpx.AsyncClient(timeout=30, base_url=verifying.base_url) as other,
    ):
        assert (await other.post("/auth/signup", json=squatter)).status_code == 202
        body = await sign_in(browser, env, "carol")
        user = body["user"]
        assert isinstance(user, dict) and user["email"] == "carol@example.com"
        r = await other.post("/auth/signin", json={"email": "carol@example.com", "password": squatter["password"]})
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM email_verifications") == 0
    finally:
        await conn.close()


async def test_unverified_email_does_not_link(browser: httpx.AsyncClient, env: Env) -> None:
    async with httpx.AsyncClient(timeout=30, base_url=env.server.base_url) as other:
        victim = await signup(other, "victim")
    body = await sign_in(browser, env, "unverified")
    user = body["user"]
    assert isinstance(user, dict)
    assert user["id"] != victim.id
    assert user["email"] is None  # an address nobody verified is not recorded either
    assert [r["user_id"] for r in await identities(env)] == [user["id"]]


async def test_claims_from_userinfo_when_the_id_token_has_none(browser: httpx.AsyncClient, env: Env) -> None:
    # oidc-provider keeps profile claims out of code-flow ID tokens; an account without email still works.
    body = await sign_in(browser, env, "noemail")
    assert body["user"]["email"] is None and body["user"]["display_name"] == "No Email"  # type: ignore[index]


async def test_handoff_works_once(browser: httpx.AsyncClient, env: Env) -> None:
    callback = await to_callback(browser, env, "bob")
    r = await browser.get(callback)
    assert r.status_code == 303
    handoff = browser.cookies.get("tipline_oidc_handoff")
    assert handoff
    assert (await browser.post("/auth/oidc/complete")).status_code == 200
    async with httpx.AsyncClient(
        timeout=30, base_url=env.server.base_url, cookies={"tipline_oidc_handoff": handoff}
    ) as replay:
        r = await replay.post("/auth/oidc/complete")
    assert r.status_code == 401 and r.json()["code"] == "oidc_handoff_invalid"
    r = await browser.post("/auth/oidc/complete")  # the cookie was cleared
    assert r.status_code == 401


# --- refusals -------------------------------------------------------------------------------------


async def test_wrong_state_is_refused(browser: httpx.AsyncClient, env: Env) -> None:
    callback = await to_callback(browser, env, "carol")
    r = await browser.get(_with_query(callback, state=secrets.token_urlsafe(32)))
    assert r.status_code == 401 and r.json()["code"] == "oidc_state_invalid"
    assert await identities(env) == []


async def test_replayed_state_is_refused(browser: httpx.AsyncClient, env: Env) -> None:
    callback = await to_callback(browser, env, "dave")
    await finish(browser, callback)
    r = await browser.get(callback)
    assert r.status_code == 401 and r.json()["code"] == "oidc_state_invalid"


async def test_callback_in_another_browser_is_refused(browser: httpx.AsyncClient, env: Env) -> None:
    callback = await to_callback(browser, env, "erin")
    async with httpx.AsyncClient(timeout=30) as elsewhere:  # no state cookie: not the browser that started
        r = await elsewhere.get(callback)
    assert r.status_code == 401 and r.json()["code"] == "oidc_browser_mismatch"
    r = await browser.get(callback)  # and the state is spent
    assert r.status_code == 401 and r.json()["code"] == "oidc_state_invalid"


async def test_bad_nonce_is_refused(browser: httpx.AsyncClient, env: Env) -> None:
    url = _with_query(await start(browser), nonce=secrets.token_urlsafe(32))
    callback = await drive(browser, url, stop_at=env.server.base_url, login="frank")
    r = await browser.get(callback)
    assert r.status_code == 401 and r.json()["code"] == "oidc_nonce_mismatch"
    assert await identities(env) == []


async def test_expired_id_token_is_refused(browser: httpx.AsyncClient, env: Env) -> None:
    callback = await to_callback(browser, env, "grace", provider="skewed")
    r = await browser.get(callback)
    assert r.status_code == 401 and r.json()["code"] == "oidc_token_expired"


async def test_provider_denial_is_refused_with_its_reason(browser: httpx.AsyncClient, env: Env) -> None:
    callback = await to_callback(browser, env, "heidi")
    parts = urlsplit(callback)
    state = parse_qs(parts.query)["state"][0]
    r = await browser.get("/auth/oidc/main/callback", params={"state": state, "error": "access_denied"})
    assert r.status_code == 401 and "access_denied" in r.json()["detail"]


async def test_unknown_provider_is_404(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/auth/oidc/nope/start")
    assert r.status_code == 404 and r.json()["code"] == "oidc_provider_not_found"


async def _id_token_as(issuer: str, client_id: str, secret: str, redirect_uri: str, nonce: str) -> str:
    """Act as a client at the provider ourselves and get a real ID token issued to it."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email",
            "state": "x" * 16,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    async with httpx.AsyncClient(timeout=30) as app:
        callback = await drive(app, f"{issuer}/auth?{query}", stop_at=redirect_uri, login="ivan")
        code = parse_qs(urlsplit(callback).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        r = await app.post(f"{issuer}/token", data=form, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    token: str = r.json()["id_token"]
    return token


async def test_id_token_for_another_client_is_refused(env: Env) -> None:
    nonce = secrets.token_urlsafe(16)
    token = await _id_token_as(env.main, "other-app", "other-secret", OTHER_REDIRECT, nonce)
    oidc = env.server.rt.oidc
    with pytest.raises(Unauthorized) as err:
        await oidc.verify_id_token(oidc.provider("main"), token, nonce=nonce)
    assert err.value.code == "oidc_wrong_audience"
    # The same token is fine for the client it was issued to: the refusal is about the audience.
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "other-app"


async def test_id_token_from_another_issuer_is_refused(env: Env) -> None:
    # The second provider signs with the very same key and has a client "tipline" too: only `iss` differs.
    nonce = secrets.token_urlsafe(16)
    redirect = f"{env.server.base_url}/auth/oidc/second/callback"
    token = await _id_token_as(env.second, "tipline", env.secret, redirect, nonce)
    assert jwt.get_unverified_header(token)["kid"] == "shared-test-key"
    oidc = env.server.rt.oidc
    with pytest.raises(Unauthorized) as err:
        await oidc.verify_id_token(oidc.provider("main"), token, nonce=nonce)
    assert err.value.code == "oidc_wrong_issuer"
    # Checked against the provider that did issue it, it passes: the issuer is what was wrong.
    claims = await oidc.verify_id_token(oidc.provider("second"), token, nonce=nonce)
    assert claims["iss"] == env.second


async def test_token_signed_with_a_symmetric_algorithm_is_refused(env: Env) -> None:
    # "alg confusion": an HMAC token keyed with something public must never pass.
    now = int(time.time())
    claims = {"iss": env.main, "aud": "tipline", "sub": "x", "iat": now, "exp": now + 60, "nonce": "n"}
    token = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "shared-test-key"})
    oidc = env.server.rt.oidc
    with pytest.raises(Unauthorized) as err:
        await oidc.verify_id_token(oidc.provider("main"), token, nonce="n")
    assert err.value.code == "oidc_token_invalid"


async def test_the_flow_logs_no_code_state_or_tokens(browser: httpx.AsyncClient, env: Env) -> None:
    with capture_logs() as out:
        callback = await to_callback(browser, env, "judy")
        r = await browser.get(callback)
        handoff = browser.cookies.get("tipline_oidc_handoff")
        pair = (await browser.post("/auth/oidc/complete")).json()
    assert r.status_code == 303 and handoff
    query = parse_qs(urlsplit(callback).query)
    text = out.getvalue()
    assert "GET /auth/oidc/{provider}/callback 303" in text
    for secret in (query["code"][0], query["state"][0], handoff, pair["access_token"], pair["refresh_token"]):
        assert secret not in text


async def test_server_settings_refuse_new_accounts_not_existing_ones(browser: httpx.AsyncClient, env: Env) -> None:
    """Invite-only or closed sign-up (docs/subsystems/accounts.md, Sign-up modes and invites):
    a provider's sign-in makes no new account, and still signs in an account it is linked to."""
    known = await sign_in(browser, env, "ivan")
    conn = await asyncpg.connect(env.server.database_url)
    try:
        await conn.execute(
            "INSERT INTO server_settings (id, signup_mode) VALUES (1, 'invite_only') "
            "ON CONFLICT (id) DO UPDATE SET signup_mode = 'invite_only'"
        )
        async with httpx.AsyncClient(base_url=env.server.base_url, timeout=30) as fresh:
            r = await fresh.get(await to_callback(fresh, env, "judy"))
            assert (r.status_code, r.json()["code"]) == (403, "signup_closed")
        again = await sign_in(browser, env, "ivan")
        assert again["user"]["id"] == known["user"]["id"]  # type: ignore[index]
        await conn.execute("UPDATE server_settings SET signup_mode = 'open', allowed_email_domains = '{corp.example}'")
        async with httpx.AsyncClient(base_url=env.server.base_url, timeout=30) as fresh:
            r = await fresh.get(await to_callback(fresh, env, "judy"))
            assert (r.status_code, r.json()["code"]) == (403, "email_domain_not_allowed")
        assert [u["handle"] for u in await conn.fetch("SELECT handle FROM users")] == ["ivan"]
    finally:
        await conn.execute("DELETE FROM server_settings")
        await conn.close()
