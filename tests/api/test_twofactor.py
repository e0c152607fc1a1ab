"""Two-factor authentication over HTTP: TOTP enrolment, the sign-in's second step, recovery codes,
disabling, rate limits, and REQUIRE_2FA. Passkeys are tested in tests/api/test_passkeys.py and in
Chromium (tests/e2e/test_twofactor.py)."""

from __future__ import annotations

import asyncpg
import httpx
import pyotp
import pytest

from tests.api.twofactor_helpers import code, enrol_totp, password_step
from tests.conftest import Server, start_server
from tests.helpers import PASSWORD, signup
from tipline.ratelimit import MemoryLimiter, Rule


async def test_enrol_shows_secret_uri_and_qr_and_changes_nothing_until_confirmed(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    r = await api.post("/me/2fa/totp", headers=user.headers)
    assert r.status_code == 201
    body = r.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Tipline:") and body["secret"] in body["otpauth_uri"]
    assert body["qr_svg"].startswith("data:image/svg+xml")
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == body["secret"]
    # Not confirmed: sign-in still gives a session, and the status says off.
    r = await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200 and "access_token" in r.json()
    status = (await api.get("/me/2fa", headers=user.headers)).json()
    assert status == {"totp": False, "recovery_codes_left": 0, "passkeys": 0, "required": False}
    # A wrong first code does not turn it on.
    r = await api.post("/me/2fa/totp/confirm", headers=user.headers, json={"code": "000000"})
    assert r.status_code == 403 and r.json()["code"] == "second_factor_invalid"


async def test_sign_in_with_totp_then_the_same_code_is_refused(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    assert len(enrolled.recovery_codes) == 10 and len(set(enrolled.recovery_codes)) == 10
    status = (await api.get("/me/2fa", headers=user.headers)).json()
    assert status["totp"] is True and status["recovery_codes_left"] == 10
    # A second enrolment is refused while one is on.
    assert (await api.post("/me/2fa/totp", headers=user.headers)).json()["code"] == "totp_already_enabled"

    challenge = await password_step(api, user)
    body = (await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})).json()
    assert body["methods"] == ["totp", "recovery"] and body["expires_in"] == 300
    # The code the confirmation used (this step) is spent: a replay fails.
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": code(enrolled.secret)})
    assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"
    nxt = code(enrolled.secret, 1)  # the next step: within the drift window
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": nxt})
    assert r.status_code == 200, r.text
    session = r.json()
    assert (await api.get("/me", headers={"Authorization": f"Bearer {session['access_token']}"})).status_code == 200
    # The challenge is used up, and the same code on a new challenge is a replay.
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": nxt})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"
    again = await password_step(api, user)
    r = await api.post("/auth/2fa/verify", json={"challenge": again, "code": nxt})
    assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"


async def test_wrong_codes_end_the_challenge_after_five(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    challenge = await password_step(api, user)
    for _ in range(4):
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": "123456"})
        assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": "123456"})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"
    # Even the right code is too late for that challenge.
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": code(enrolled.secret, 1)})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"


async def test_recovery_code_works_once(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    recovery = enrolled.recovery_codes[0]
    challenge = await password_step(api, user)
    # Spelled loosely (lower case, no dash): still the code.
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": recovery.lower().replace("-", "")})
    assert r.status_code == 200, r.text
    challenge = await password_step(api, user)
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": recovery})
    assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"
    status = (await api.get("/me/2fa", headers=user.headers)).json()
    assert status["recovery_codes_left"] == 9


async def test_codes_are_stored_sealed_and_hashed(api: httpx.AsyncClient, server: Server) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    conn = await asyncpg.connect(server.database_url)
    try:
        sealed = await conn.fetchval("SELECT secret_enc FROM totp_secrets WHERE user_id = $1", user.id)
        hashes = await conn.fetch("SELECT code_hash FROM recovery_codes WHERE user_id = $1", user.id)
    finally:
        await conn.close()
    assert enrolled.secret.encode() not in sealed
    assert len(hashes) == 10
    stored = b"".join(h["code_hash"] for h in hashes)
    assert all(c.encode() not in stored and c.replace("-", "").encode() not in stored for c in enrolled.recovery_codes)


async def test_disable_needs_password_or_code(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    r = await api.post("/me/2fa/totp/disable", headers=user.headers, json={})
    assert r.status_code == 422 and r.json()["code"] == "reauth_required"
    r = await api.post("/me/2fa/totp/disable", headers=user.headers, json={"password": "not the password!"})
    assert r.status_code == 403 and r.json()["code"] == "password_incorrect"
    r = await api.post("/me/2fa/totp/disable", headers=user.headers, json={"code": "000000"})
    assert r.status_code == 403 and r.json()["code"] == "second_factor_invalid"
    r = await api.post("/me/2fa/totp/disable", headers=user.headers, json={"code": code(enrolled.secret, 1)})
    assert r.status_code == 204
    r = await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200 and "access_token" in r.json()
    assert (
        await api.post("/me/2fa/totp/disable", headers=user.headers, json={"password": PASSWORD})
    ).status_code == 404
    # Enrol again and turn it off with the password.
    await enrol_totp(api, user)
    r = await api.post("/me/2fa/totp/disable", headers=user.headers, json={"password": PASSWORD})
    assert r.status_code == 204


async def test_regenerated_recovery_codes_replace_the_old(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    r = await api.post("/me/2fa/recovery-codes", headers=user.headers, json={"password": PASSWORD})
    assert r.status_code == 200
    fresh = r.json()["recovery_codes"]
    challenge = await password_step(api, user)
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": enrolled.recovery_codes[1]})
    assert r.status_code == 401
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": fresh[0]})
    assert r.status_code == 200


async def test_verify_needs_exactly_one_answer(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    await enrol_totp(api, user)
    challenge = await password_step(api, user)
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge})
    assert r.status_code == 422 and r.json()["code"] == "second_factor_missing"
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": "1", "credential": {}})
    assert r.status_code == 422


@pytest.fixture
def limits_on(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setattr(server.rt.limits, "enabled", True)
    monkeypatch.setattr(server.rt.limits, "limiter", MemoryLimiter())
    rules = dict(server.rt.limits.rules)
    rules["twofactor_per_user"] = Rule("twofactor_per_user", 3, 300)
    rules["twofactor_per_ip"] = Rule("twofactor_per_ip", 6, 300)
    monkeypatch.setattr(server.rt.limits, "rules", rules)
    return server


async def test_code_checks_are_rate_limited_per_account_and_ip(api: httpx.AsyncClient, limits_on: Server) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)  # one check (the confirmation)
    statuses = []
    for _ in range(3):
        # A new challenge each time: the per-challenge cap is not what stops this.
        challenge = await password_step(api, user)
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": "123456"})
        statuses.append(r.status_code)
    assert statuses == [401, 401, 429]
    assert int(r.headers["Retry-After"]) >= 1
    # The right code is refused too while the account is limited.
    r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": code(enrolled.secret, 1)})
    assert r.status_code == 429
    # Per IP: another account's guesses from this address run into the IP's limit.
    other = await signup(api)
    await enrol_totp(api, other)
    codes = []
    for _ in range(4):
        challenge = await password_step(api, other)
        codes.append((await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": "1"})).status_code)
    assert 429 in codes


async def test_second_factor_applies_to_a_password_reset(database_url: str) -> None:
    """A reset link proves the mailbox, not the authenticator: the second step still comes."""
    async with start_server(database_url) as srv, httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api:
        user = await signup(api)
        enrolled = await enrol_totp(api, user)
        conn = await asyncpg.connect(database_url)
        try:
            import hashlib

            token = "reset-token-for-2fa-test"
            await conn.execute(
                "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) "
                "VALUES ($1, $2, 'password_reset', now() + interval '1 hour')",
                hashlib.sha256(token.encode()).digest(),
                user.id,
            )
        finally:
            await conn.close()
        r = await api.post("/auth/password/reset", json={"token": token, "new_password": "another long passphrase 7"})
        assert r.status_code == 200 and r.json()["second_factor_required"] is True
        r = await api.post(
            "/auth/2fa/verify", json={"challenge": r.json()["challenge"], "code": code(enrolled.secret, 1)}
        )
        assert r.status_code == 200 and "access_token" in r.json()


async def test_require_2fa_everyone_sends_a_new_session_to_enrolment(database_url: str) -> None:
    async with (
        start_server(database_url, require_2fa="everyone") as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        user = await signup(api)
        r = await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["enrollment_required"] is True
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        user_refresh = r.json()["refresh_token"]
        # Everything but enrolment, /me and sign-out is refused, with a code the client acts on.
        r = await api.get("/conversations", headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "two_factor_enrollment_required"
        assert (await api.get("/me", headers=headers)).status_code == 200
        assert (await api.get("/me/2fa", headers=headers)).json()["required"] is True
        # A refresh keeps the restriction (and says so).
        refreshed = await api.post("/auth/refresh", json={"refresh_token": user_refresh})
        assert refreshed.json()["enrollment_required"] is True
        headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        r = await api.post("/me/2fa/totp", headers=headers)
        secret = r.json()["secret"]
        r = await api.post("/me/2fa/totp/confirm", headers=headers, json={"code": code(secret)})
        assert r.status_code == 200
        # Enrolled: the same session may do everything now, and refreshes say so.
        assert (await api.get("/conversations", headers=headers)).status_code == 200
        refreshed = await api.post("/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
        assert refreshed.json()["enrollment_required"] is False
        # And the last factor may not be removed while the server requires one.
        r = await api.post("/me/2fa/totp/disable", headers=headers, json={"password": PASSWORD})
        assert r.status_code == 409 and r.json()["code"] == "two_factor_required"


async def test_require_2fa_admins_leaves_members_alone(database_url: str) -> None:
    async with (
        start_server(database_url, require_2fa="admins") as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        member = await signup(api)
        admin = await signup(api)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE users SET is_admin = true WHERE id = $1", admin.id)
        finally:
            await conn.close()
        r = await api.post("/auth/signin", json={"email": member.email, "password": PASSWORD})
        assert r.json()["enrollment_required"] is False
        r = await api.post("/auth/signin", json={"email": admin.email, "password": PASSWORD})
        assert r.json()["enrollment_required"] is True
        r = await api.get("/conversations", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert r.status_code == 403 and r.json()["code"] == "two_factor_enrollment_required"


async def test_odd_codes_are_wrong_codes_not_errors(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    await enrol_totp(api, user)
    challenge = await password_step(api, user)
    for odd in ("١٢٣٤٥٦", "12 34 56", "\u00e9\u00e9\u00e9\u00e9\u00e9-\u00e9\u00e9\u00e9\u00e9\u00e9"):
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": odd})
        assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid", (odd, r.text)
