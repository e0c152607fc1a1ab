"""Attacks on the second factor (docs/security.md, Threat model): brute force of codes, a replayed
code, a reused or expired challenge, another account's challenge, a session that skips enrolment.

Each test performs the attack against a real Tipline (its own server, rate limits on with the
production rules) and fails if it succeeds.
"""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosedError

from tests.api.twofactor_helpers import code, enrol_totp, password_step
from tests.conftest import start_server
from tests.helpers import PASSWORD, signup


async def test_brute_force_of_codes_is_stopped_by_the_limits(database_url: str) -> None:
    """The attack: knowing the password, try all one million codes. The per-account limit (10
    per 5 minutes by default) and the per-challenge cap (5) leave no more than a handful of tries."""
    async with (
        start_server(
            database_url, rate_limits=True, rate_signin_per_ip="1000/60", rate_signin_per_email="1000/60"
        ) as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        user = await signup(api)
        enrolled = await enrol_totp(api, user)  # one code check of the ten
        tried = 0
        refused = 0
        guess = 0
        for _ in range(8):
            challenge = await password_step(api, user)
            for _ in range(5):
                r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": f"{guess:06d}"})
                guess += 1
                if r.status_code == 429:
                    refused += 1
                    break
                assert r.status_code == 401
                tried += 1
        assert tried <= 9 and refused > 0
        # The right code, too, waits out the limit: the guesses cannot be told from the owner.
        challenge = await password_step(api, user)
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": code(enrolled.secret, 1)})
        assert r.status_code == 429


async def test_a_replayed_code_is_refused_even_within_its_window(api: httpx.AsyncClient) -> None:
    """The attack: a code seen over the owner's shoulder (or phished) is used again at once."""
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    seen = code(enrolled.secret, 1)
    first = await password_step(api, user)
    assert (await api.post("/auth/2fa/verify", json={"challenge": first, "code": seen})).status_code == 200
    second = await password_step(api, user)
    r = await api.post("/auth/2fa/verify", json={"challenge": second, "code": seen})
    assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"
    # An earlier step's code (still within the drift window) is refused too: steps only move on.
    r = await api.post("/auth/2fa/verify", json={"challenge": second, "code": code(enrolled.secret)})
    assert r.status_code == 401


async def test_two_racing_uses_of_one_code_give_one_session(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    enrolled = await enrol_totp(api, user)
    seen = code(enrolled.secret, 1)
    challenges = [await password_step(api, user) for _ in range(4)]
    answers = await asyncio.gather(
        *(api.post("/auth/2fa/verify", json={"challenge": c, "code": seen}) for c in challenges)
    )
    assert sorted(r.status_code for r in answers) == [200, 401, 401, 401]


async def test_a_challenge_is_single_use_and_expires(database_url: str) -> None:
    async with (
        start_server(database_url, two_factor_challenge_ttl_s=30) as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        user = await signup(api)
        enrolled = await enrol_totp(api, user)
        challenge = await password_step(api, user)
        ok = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": enrolled.recovery_codes[0]})
        assert ok.status_code == 200
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": enrolled.recovery_codes[1]})
        assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"
        # Expiry: move the challenge's clock back rather than wait.
        challenge = await password_step(api, user)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE auth_challenges SET expires_at = now() - interval '1 second'")
        finally:
            await conn.close()
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": enrolled.recovery_codes[1]})
        assert r.status_code == 401 and r.json()["code"] == "challenge_expired"
        # The recovery code was not spent on the expired challenge.
        challenge = await password_step(api, user)
        r = await api.post("/auth/2fa/verify", json={"challenge": challenge, "code": enrolled.recovery_codes[1]})
        assert r.status_code == 200


async def test_a_challenge_from_another_account_does_not_open_it(api: httpx.AsyncClient) -> None:
    """The attack: the attacker knows the victim's password but has only their own authenticator.
    Their own account's codes answer only their own challenge; a challenge says whose it is."""
    victim = await signup(api)
    attacker = await signup(api)
    await enrol_totp(api, victim)
    mine = await enrol_totp(api, attacker)
    victims_challenge = await password_step(api, victim)
    for answer in (code(mine.secret, 1), mine.recovery_codes[0]):
        r = await api.post("/auth/2fa/verify", json={"challenge": victims_challenge, "code": answer})
        assert r.status_code == 401 and r.json()["code"] == "second_factor_invalid"
    # The attacker's recovery code was not used up on the victim's challenge.
    own = await password_step(api, attacker)
    r = await api.post("/auth/2fa/verify", json={"challenge": own, "code": mine.recovery_codes[0]})
    assert r.status_code == 200 and r.json()["user"]["id"] == attacker.id


async def test_no_session_before_the_second_step(api: httpx.AsyncClient) -> None:
    """The password alone yields nothing that authenticates: no token, and the challenge is not one."""
    user = await signup(api)
    await enrol_totp(api, user)
    r = await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})
    body = r.json()
    assert set(body) == {"second_factor_required", "challenge", "methods", "expires_in"}
    r = await api.get("/me", headers={"Authorization": f"Bearer {body['challenge']}"})
    assert r.status_code == 401


async def test_an_enrol_only_session_cannot_use_the_socket(database_url: str) -> None:
    """REQUIRE_2FA: a session that must enrol first may not open the WebSocket either."""
    from tests.helpers import Ws

    async with (
        start_server(database_url, require_2fa="everyone") as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        user = await signup(api)
        assert (await api.get("/conversations", headers=user.headers)).status_code == 403
        # Refused at once: an error frame, then close code 4001 with the reason.
        with pytest.raises(ConnectionClosedError) as refused:
            ws = await Ws.open(srv.ws_url, user)
            await ws.expect("ready")
        assert refused.value.rcvd is not None
        assert (refused.value.rcvd.code, refused.value.rcvd.reason) == (4001, "two_factor_enrollment_required")
