"""Attacks on password reset, email change and unverified accounts (docs/security.md, Threat model).

Each test performs the attack against a real Tipline with a real SMTP server (aiosmtpd) and fails
if it succeeds. Expired and replaced links, and the single use of each link, are also covered in
tests/api/test_auth.py (`test_an_expired_or_replaced_reset_link_is_refused`,
`test_an_email_change_link_expires_and_a_reset_cancels_it`).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_auth import bearer, link_token, mails_to, new_account, token_of, verified, verifying
from tests.domain.mail.smtp import SmtpServer
from tests.helpers import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def test_a_flood_of_reset_requests_sends_at_most_three_mails_an_hour(database_url: str, smtp: SmtpServer) -> None:
    """The attack: bury someone's mailbox in reset mails, from many addresses at once."""
    async with verifying(database_url, smtp, rate_limits=True) as api:
        account, _ = await verified(api, smtp)
        base_url = str(api.base_url)
        statuses = []
        # 30 requests from 30 client addresses (all of 127.0.0.0/8 is loopback), in every spelling.
        spellings = [account["email"], account["email"].upper(), f"  {account['email'].title()} "]
        for i in range(30):
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{i + 2}")
            async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30) as client:
                r = await client.post("/auth/password/forgot", json={"email": spellings[i % 3]})
                statuses.append(r.status_code)
        assert statuses.count(202) == 3 and statuses.count(429) == 27, statuses
        limited = await api.post("/auth/password/forgot", json={"email": account["email"]})
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) > 60
        await mails_to(smtp, account["email"], 4)  # the verification and three reset links
        await asyncio.sleep(1.0)  # the worker polls every 50 ms: anything else would have arrived
        assert len([m for m in smtp.received if m.rcpt_tos == [account["email"]]]) == 4

        # One client address cannot go round the limit by naming many mailboxes either.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.1.1")
        async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30) as client:
            codes = [
                (await client.post("/auth/password/forgot", json={"email": f"m{i}@example.com"})).status_code
                for i in range(12)
            ]
        assert codes == [202] * 10 + [429] * 2, codes


async def test_forgot_password_does_not_tell_whether_an_address_has_an_account(
    database_url: str, smtp: SmtpServer
) -> None:
    """Same status, same bytes, about the same time for an address with an account and one without."""
    async with verifying(database_url, smtp) as api:
        account, _ = await verified(api, smtp)
        answers: dict[str, set[tuple[int, bytes, str]]] = {"known": set(), "unknown": set()}
        runs: list[float] = []
        # A real difference shows in every run; load from other work on a shared machine does not.
        for _ in range(3):
            differences: list[float] = []
            for i in range(20):
                # Paired and alternating, so load on the machine hits both sides alike.
                order = ("known", "unknown") if i % 2 == 0 else ("unknown", "known")
                took: dict[str, float] = {}
                for kind in order:
                    email = account["email"] if kind == "known" else f"nobody-{uuid.uuid4().hex[:8]}@example.com"
                    start = time.perf_counter()
                    r = await api.post("/auth/password/forgot", json={"email": email})
                    took[kind] = time.perf_counter() - start
                    answers[kind].add((r.status_code, r.content, r.headers["content-type"]))
                differences.append(took["known"] - took["unknown"])
            runs.append(1000 * abs(statistics.median(differences)))
            if runs[-1] < 2:
                break
        assert answers["known"] == answers["unknown"] == {(202, b'{"status":"reset_requested"}', "application/json")}
        assert min(runs) < 2, f"median forgot-password times differ by {runs} ms (one figure per run)"


async def test_email_change_does_not_tell_whether_the_new_address_has_an_account(
    database_url: str, smtp: SmtpServer
) -> None:
    async with verifying(database_url, smtp) as api:
        _, pair = await verified(api, smtp)
        other, _ = await verified(api, smtp)
        answers: dict[str, set[tuple[int, bytes]]] = {"taken": set(), "free": set()}
        ratios: list[str] = []
        # A real difference shows in every round; load from other work (and this process's own
        # mail worker and SMTP server) does not.
        for _ in range(3):
            took: dict[str, list[float]] = {"taken": [], "free": []}
            for i in range(12):
                for kind in ("taken", "free") if i % 2 == 0 else ("free", "taken"):
                    target = other["email"] if kind == "taken" else f"free-{uuid.uuid4().hex[:8]}@example.org"
                    body = {"new_email": target, "password": PASSWORD}
                    start = time.perf_counter()
                    r = await api.post("/me/email", headers=bearer(pair), json=body)
                    took[kind].append(time.perf_counter() - start)
                    answers[kind].add((r.status_code, r.content))
            taken, free = statistics.median(took["taken"]), statistics.median(took["free"])
            ratios.append(f"{taken * 1000:.1f} ms (taken) vs {free * 1000:.1f} ms (free)")
            if max(taken, free) / min(taken, free) < 1.5:
                break
        else:
            raise AssertionError(f"median email change times differ in every round: {ratios}")
        assert answers["taken"] == answers["free"] == {(202, b'{"status":"confirmation_sent"}')}


async def test_signing_in_after_a_sign_up_does_not_tell_whether_the_address_was_new(
    database_url: str, smtp: SmtpServer
) -> None:
    """The attack: sign up with an address and a password of one's own, then sign in with them. A
    new account (unverified) and an address that already had one must answer alike."""
    async with verifying(database_url, smtp) as api:
        owner, _ = await verified(api, smtp)
        answers = set()
        for email in (owner["email"], f"fresh-{uuid.uuid4().hex[:8]}@example.com"):
            probe = new_account(email=email, password="the probers passphrase")
            assert (await api.post("/auth/signup", json=probe)).status_code == 202
            r = await api.post("/auth/signin", json={"email": email, "password": probe["password"]})
            answers.add((r.status_code, r.content))
        assert answers == {(401, b'{"detail":"invalid email or password","code":"invalid_credentials"}')}


async def test_a_link_works_only_for_its_account_and_its_purpose(database_url: str, smtp: SmtpServer) -> None:
    """Mallory holds links mailed to her own address: none of them touches Victor's account, and
    none works at another link's endpoint."""
    async with verifying(database_url, smtp) as api:
        victor, victor_pair = await verified(api, smtp)
        mallory = new_account()
        assert (await api.post("/auth/signup", json=mallory)).status_code == 202
        [verification] = await mails_to(smtp, mallory["email"])
        await api.post("/auth/password/forgot", json={"email": mallory["email"]})
        [_, reset] = await mails_to(smtp, mallory["email"], 2)
        verify_token, reset_token = token_of(verification.link()), link_token(reset.link(), "reset")

        # A token at the wrong endpoint is unknown there.
        r = await api.post("/auth/password/reset", json={"token": verify_token, "new_password": NEW_PASSWORD})
        assert r.status_code == 400 and r.json()["code"] == "reset_invalid"
        r = await api.post("/auth/email/confirm", json={"token": reset_token})
        assert r.status_code == 400 and r.json()["code"] == "email_change_invalid"
        r = await api.post("/auth/verify", json={"token": reset_token})
        assert r.status_code == 400 and r.json()["code"] == "verification_invalid"

        # Her email change link confirms only her own account's move; Victor's address stays his.
        mallory_pair = (
            await api.post("/auth/password/reset", json={"token": reset_token, "new_password": NEW_PASSWORD})
        ).json()
        assert mallory_pair["user"]["email"] == mallory["email"]
        elsewhere = f"elsewhere-{uuid.uuid4().hex[:6]}@example.org"
        body = {"new_email": elsewhere, "password": NEW_PASSWORD}
        assert (await api.post("/me/email", headers=bearer(mallory_pair), json=body)).status_code == 202
        [confirm] = await mails_to(smtp, elsewhere)
        r = await api.post("/auth/email/confirm", json={"token": link_token(confirm.link(), "email/confirm")})
        assert r.status_code == 200
        me = (await api.get("/me", headers=bearer(victor_pair))).json()
        assert me["email"] == victor["email"]
        r = await api.post("/auth/signin", json={"email": victor["email"], "password": PASSWORD})
        assert r.status_code == 200 and r.json()["user"]["id"] == victor_pair["user"]["id"]


async def test_a_reset_link_used_twice_at_once_works_once(database_url: str, smtp: SmtpServer) -> None:
    async with verifying(database_url, smtp) as api:
        account, _ = await verified(api, smtp)
        await api.post("/auth/password/forgot", json={"email": account["email"]})
        [_, reset] = await mails_to(smtp, account["email"], 2)
        token = link_token(reset.link(), "reset")
        bodies: list[dict[str, Any]] = [
            {"token": token, "new_password": f"racing passphrase number {i}"} for i in range(6)
        ]
        answers = await asyncio.gather(*(api.post("/auth/password/reset", json=b) for b in bodies))
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] + [400] * 5, codes
        assert {r.json()["code"] for r in answers if r.status_code == 400} == {"reset_used"}
        winner = bodies[next(i for i, r in enumerate(answers) if r.status_code == 200)]
        r = await api.post("/auth/signin", json={"email": account["email"], "password": winner["new_password"]})
        assert r.status_code == 200
