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
from tests.domain.mail.smtp import Received, SmtpServer
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
        # It points to sign-in (where "Forgot password?" is) and carries no token.
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

        # Not usable before the link is followed, and the answer is a wrong password's: whoever
        # signed up chose this password, so another answer would tell them the address was new
        # (tests/security/test_reset_attacks.py).
        right = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        wrong = await api.post("/auth/signin", json={"email": account["email"], "password": "not the password!"})
        assert right.status_code == wrong.status_code == 401
        assert right.content == wrong.content and wrong.json()["code"] == "invalid_credentials"

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


# --- password reset, email change, unverified accounts (docs/subsystems/accounts.md) ------------


async def mails_to(smtp: SmtpServer, address: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
    """The first ``count`` mails queued for ``address``, once they have arrived: in the order they
    were queued (the worker sends a batch concurrently, so they may arrive in another)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(found := [m for m in smtp.received if m.rcpt_tos == [address]]) < count:
        if loop.time() > deadline:
            raise AssertionError(f"{len(found)} of {count} mails to {address} arrived within {timeout}s")
        await asyncio.sleep(0.02)
    return sorted(found, key=lambda m: m.outbox_id)[:count]


def link_token(link: str, page: str) -> str:
    assert f"/{page}#token=" in link, link  # in the fragment: browsers never send it to a server
    return link.split("#token=", 1)[1]


async def verified(api: httpx.AsyncClient, smtp: SmtpServer, **fields: str) -> tuple[dict[str, str], dict[str, Any]]:
    """A signed-up account whose link was followed, and its first session."""
    account = new_account(**fields)
    assert (await api.post("/auth/signup", json=account)).status_code == 202
    [mail] = await mails_to(smtp, account["email"])
    r = await api.post("/auth/verify", json={"token": token_of(mail.link())})
    assert r.status_code == 201
    return account, r.json()


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_a_reset_link_sets_the_password_once_and_signs_out_everywhere(
    database_url: str, smtp: SmtpServer
) -> None:
    async with verifying(database_url, smtp) as api:
        account, first = await verified(api, smtp)
        second = (await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})).json()

        r = await api.post("/auth/password/forgot", json={"email": account["email"].upper()})
        assert r.status_code == 202 and r.json() == {"status": "reset_requested"}
        [_, mail] = await mails_to(smtp, account["email"], 2)
        assert mail.message["Subject"] == "Reset your Tipline password" and f"@{account['handle']}" in mail.text
        assert f'href="{mail.link()}"' in mail.html and "60 minutes" in mail.text
        token = link_token(mail.link(), "reset")

        # A password the rules refuse spends nothing: the link still works afterwards.
        weak = await api.post("/auth/password/reset", json={"token": token, "new_password": "short"})
        assert weak.status_code == 422 and weak.json()["code"] == "password_too_short"
        new_password = "a brand new passphrase"
        r = await api.post("/auth/password/reset", json={"token": token, "new_password": new_password})
        assert r.status_code == 200
        pair = r.json()
        assert pair["user"]["handle"] == account["handle"]
        assert (await api.get("/me", headers=bearer(pair))).status_code == 200

        # Every earlier session is over, on every device, and their refresh tokens too.
        for old in (first, second):
            me = await api.get("/me", headers=bearer(old))
            assert me.status_code == 401 and me.json()["code"] == "session_revoked"
            assert (await api.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})).status_code == 401
        old_pw = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert old_pw.status_code == 401
        new_pw = await api.post("/auth/signin", json={"email": account["email"], "password": new_password})
        assert new_pw.status_code == 200

        again = await api.post("/auth/password/reset", json={"token": token, "new_password": "yet another passphrase"})
        assert again.status_code == 400 and again.json()["code"] == "reset_used"
        made_up = await api.post("/auth/password/reset", json={"token": "made-up", "new_password": new_password})
        assert made_up.status_code == 400 and made_up.json()["code"] == "reset_invalid"

        # The owner is told, with a way to start over if it was not them.
        [_, _, changed] = await mails_to(smtp, account["email"], 3)
        assert changed.message["Subject"] == "Your Tipline password was changed"
        assert changed.link().endswith("/forgot") and "token" not in changed.text
        conn = await asyncpg.connect(database_url)
        try:
            reasons = await conn.fetch(
                "SELECT revoked_reason FROM sessions WHERE id = ANY($1::uuid[])",
                [first["session_id"], second["session_id"]],
            )
            assert {r["revoked_reason"] for r in reasons} == {"password_reset"}
            # Stored as SHA-256 only: a database leak gives no usable link.
            stored = await conn.fetchval("SELECT token_hash FROM account_tokens")
            assert len(stored) == 32 and token.encode() not in stored
        finally:
            await conn.close()


async def test_forgot_password_answers_the_same_for_any_address(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account, _ = await verified(api, smtp)
        answers = {
            (r.status_code, r.content, r.headers["content-type"])
            for r in [
                await api.post("/auth/password/forgot", json={"email": email})
                for email in (account["email"], "nobody@example.com", "not an address")
            ]
        }
        assert answers == {(202, b'{"status":"reset_requested"}', "application/json")}
        [_, reset] = await mails_to(smtp, account["email"], 2)
        [none] = await mails_to(smtp, "nobody@example.com")
        assert reset.message["Subject"] == "Reset your Tipline password" and link_token(reset.link(), "reset")
        # An address with no account gets no link, only the news (and where to sign up).
        assert none.message["Subject"] == "Your Tipline password reset request"
        assert none.link().endswith("/signup") and "token" not in none.text
        await asyncio.sleep(0.3)
        assert len(smtp.received) == 3  # the verification, the reset link, the "no account here"


async def test_reset_and_resend_requests_wait_for_a_node_that_sends_mail(database_url: str, smtp: SmtpServer) -> None:
    """The answer only stores the request: with no node sending mail it waits in the database, and
    the next node that does settles each request once."""
    async with verifying(database_url, smtp) as api:
        account, _ = await verified(api, smtp)
        unverified = new_account()
        assert (await api.post("/auth/signup", json=unverified)).status_code == 202
        await mails_to(smtp, unverified["email"])
    async with verifying(database_url, smtp, mail_worker=False) as api:
        for email in (account["email"], "nobody@example.com"):
            assert (await api.post("/auth/password/forgot", json={"email": email})).status_code == 202
        assert (await api.post("/auth/verify/resend", json={"email": unverified["email"]})).status_code == 202
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM address_requests") == 3
            assert await conn.fetchval("SELECT count(*) FROM mail_outbox") == 2  # only the two sign-ups'
        finally:
            await conn.close()
        await asyncio.sleep(0.3)
        assert len(smtp.received) == 2
    async with verifying(database_url, smtp):
        [_, reset] = await mails_to(smtp, account["email"], 2)
        [none] = await mails_to(smtp, "nobody@example.com")
        [_, again] = await mails_to(smtp, unverified["email"], 2)
        assert link_token(reset.link(), "reset") and none.link().endswith("/signup") and token_of(again.link())
        await asyncio.sleep(0.3)
        assert len(smtp.received) == 5
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM address_requests") == 0
        finally:
            await conn.close()


async def test_an_expired_or_replaced_reset_link_is_refused(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp, password_reset_ttl_s=600) as api:
        account, _ = await verified(api, smtp)
        # The second request only after the first one's mail arrived: the worker sends a batch's
        # mails concurrently, so two queued together may arrive in either order.
        await api.post("/auth/password/forgot", json={"email": account["email"]})
        await mails_to(smtp, account["email"], 2)
        await api.post("/auth/password/forgot", json={"email": account["email"]})
        [_, older, newer] = await mails_to(smtp, account["email"], 3)
        assert "10 minutes" in newer.text
        body = {"token": link_token(older.link(), "reset"), "new_password": "a brand new passphrase"}
        r = await api.post("/auth/password/reset", json=body)
        assert r.status_code == 400 and r.json()["code"] == "reset_invalid"  # only the latest link works
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
        finally:
            await conn.close()
        body["token"] = link_token(newer.link(), "reset")
        r = await api.post("/auth/password/reset", json=body)
        assert r.status_code == 400 and r.json()["code"] == "reset_expired"
        r = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert r.status_code == 200

        # A day past its expiry a link is swept by the next request (for any address), and is unknown.
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE account_tokens SET expires_at = now() - interval '25 hours'")
            await api.post("/auth/password/forgot", json={"email": "nobody@example.com"})
            await mails_to(smtp, "nobody@example.com")  # settled (with the sweep) in the mail's transaction
            assert await conn.fetchval("SELECT count(*) FROM account_tokens") == 0
        finally:
            await conn.close()
        r = await api.post("/auth/password/reset", json=body)
        assert r.status_code == 400 and r.json()["code"] == "reset_invalid"


async def test_a_reset_verifies_an_account_never_verified(database_url: str, smtp: SmtpServer) -> None:
    """Following a link mailed to the address proves it as well as the verification link does."""
    async with verifying(database_url, smtp) as api:
        account = new_account()
        assert (await api.post("/auth/signup", json=account)).status_code == 202
        [verification] = await mails_to(smtp, account["email"])
        await api.post("/auth/password/forgot", json={"email": account["email"]})
        [_, reset] = await mails_to(smtp, account["email"], 2)
        body = {"token": link_token(reset.link(), "reset"), "new_password": "a brand new passphrase"}
        assert (await api.post("/auth/password/reset", json=body)).status_code == 200
        r = await api.post("/auth/signin", json={"email": account["email"], "password": body["new_password"]})
        assert r.status_code == 200
        # The verification link has nothing left to do.
        r = await api.post("/auth/verify", json={"token": token_of(verification.link())})
        assert r.status_code == 400 and r.json()["code"] == "verification_invalid"


async def test_changing_email_confirms_the_new_address_and_tells_the_old(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account, pair = await verified(api, smtp)
        new_email = f"moved.{account['handle']}@example.org"
        wrong = await api.post(
            "/me/email", headers=bearer(pair), json={"new_email": new_email, "password": "not the password!"}
        )
        assert wrong.status_code == 403 and wrong.json()["code"] == "password_incorrect"
        same = await api.post(
            "/me/email", headers=bearer(pair), json={"new_email": account["email"].upper(), "password": PASSWORD}
        )
        assert same.status_code == 422 and same.json()["code"] == "email_unchanged"
        bad = await api.post("/me/email", headers=bearer(pair), json={"new_email": "nope", "password": PASSWORD})
        assert bad.status_code == 422 and bad.json()["code"] == "email_invalid"
        assert (await api.post("/me/email", json={"new_email": new_email, "password": PASSWORD})).status_code == 401

        r = await api.post("/me/email", headers=bearer(pair), json={"new_email": new_email, "password": PASSWORD})
        assert r.status_code == 202 and r.json() == {"status": "confirmation_sent"}
        [confirm] = await mails_to(smtp, new_email)
        [_, notice] = await mails_to(smtp, account["email"], 2)
        assert confirm.message["Subject"] == "Confirm your new email address for Tipline"
        assert notice.message["Subject"] == "Your Tipline email address is about to change"
        assert new_email in notice.text and "token" not in notice.text and notice.link().endswith("/forgot")
        token = link_token(confirm.link(), "email/confirm")

        # Nothing changes until the link is followed.
        assert (await api.get("/me", headers=bearer(pair))).json()["email"] == account["email"]
        r = await api.post("/auth/email/confirm", json={"token": token})
        assert r.status_code == 200 and r.json() == {"email": new_email}
        assert (await api.get("/me", headers=bearer(pair))).json()["email"] == new_email
        old = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert old.status_code == 401
        assert (await api.post("/auth/signin", json={"email": new_email, "password": PASSWORD})).status_code == 200

        again = await api.post("/auth/email/confirm", json={"token": token})
        assert again.status_code == 400 and again.json()["code"] == "email_change_used"
        made_up = await api.post("/auth/email/confirm", json={"token": "made-up"})
        assert made_up.status_code == 400 and made_up.json()["code"] == "email_change_invalid"


async def test_changing_to_a_taken_address_answers_the_same(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account, pair = await verified(api, smtp)
        other, _ = await verified(api, smtp)
        answers = set()
        for target in (other["email"], f"free.{account['handle']}@example.org"):
            r = await api.post("/me/email", headers=bearer(pair), json={"new_email": target, "password": PASSWORD})
            answers.add((r.status_code, r.content))
        assert answers == {(202, b'{"status":"confirmation_sent"}')}
        [_, taken] = await mails_to(smtp, other["email"], 2)
        assert taken.message["Subject"] == "Someone tried to move a Tipline account to your email address"
        assert "token" not in taken.text and taken.link().endswith("/signin")
        notices = await mails_to(smtp, account["email"], 3)
        assert [m.message["Subject"] for m in notices[1:]] == ["Your Tipline email address is about to change"] * 2
        assert (await api.get("/me", headers=bearer(pair))).json()["email"] == account["email"]


async def test_an_email_change_link_expires_and_a_reset_cancels_it(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account, pair = await verified(api, smtp)
        first, second = (f"{n}.{account['handle']}@example.org" for n in ("one", "two"))
        for target in (first, second):
            r = await api.post("/me/email", headers=bearer(pair), json={"new_email": target, "password": PASSWORD})
            assert r.status_code == 202
        [to_first], [to_second] = await mails_to(smtp, first), await mails_to(smtp, second)
        r = await api.post("/auth/email/confirm", json={"token": link_token(to_first.link(), "email/confirm")})
        assert r.status_code == 400 and r.json()["code"] == "email_change_invalid"  # the newer request replaced it
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
            r = await api.post("/auth/email/confirm", json={"token": link_token(to_second.link(), "email/confirm")})
            assert r.status_code == 400 and r.json()["code"] == "email_change_expired"
            await conn.execute("UPDATE account_tokens SET expires_at = now() + interval '1 hour'")
        finally:
            await conn.close()

        # A reset (the owner taking the account back) cancels a change someone else started.
        await api.post("/auth/password/forgot", json={"email": account["email"]})
        # Found by its link: the notices of the change may still be on their way (mails queued
        # together are sent concurrently, in no set order).
        [reset] = [m for m in await mails_to(smtp, account["email"], 4) if "/reset#token=" in m.text]
        body = {"token": link_token(reset.link(), "reset"), "new_password": "a brand new passphrase"}
        assert (await api.post("/auth/password/reset", json=body)).status_code == 200
        r = await api.post("/auth/email/confirm", json={"token": link_token(to_second.link(), "email/confirm")})
        assert r.status_code == 400 and r.json()["code"] == "email_change_invalid"


async def test_unverified_accounts_allow_signs_in_at_once(database_url: str, smtp: SmtpServer) -> None:
    """UNVERIFIED_ACCOUNTS=allow: a new account is usable before its link is followed, and a later
    sign-up with the same address cannot take it over (it may hold conversations by then)."""
    async with verifying(database_url, smtp, unverified_accounts="allow") as api:
        account = new_account()
        assert (await api.post("/auth/signup", json=account)).status_code == 202
        r = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert r.status_code == 200
        pair = r.json()
        other = new_account(email=account["email"], password="another passphrase 2")
        assert (await api.post("/auth/signup", json=other)).status_code == 202
        [_, second] = await mails_to(smtp, account["email"], 2)
        assert second.message["Subject"] == "Someone tried to sign up to Tipline with your email address"
        assert (await api.get("/me", headers=bearer(pair))).json()["handle"] == account["handle"]
        r = await api.post("/auth/signin", json={"email": account["email"], "password": other["password"]})
        assert r.status_code == 401


async def test_sign_ups_during_a_mail_server_outage_lose_no_mail(database_url: str) -> None:
    """The mail server is down while people sign up: every sign-up is answered at once (the mail
    waits in the outbox, retried with backoff), and when the server is back every verification
    mail arrives, once each, and works. The outage lasts a few seconds here (retry delays
    shortened to match); the worker keeps retrying for as long as it takes (MAIL_RETRY_MAX_S
    caps the delay between attempts, not their number)."""
    smtp = SmtpServer()  # not started: its port refuses connections
    retries = {"mail_retry_base_s": 0.2, "mail_retry_max_s": 0.5}
    async with verifying(database_url, smtp, **retries) as api:
        people = [new_account() for _ in range(6)]
        for person in people:
            started = time.perf_counter()
            assert (await api.post("/auth/signup", json=person)).status_code == 202
            assert time.perf_counter() - started < 5  # answered without waiting for the mail server
        await asyncio.sleep(2.0)  # several failed attempts at each mail
        assert smtp.received == []
        smtp.start()
        try:
            got = await smtp.wait_for(len(people), timeout=30)
            await asyncio.sleep(1.0)  # more worker turns: nothing is sent twice
            assert len(smtp.received) == len(people)
            assert sorted(to for m in got for to in m.rcpt_tos) == sorted(p["email"] for p in people)
            for mail in got:
                assert (await api.post("/auth/verify", json={"token": token_of(mail.link())})).status_code == 201
        finally:
            smtp.stop()
