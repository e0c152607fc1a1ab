"""Mail through Amazon SES (MAIL_BACKEND=ses) against moto's SES in server mode, the choice of
transport, and what `tipline check` accepts for it. The SMTP and file transports are exercised
through the worker in test_worker.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings, start_server
from tests.domain.mail.ses import DOMAIN, SENDER, SesServer
from tests.domain.mail.test_worker import mail, outbox, queue, running, until
from tests.test_cli import JWT, UNREACHABLE, tipline
from tipline.domain.mail.models import mail_outbox
from tipline.domain.mail.transport import (
    FileTransport,
    PermanentFailure,
    SesTransport,
    SmtpTransport,
    transport_for,
)
from tipline.domain.mail.worker import build_message
from tipline.storage.db import create_engine

PASSWORD = "correct horse battery staple 9"


@pytest.fixture(scope="module")
def ses_server() -> Iterator[SesServer]:
    server = SesServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ses(ses_server: SesServer, monkeypatch: pytest.MonkeyPatch) -> SesServer:
    ses_server.env(monkeypatch)
    ses_server.clear()
    return ses_server


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


def test_mail_backend_chooses_the_transport() -> None:
    assert isinstance(transport_for(make_settings(smtp_host=None)), FileTransport)
    assert isinstance(transport_for(make_settings(smtp_host="127.0.0.1")), SmtpTransport)
    # MAIL_BACKEND=ses sends through the API even where an SMTP_HOST is left over.
    assert isinstance(transport_for(make_settings(mail_backend="ses", smtp_host="127.0.0.1")), SesTransport)


async def test_sign_up_mails_its_verification_link_through_ses(database_url: str, ses: SesServer) -> None:
    """The AWS stack's mail path end to end: sign-up → outbox → worker → SES SendEmail (raw MIME)
    → the link in what SES accepted verifies the account."""
    handle = f"s{uuid.uuid4().hex[:10]}"
    account = {"email": f"{handle}@example.com", "password": PASSWORD, "handle": handle, "display_name": "S"}
    settings = {**ses.settings(), "email_verification": True}
    async with (
        start_server(database_url, **settings) as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        r = await api.post("/auth/signup", json=account)
        assert r.status_code == 202 and r.json() == {"status": "verification_sent"}
        [sent] = await ses.wait_for(1)
        # Recorded as sent once SES has answered.
        for _ in range(100):
            async with srv.rt.engine.connect() as conn:
                [row] = (await conn.execute(select(mail_outbox))).mappings().all()
            if row["sent_at"] is not None:
                break
            await asyncio.sleep(0.05)
        assert row["sent_at"] is not None and row["attempts"] == 1 and row["last_error"] is None

        msg = sent.message
        assert sent.source == f"no-reply@{DOMAIN}" and account["email"] in sent.destinations
        assert msg["From"] == SENDER and msg["To"] == account["email"]
        assert msg["Subject"] == "Confirm your email address for Tipline"
        # The same MIME message the SMTP transport sends: the outbox row's Message-ID, text and HTML.
        assert f"tipline-mail-{row['id']}@{DOMAIN}" in msg["Message-ID"]
        link = sent.link()
        assert link.startswith(f"{srv.base_url}/verify#token="), link  # built on PUBLIC_URL
        assert f'href="{link}"' in sent.html and f"@{handle}" in sent.text

        verified = await api.post("/auth/verify", json={"token": link.split("#token=", 1)[1]})
        assert verified.status_code == 201 and verified.json()["user"]["handle"] == handle
        signed_in = await api.post("/auth/signin", json={"email": account["email"], "password": PASSWORD})
        assert signed_in.status_code == 200


async def _given_up(engine: AsyncEngine) -> bool:
    return all(r["next_attempt_at"] is None for r in await outbox(engine))


async def test_a_sender_ses_refuses_is_given_up_not_retried(engine: AsyncEngine, ses: SesServer) -> None:
    """MessageRejected (here: a From address on a domain that is not a verified identity) would get
    the same answer every time: recorded once, not retried."""
    settings = make_settings(**{**ses.settings(), "mail_from": "Tipline <no-reply@unverified.test>"})
    await queue(engine, mail(1))
    async with running(settings, engine):
        await until(lambda: _given_up(engine))
        await asyncio.sleep(0.3)
    [row] = await outbox(engine)
    assert row["attempts"] == 1 and row["sent_at"] is None
    assert "MessageRejected" in row["last_error"] and "unverified.test" in row["last_error"]
    assert ses.sent == []


async def test_an_address_ses_calls_invalid_is_given_up(engine: AsyncEngine, ses: SesServer) -> None:
    await queue(engine, mail(2, to="nobody"))
    async with running(make_settings(**ses.settings()), engine):
        await until(lambda: _given_up(engine))
    [row] = await outbox(engine)
    assert row["attempts"] == 1 and row["sent_at"] is None and "InvalidParameterValue" in row["last_error"]
    assert ses.sent == []


class FaultyFront:
    """An HTTP front for SES that answers the first requests with the given errors itself (as SES
    does: status and `x-amzn-ErrorType`), then passes every request on to the real endpoint."""

    def __init__(self, upstream: str, errors: list[tuple[int, str]]) -> None:
        self.upstream = upstream
        self.errors = list(errors)
        self.requests = 0
        self._server: asyncio.Server | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> FaultyFront:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
                body = await reader.readexactly(length)
                self.requests += 1
                if self.errors:
                    status, code = self.errors.pop(0)
                    payload = json.dumps({"message": f"{code} (injected by the test)"}).encode()
                    extra = f"x-amzn-ErrorType: {code}\r\n"
                else:
                    passed = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
                    async with httpx.AsyncClient(timeout=30) as client:
                        r = await client.request(method, self.upstream + path, headers=passed, content=body)
                    status, payload, extra = r.status_code, r.content, ""
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        finally:
            writer.close()


async def test_throttling_and_service_errors_are_retried_until_ses_takes_the_mail(
    engine: AsyncEngine, ses: SesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = [(429, "TooManyRequestsException"), (500, "InternalFailure"), (400, "SendingPausedException")]
    async with FaultyFront(ses.endpoint, errors) as front:
        ses.env(monkeypatch, endpoint=front.endpoint)
        settings = make_settings(**ses.settings(), mail_retry_base_s=0.05, mail_retry_max_s=0.2)
        await queue(engine, mail(3))
        async with running(settings, engine):
            [sent] = await ses.wait_for(1)

            async def sent_recorded() -> bool:
                return all(r["sent_at"] is not None for r in await outbox(engine))

            await until(sent_recorded)
    [row] = await outbox(engine)
    assert row["attempts"] == 4 and row["last_error"] is None  # three refusals, then taken
    assert front.requests == 4 and "#token=t3" in sent.text


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail"
    )


class _Refusing:
    def __init__(self, error: ClientError) -> None:
        self.error = error

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error


@pytest.mark.parametrize(
    ("code", "status", "permanent"),
    [
        ("MessageRejected", 400, True),  # e.g. the sandbox: a recipient that is not verified
        ("BadRequestException", 400, True),
        ("InvalidParameterValue", 400, True),
        ("TooManyRequestsException", 429, False),
        ("ThrottlingException", 400, False),  # how AWS documents the sending rate and daily quota
        ("LimitExceededException", 400, False),
        ("SendingPausedException", 400, False),
        ("AccountSuspendedException", 400, False),
        ("MailFromDomainNotVerifiedException", 400, False),  # an operator fixes DNS: mail waits
        ("NotFoundException", 404, False),
        ("InternalFailure", 500, False),
        ("ServiceUnavailable", 503, False),
    ],
)
async def test_which_ses_errors_are_permanent(code: str, status: int, permanent: bool) -> None:
    settings = make_settings(mail_backend="ses", ses_region="us-east-1", mail_from=SENDER)
    transport = SesTransport(settings)
    transport.client = _Refusing(_client_error(code, status))
    message = build_message(settings, {"id": 1, "to": "a@example.com", "subject": "s", "text": "t", "html": "<p>h</p>"})  # type: ignore[arg-type]
    with pytest.raises(PermanentFailure if permanent else ClientError, match=code):
        await transport.send(message, mail_id=1)


# --- `tipline check` ------------------------------------------------------------------------------


def test_check_accepts_verification_with_ses_and_a_sender_on_a_domain(tmp_path: Path) -> None:
    env = {**UNREACHABLE, "JWT_SECRET": JWT, "MAIL_BACKEND": "ses", "SES_REGION": "eu-west-1"}
    r = tipline("check", "--config-only", cwd=tmp_path, MAIL_FROM="Tipline <no-reply@chat.example.org>", **env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   config mail: ses, from no-reply@chat.example.org, region eu-west-1" in r.stdout
    # MAIL_FROM left at its localhost default: SES could never send as it.
    r = tipline("check", "--config-only", cwd=tmp_path, **env)
    assert r.returncode == 1 and "FAIL config mail: MAIL_BACKEND=ses needs MAIL_FROM on the domain" in r.stdout
    r = tipline("check", "--config-only", cwd=tmp_path, MAIL_FROM="no-reply@localhost", **env)
    assert r.returncode == 1 and "FAIL config mail: MAIL_BACKEND=ses needs MAIL_FROM" in r.stdout
