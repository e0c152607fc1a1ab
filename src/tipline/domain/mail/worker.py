"""The mail worker: sends what the outbox holds, on every node, each mail at least once.

Each turn it leases the due rows (``FOR UPDATE SKIP LOCKED``, so nodes never claim the same row),
hands them to the transport MAIL_BACKEND chose (``transport.py``: SMTP with ``aiosmtplib``, the
Amazon SES API, or DATA_DIR/mail/<id>.eml without SMTP_HOST) and marks them sent; a failure is
retried with exponential backoff and jitter, a permanent refusal (SMTP 5xx, SES MessageRejected) is
given up and recorded. See docs/subsystems/accounts.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from tipline.config import Settings
from tipline.domain.mail import repository as repo
from tipline.domain.mail.transport import PermanentFailure, Transport, mail_dir, transport_for

log = logging.getLogger(__name__)

BATCH = 5

__all__ = ["BATCH", "MailWorker", "PermanentFailure", "backoff_s", "build_message", "mail_dir"]


def build_message(settings: Settings, row: RowMapping) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = row["to"]
    msg["Subject"] = row["subject"]
    msg["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    # One id per outbox row: a mail sent twice (a node died between sending and recording it)
    # carries the same Message-ID, which mail clients use to show it once.
    msg["Message-ID"] = make_msgid(idstring=f"tipline-mail-{row['id']}", domain=domain)
    msg.set_content(row["text"])
    msg.add_alternative(row["html"], subtype="html")
    return msg


def backoff_s(settings: Settings, attempts: int) -> float:
    """Delay before the next attempt: doubling from MAIL_RETRY_BASE_S, capped, with full jitter
    on its upper half so nodes that failed together do not retry together."""
    delay: float = min(settings.mail_retry_max_s, settings.mail_retry_base_s * 2.0 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class MailWorker:
    """One per node, started and stopped by the app's lifespan (or by a test).

    Stopping interrupts only the wait between turns and a send in flight, never a database
    write: a transaction cut in the middle would leave its connection holding row locks.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.transport: Transport = transport_for(settings)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._delivery: asyncio.Future[None] | None = None
        self.sent = 0

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="mail-worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        if self._delivery is not None:
            self._delivery.cancel()
        await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while not self._stopping.is_set() and await self.run_once():
                    pass
            except Exception:  # the database is away: try again next turn
                log.warning("mail worker turn failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.mail_poll_interval_s)

    async def run_once(self) -> int:
        """Send what is due now; the number of mails leased (0: nothing was due)."""
        # The lease outlasts the whole batch's sends at their timeout, so no row of it is picked up
        # by another node while this one may still send it.
        lease_s = self.settings.smtp_timeout_s * BATCH + 30
        async with self.engine.begin() as conn:
            rows = await repo.claim_due(conn, limit=BATCH, lease_s=lease_s)
        pending = [row["id"] for row in rows]
        try:
            for row in rows:
                if self._stopping.is_set() or not await self._send(row):
                    break
                pending.remove(row["id"])
        finally:
            if pending:  # stopped mid-batch: the rest is due again at once, for any node
                async with self.engine.begin() as conn:
                    await repo.release(conn, mail_ids=pending)
        return len(rows)

    async def _send(self, row: RowMapping) -> bool:
        """Send one mail and record the outcome; False when stopping interrupted the send."""
        sent = False
        error = ""
        retry_at: datetime | None = None
        self._delivery = asyncio.ensure_future(
            self.transport.send(build_message(self.settings, row), mail_id=row["id"])
        )
        try:
            await self._delivery
            sent = True
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                raise
            return False
        except PermanentFailure as exc:
            error = str(exc)
            log.error("mail %s to %s refused for good: %s", row["id"], row["to"], exc)
        except Exception as exc:  # unreachable, timed out, 4xx, or anything else: try again later
            error = repr(exc)
            retry_at = datetime.now(UTC) + timedelta(seconds=backoff_s(self.settings, row["attempts"]))
            log.warning("mail %s not sent (attempt %s, next at %s): %r", row["id"], row["attempts"], retry_at, exc)
        finally:
            self._delivery = None
        async with self.engine.begin() as conn:
            if sent:
                await repo.mark_sent(conn, mail_id=row["id"])
            else:
                await repo.mark_failed(conn, mail_id=row["id"], error=error, retry_at=retry_at)
        if sent:
            self.sent += 1
        return True
