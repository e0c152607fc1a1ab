"""The mail outbox and its worker against a real SMTP server (aiosmtpd) and the suite's PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings
from tests.domain.mail.smtp import SmtpServer
from tipline.config import Settings
from tipline.domain.mail import templates
from tipline.domain.mail.actions import queue_mail
from tipline.domain.mail.models import mail_outbox
from tipline.domain.mail.worker import MailWorker, backoff_s
from tipline.storage.db import create_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


def mail(n: int = 0, to: str = "ada@example.com") -> templates.Mail:
    return templates.verify_email(
        to=to, display_name=f"Ada {n}", handle="ada", link=f"http://127.0.0.1:8000/verify#token=t{n}", ttl_s=86400
    )


async def queue(engine: AsyncEngine, *mails: templates.Mail) -> list[int]:
    async with engine.begin() as conn:
        return [await queue_mail(conn, m) for m in mails]


async def outbox(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(mail_outbox).order_by(mail_outbox.c.id))
        return [dict(r) for r in rows.mappings()]


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(settings: Settings, engine: AsyncEngine) -> AsyncIterator[MailWorker]:
    worker = MailWorker(settings, engine)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def test_a_queued_mail_goes_out_through_the_smtp_server(engine: AsyncEngine, smtp: SmtpServer) -> None:
    settings = make_settings(**smtp.settings(), mail_from="Tipline <no-reply@tipline.example>")
    [mail_id] = await queue(engine, mail(1))
    async with running(settings, engine):
        [got] = await smtp.wait_for(1)
        # The server has the mail before the worker has its answer: stopping now could send it twice.
        await until(lambda: _all_sent(engine))
    assert got.rcpt_tos == ["ada@example.com"] and got.mail_from == "no-reply@tipline.example"
    assert got.message["Subject"] == "Confirm your email address for Tipline"
    assert got.message["To"] == "ada@example.com"
    assert f"tipline-mail-{mail_id}" in got.message["Message-ID"]
    assert "http://127.0.0.1:8000/verify#token=t1" in got.text
    assert 'href="http://127.0.0.1:8000/verify#token=t1"' in got.html
    [row] = await outbox(engine)
    assert row["sent_at"] is not None and row["attempts"] == 1 and row["last_error"] is None


async def test_a_rolled_back_action_sends_nothing(engine: AsyncEngine, smtp: SmtpServer) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await queue_mail(conn, mail())
            raise RuntimeError("the action failed after queueing its mail")
    assert await outbox(engine) == []


async def test_nothing_is_lost_while_the_smtp_server_is_down(engine: AsyncEngine) -> None:
    smtp = SmtpServer()  # not started: its port refuses connections
    settings = make_settings(**smtp.settings(), mail_retry_base_s=0.1, mail_retry_max_s=0.4)
    await queue(engine, mail(1), mail(2))
    async with running(settings, engine):

        async def failed_twice() -> bool:
            rows = await outbox(engine)
            return all(r["attempts"] >= 2 and r["last_error"] and r["sent_at"] is None for r in rows)

        await until(failed_twice)
        assert smtp.received == []
        smtp.start()
        try:
            got = await smtp.wait_for(2)
            await until(lambda: _all_sent(engine))
            await asyncio.sleep(0.3)  # a few more turns: nothing is sent twice
        finally:
            smtp.stop()
    assert sorted(r.message["Subject"] for r in got) == [mail().subject] * 2
    assert sorted(r.text.split("#token=")[1].split()[0] for r in got) == ["t1", "t2"]
    assert len(smtp.received) == 2


async def _all_sent(engine: AsyncEngine) -> bool:
    return all(r["sent_at"] is not None for r in await outbox(engine))


async def test_a_mail_survives_a_worker_restart_even_mid_send(engine: AsyncEngine) -> None:
    # An SMTP server that accepts the connection and never says hello: the send hangs in flight.
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hang = await asyncio.start_server(silent, "127.0.0.1", 0)
    hang_port = hang.sockets[0].getsockname()[1]
    try:
        settings = make_settings(
            smtp_host="127.0.0.1", smtp_port=hang_port, smtp_tls="none", mail_poll_interval_s=0.05, smtp_timeout_s=60
        )
        await queue(engine, mail(7))
        async with running(settings, engine):
            await until(lambda: _connected(held))
            [row] = await outbox(engine)
            assert row["attempts"] == 1 and row["sent_at"] is None  # leased, in flight
        # The node stopped mid-send: the mail is due again at once, not after its lease.
        smtp = SmtpServer()
        smtp.start()
        try:
            async with running(make_settings(**smtp.settings()), engine):
                [got] = await smtp.wait_for(1, timeout=5)
                await until(lambda: _all_sent(engine))
        finally:
            smtp.stop()
        assert "#token=t7" in got.text
        [row] = await outbox(engine)
        assert row["sent_at"] is not None
    finally:
        for w in held:
            w.close()
        hang.close()
        await hang.wait_closed()


async def _connected(held: list[asyncio.StreamWriter]) -> bool:
    return bool(held)


async def test_a_queued_mail_waits_for_a_worker(engine: AsyncEngine, smtp: SmtpServer) -> None:
    """No worker running (every node down): the mail stays in PostgreSQL until one starts."""
    await queue(engine, mail(3))
    await asyncio.sleep(0.2)
    assert smtp.received == []
    async with running(make_settings(**smtp.settings()), engine):
        [got] = await smtp.wait_for(1)
    assert "#token=t3" in got.text


async def test_several_workers_send_each_mail_once(engine: AsyncEngine, smtp: SmtpServer) -> None:
    await queue(engine, *(mail(i, to=f"user{i}@example.com") for i in range(30)))
    settings = make_settings(**smtp.settings())
    async with running(settings, engine) as a, running(settings, engine) as b, running(settings, engine) as c:
        await smtp.wait_for(30)
        await until(lambda: _all_sent(engine))
        await asyncio.sleep(0.3)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == sorted(f"user{i}@example.com" for i in range(30))
    assert a.sent + b.sent + c.sent == 30


async def test_a_permanent_refusal_is_recorded_and_not_retried(engine: AsyncEngine, smtp: SmtpServer) -> None:
    smtp.handler.refuse_rcpt = "550 5.1.1 no such mailbox"
    await queue(engine, mail())
    async with running(make_settings(**smtp.settings(), mail_retry_base_s=0.05), engine):

        async def given_up() -> bool:
            [row] = await outbox(engine)
            return row["next_attempt_at"] is None

        await until(given_up)
        await asyncio.sleep(0.3)
    [row] = await outbox(engine)
    assert row["attempts"] == 1 and row["sent_at"] is None and "no such mailbox" in row["last_error"]


async def test_without_an_smtp_server_mail_is_written_to_the_data_dir(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(smtp_host=None, data_dir=tmp_path, mail_poll_interval_s=0.05)
    [mail_id] = await queue(engine, mail(5))
    with caplog.at_level(logging.INFO, logger="tipline.domain.mail.transport"):
        async with running(settings, engine):
            await until(lambda: _all_sent(engine))
    eml = (tmp_path / "mail" / f"{mail_id}.eml").read_text()
    assert "Subject: Confirm your email address for Tipline" in eml and "To: ada@example.com" in eml
    # The log names the file, never the link (it signs in whoever holds it).
    assert ".eml (no SMTP_HOST: open it for its links)" in caplog.text
    assert "token=t5" not in caplog.text


def test_html_bodies_escape_what_users_wrote() -> None:
    m = templates.verify_email(
        to="x@example.com",
        display_name='<img src=x onerror="alert(1)">',
        handle="x",
        link="http://h/v#token=a&b",
        ttl_s=86400,
    )
    assert "<img" not in m.html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in m.html
    assert 'href="http://h/v#token=a&amp;b"' in m.html
    assert '<img src=x onerror="alert(1)">' in m.text and "within 24 hours" in m.text


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap() -> None:
    settings = make_settings(mail_retry_base_s=10, mail_retry_max_s=3600)
    for attempts, full in [(1, 10), (2, 20), (3, 40), (10, 3600), (50, 3600)]:
        delays = {backoff_s(settings, attempts) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays), (attempts, delays)
        assert len(delays) > 1  # jittered
