"""Accounts over HTTP: sign-up, sign-in, refresh rotation and reuse, sign-out, sessions, profile."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import jwt
import orjson
import pytest

from tests.conftest import Server, start_server
from tests.domain.mail.smtp import SmtpServer
from tests.helpers import PASSWORD, signup


async def test_sign_up_then_me(api: httpx.AsyncClient) -> None:
    user = await signup(api, "alice")
    r = await api.get("/me", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["handle"] == "alice" and body["display_name"] == "Alice" and body["email"] == "alice@example.com"
    assert "password_hash" not in body


async def test_sign_up_refuses_short_and_common_passwords(api: httpx.AsyncClient) -> None:
    base = {"email": "p@example.com", "handle": "pwtest", "display_name": "P"}
    r = await api.post("/auth/signup", json={**base, "password": "short"})
    assert r.status_code == 422 and r.json()["code"] == "password_too_short"
    r = await api.post("/auth/signup", json={**base, "password": "iloveyou12"})
    assert r.status_code == 422 and r.json()["code"] == "password_too_common"
    r = await api.post("/auth/signup", json={**base, "password": "1234567890"})
    assert r.status_code == 422 and r.json()["code"] == "password_too_common"
    # Nothing was created.
    r = await api.post("/auth/signin", json={"email": "p@example.com", "password": "short"})
    assert r.status_code == 401


async def test_sign_up_conflicts_without_email_verification(api: httpx.AsyncClient) -> None:
    """EMAIL_VERIFICATION off (the suite's general servers): sign-up signs in at once, so it must
    say when the email is taken (docs/security.md). With verification on, see below."""
    await signup(api, "bob")
    r = await api.post(
        "/auth/signup",
        json={"email": "BOB@example.com", "password": PASSWORD, "handle": "bob2", "display_name": "B"},
    )
    assert r.status_code == 409 and r.json()["code"] == "email_taken"
    r = await api.post(
        "/auth/signup",
        json={"email": "other@example.com", "password": PASSWORD, "handle": "BOB", "display_name": "B"},
    )
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"


async def test_sign_in_same_answer_for_unknown_email_and_wrong_password(api: httpx.AsyncClient) -> None:
    await signup(api, "carol")
    wrong = await api.post("/auth/signin", json={"email": "carol@example.com", "password": "not the password!"})
    unknown = await api.post("/auth/signin", json={"email": "nobody@example.com", "password": "not the password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid email or password", "code": "invalid_credentials"}
    ok = await api.post("/auth/signin", json={"email": "Carol@Example.com", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["user"]["handle"] == "carol"


async def test_refresh_rotates_and_reuse_revokes_the_family(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    r1 = await api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert r1.status_code == 200
    new_refresh = r1.json()["refresh_token"]
    new_access = r1.json()["access_token"]
    assert new_refresh != user.refresh_token
    assert (await api.get("/me", headers={"Authorization": f"Bearer {new_access}"})).status_code == 200
    # The old token comes back: the whole session is revoked.
    reused = await api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reused.status_code == 401 and reused.json()["code"] == "refresh_token_reused"
    after = await api.post("/auth/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401 and after.json()["code"] == "session_revoked"
    me = await api.get("/me", headers={"Authorization": f"Bearer {new_access}"})
    assert me.status_code == 401 and me.json()["code"] == "session_revoked"


async def test_refresh_with_unknown_token(api: httpx.AsyncClient) -> None:
    r = await api.post("/auth/refresh", json={"refresh_token": "made-up"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"


async def test_sign_out_one_and_all(api: httpx.AsyncClient) -> None:
    user = await signup(api)
    second = (await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})).json()
    third = (await api.post("/auth/signin", json={"email": user.email, "password": PASSWORD})).json()
    sessions = (await api.get("/me/sessions", headers=user.headers)).json()
    assert len(sessions) == 3 and sum(s["current"] for s in sessions) == 1

    assert (await api.post("/auth/signout", headers=user.headers)).status_code == 204
    assert (await api.get("/me", headers=user.headers)).status_code == 401
    h2 = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await api.get("/me", headers=h2)).status_code == 200

    # Revoke another device's session by id.
    r = await api.delete(f"/me/sessions/{third['session_id']}", headers=h2)
    assert r.status_code == 204
    h3 = {"Authorization": f"Bearer {third['access_token']}"}
    assert (await api.get("/me", headers=h3)).status_code == 401
    assert (await api.delete(f"/me/sessions/{third['session_id']}", headers=h2)).status_code == 404

    assert (await api.post("/auth/signout-all", headers=h2)).status_code == 204
    assert (await api.get("/me", headers=h2)).status_code == 401
    refreshed = await api.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert refreshed.status_code == 401


async def test_cannot_revoke_someone_elses_session(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    r = await api.delete(f"/me/sessions/{bob.session_id}", headers=alice.headers)
    assert r.status_code == 404
    assert (await api.get("/me", headers=bob.headers)).status_code == 200


async def test_profile_update_and_unique_handle(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api, "alice"), await signup(api, "bobby")
    r = await api.patch("/me", headers=alice.headers, json={"display_name": "  Alice L.  ", "handle": "@Alice_L"})
    assert r.status_code == 200 and r.json()["display_name"] == "Alice L." and r.json()["handle"] == "alice_l"
    r = await api.patch("/me", headers=bob.headers, json={"handle": "alice_l"})
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"
    r = await api.patch("/me", headers=alice.headers, json={"handle": "alice_l"})
    assert r.status_code == 200
    r = await api.get("/users", params={"handle": "@alice_l"}, headers=bob.headers)
    assert r.status_code == 200 and r.json()["id"] == alice.id and "email" not in r.json()


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


async def test_forged_tokens_are_refused(api: httpx.AsyncClient, server: Server) -> None:
    user = await signup(api)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    now = int(time.time())
    key = server.rt.jwt_key
    forged = {
        "none_alg": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "wrong_key": jwt.encode(claims, b"x" * 32, algorithm="HS256"),
        "expired": jwt.encode({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, key, "HS256"),
        "wrong_audience": jwt.encode({**claims, "aud": "someone-else"}, key, algorithm="HS256"),
        "wrong_issuer": jwt.encode({**claims, "iss": "someone-else"}, key, algorithm="HS256"),
        "hs512": jwt.encode(claims, key, algorithm="HS512"),
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        r = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert r.json()["code"] in {"invalid_token", "token_expired"}, name
    assert (await api.get("/me")).status_code == 401


# --- sign-up with email verification (EMAIL_VERIFICATION on, the default) -----------------------


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def verifying(database_url: str, smtp: SmtpServer, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    """A server with email verification on, sending its mail to ``smtp``, and a client for it."""
    settings: dict[str, Any] = {**smtp.settings(), "email_verification": True, **overrides}
    async with start_server(database_url, **settings) as srv, httpx.AsyncClient(base_url=srv.base_url, timeout=30) as c:
        yield c


def new_account(handle: str | None = None, email: str | None = None, password: str = PASSWORD) -> dict[str, str]:
    handle = handle or f"v{uuid.uuid4().hex[:10]}"
    return {"email": email or f"{handle}@example.com", "password": password, "handle": handle, "display_name": "V"}


def token_of(link: str) -> str:
    assert "/verify#token=" in link, link  # in the fragment: browsers never send it to a server
    return link.split("#token=", 1)[1]


async def test_sign_up_does_not_tell_whether_an_email_has_an_account(database_url: str, smtp: SmtpServer) -> None:
    """The attack: sign up with an address to learn whether it has an account. Same status, same
    bytes, similar time (production argon2 cost, so hashing is most of the work); the mailbox
    owner is told by mail."""
    production_hashing = {"argon2_time_cost": 3, "argon2_memory_kib": 65536, "argon2_parallelism": 4}
    async with verifying(database_url, smtp, **production_hashing) as api:
        owner = new_account(email="owner@example.com")
        assert (await api.post("/auth/signup", json=owner)).status_code == 202
        [verification] = await smtp.wait_for(1)
        assert (await api.post("/auth/verify", json={"token": token_of(verification.link())})).status_code == 201

        answers: dict[str, set[tuple[int, bytes, str]]] = {"taken": set(), "new": set()}
        ratios: list[str] = []
        rounds = 0
        # A real difference shows in every round; load from other work on a shared machine does not.
        while rounds < 3:
            rounds += 1
            took: dict[str, list[float]] = {"taken": [], "new": []}
            for i in range(12):
                # Paired and alternating, so load on the machine hits both sides alike.
                for kind in ("taken", "new") if i % 2 == 0 else ("new", "taken"):
                    body = new_account(email="OWNER@example.com" if kind == "taken" else None)
                    start = time.perf_counter()
                    r = await api.post("/auth/signup", json=body)
                    took[kind].append(time.perf_counter() - start)
                    answers[kind].add((r.status_code, r.content, r.headers["content-type"]))
            taken, new = statistics.median(took["taken"]), statistics.median(took["new"])
            ratios.append(f"{taken * 1000:.1f} ms (taken) vs {new * 1000:.1f} ms (new)")
            if max(taken, new) / min(taken, new) < 1.5:
                break
        else:
            raise AssertionError(f"median sign-up times differ in every round: {ratios}")
        assert answers["taken"] == answers["new"] == {(202, b'{"status":"verification_sent"}', "application/json")}

        mails = await smtp.wait_for(1 + 24 * rounds)
        to_owner = [m for m in mails[1:] if m.rcpt_tos == ["owner@example.com"]]
        assert len(to_owner) == 12 * rounds and len(mails) == 1 + 24 * rounds
        assert all(
            m.message["Subject"] == "Someone tried to sign up to Tipline with your email address" for m in to_owner
        )
        # It points to sign-in (there is no password reset yet) and carries no token.
        assert all(m.link().endswith("/signin") and "token" not in m.text for m in to_owner)
        # Nothing was created or changed for the taken address: its owner still signs in.
        r = await api.post("/auth/signin", json={"email": "owner@example.com", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["user"]["handle"] == owner["handle"]


async def test_a_verification_link_signs_in_once(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account = new_account()
        r = await api.post("/auth/signup", json=account)
        assert r.status_code == 202 and r.json() == {"status": "verification_sent"}
        [mail] = await smtp.wait_for(1)
        assert mail.rcpt_tos == [account["email"]] and f"@{account['handle']}" in mail.text
        token = token_of(mail.link())
        assert f'href="{mail.link()}"' in mail.html

        # Not usable before the link is followed; only whoever knows the password learns why.
        r = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert r.status_code == 403 and r.json()["code"] == "email_unverified"
        r = await api.post("/auth/signin", json={"email": account["email"], "password": "not the password!"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"

        r = await api.post("/auth/verify", json={"token": token})
        assert r.status_code == 201
        pair = r.json()
        assert pair["user"]["handle"] == account["handle"] and pair["user"]["email"] == account["email"]
        me = await api.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
        assert me.status_code == 200

        again = await api.post("/auth/verify", json={"token": token})
        assert again.status_code == 400 and again.json()["code"] == "verification_invalid"
        made_up = await api.post("/auth/verify", json={"token": "made-up"})
        assert made_up.status_code == 400 and made_up.json()["code"] == "verification_invalid"
        r = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert r.status_code == 200


async def test_an_expired_link_is_refused_and_resend_mails_a_new_one(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account = new_account()
        assert (await api.post("/auth/signup", json=account)).status_code == 202
        [first] = await smtp.wait_for(1)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE email_verifications SET expires_at = now() - interval '1 second'")
            # Stored as SHA-256 only: a database leak gives no usable link.
            stored = await conn.fetchval("SELECT token_hash FROM email_verifications")
            assert len(stored) == 32 and token_of(first.link()).encode() not in stored
        finally:
            await conn.close()
        r = await api.post("/auth/verify", json={"token": token_of(first.link())})
        assert r.status_code == 400 and r.json()["code"] == "verification_expired"

        r = await api.post("/auth/verify/resend", json={"email": account["email"].upper()})
        assert r.status_code == 202 and r.json() == {"status": "verification_sent"}
        [_, second] = await smtp.wait_for(2)
        assert second.rcpt_tos == [account["email"]]
        assert (await api.post("/auth/verify", json={"token": token_of(second.link())})).status_code == 201


async def test_resend_answers_the_same_for_any_address(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        verified, pending = new_account(), new_account()
        await api.post("/auth/signup", json=verified)
        await api.post("/auth/signup", json=pending)
        mails = await smtp.wait_for(2)
        link = next(m.link() for m in mails if m.rcpt_tos == [verified["email"]])
        assert (await api.post("/auth/verify", json={"token": token_of(link)})).status_code == 201
        addresses = [verified["email"], pending["email"], "nobody@example.com", "not an address"]
        answers = {
            (r.status_code, r.content)
            for r in [await api.post("/auth/verify/resend", json={"email": a}) for a in addresses]
        }
        assert answers == {(202, b'{"status":"verification_sent"}')}
        [resent] = (await smtp.wait_for(3))[2:]
        assert resent.rcpt_tos == [pending["email"]]
        await asyncio.sleep(0.3)
        assert len(smtp.received) == 3
        # The earlier link stopped working when the new one was sent.
        earlier = next(m.link() for m in mails if m.rcpt_tos == [pending["email"]])
        assert (await api.post("/auth/verify", json={"token": token_of(earlier)})).status_code == 400
        assert (await api.post("/auth/verify", json={"token": token_of(resent.link())})).status_code == 201


async def test_a_later_sign_up_takes_over_an_account_never_verified(database_url: str, smtp: SmtpServer) -> None:
    """Someone signs up with another person's address first: their password must not end up on the
    account the address owner verifies."""
    async with verifying(database_url, smtp) as api:
        squatter = new_account(handle="squatter1", email="victim@example.com", password="squatters passphrase 1")
        owner = new_account(handle="victim1", email="victim@example.com")
        assert (await api.post("/auth/signup", json=squatter)).status_code == 202
        assert (await api.post("/auth/signup", json=owner)).status_code == 202
        [first, second] = await smtp.wait_for(2)
        assert (await api.post("/auth/verify", json={"token": token_of(first.link())})).status_code == 400
        r = await api.post("/auth/verify", json={"token": token_of(second.link())})
        assert r.status_code == 201 and r.json()["user"]["handle"] == "victim1"
        bad = await api.post("/auth/signin", json={"email": "victim@example.com", "password": squatter["password"]})
        assert bad.status_code == 401
        ok = await api.post("/auth/signin", json={"email": "victim@example.com", "password": PASSWORD})
        assert ok.status_code == 200


async def test_a_taken_handle_is_still_said(database_url: str, smtp: SmtpServer) -> None:
    """Handles are public (GET /users?handle=), so saying one is taken tells nothing new."""
    async with verifying(database_url, smtp) as api:
        assert (await api.post("/auth/signup", json=new_account(handle="samehandle"))).status_code == 202
        for email in ("samehandle@example.com", "someone.else@example.com"):
            r = await api.post("/auth/signup", json=new_account(handle="SameHandle", email=email))
            assert r.status_code == 409 and r.json()["code"] == "handle_taken"


async def test_a_hanging_mail_server_never_holds_up_sign_up(database_url: str) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts, then never answers

    hang = await asyncio.start_server(silent, "127.0.0.1", 0)
    smtp = SmtpServer(port=hang.sockets[0].getsockname()[1])
    try:
        # A sign-up that waited for this server would take the whole SMTP timeout (a minute).
        async with verifying(database_url, smtp, smtp_timeout_s=60.0) as api:
            for _ in range(3):
                start = time.perf_counter()
                r = await api.post("/auth/signup", json=new_account())
                assert r.status_code == 202 and time.perf_counter() - start < 10
            # The worker does try the server, on its own schedule, after the answers went out.
            async with asyncio.timeout(20):
                while not held:
                    await asyncio.sleep(0.05)
    finally:
        for w in held:
            w.close()
        hang.close()
        await hang.wait_closed()
