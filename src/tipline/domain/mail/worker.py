"""The mail worker: sends what the outbox holds, on every node, each mail at least once.

Each turn it leases the due rows (``FOR UPDATE SKIP LOCKED``, so nodes never claim the same row),
hands them to the transport MAIL_BACKEND chose (``transport.py``: SMTP with ``aiosmtplib``, the
Amazon SES API, or DATA_DIR/mail/<id>.eml without SMTP_HOST) and marks them sent; a failure is
retried with exponential backoff and jitter, a permanent refusal (SMTP 5xx, SES MessageRejected) is
given up and recorded. See docs/subsystems/accounts.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from tipline.config import Settings
from tipline.domain.mail import repository as repo
from tipline.domain.mail.transport import PermanentFailure, Transport, mail_dir, transport_for
from tipline.workers import QueueWorker

log = logging.getLogger(__name__)

# A send's outcome: (sent, error, when to retry; None: never).
_Outcome = tuple[bool, str, datetime | None]
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
# Headers of a written .eml are not folded below the RFC 5322 limit (aiosmtplib folds at 78 for SMTP).
_POLICY = compat32.clone(max_line_length=998)

BATCH = 5

__all__ = ["BATCH", "MailWorker", "PermanentFailure", "backoff_s", "build_message", "mail_dir"]


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8") if name else addr


def _part(text: str, subtype: str) -> MIMEText:
    # ASCII stays 7bit (an .eml in DATA_DIR/mail reads as written, links intact); anything else
    # is UTF-8 in quoted-printable.
    charset: Any = "us-ascii" if text.isascii() else _UTF8_QP  # the stubs take only a name; a Charset works
    return MIMEText(text, subtype, charset)


def build_message(settings: Settings, row: RowMapping | Mapping[str, Any]) -> Message:
    """The MIME message of one outbox row: text and HTML alternatives, our headers and the row's.

    Built with the classic ``email.mime`` classes: ``EmailMessage.set_content`` took ~4 ms of
    CPU per mail here, the largest part of the worker's cost (bench/mail)."""
    msg = MIMEMultipart("alternative", policy=_POLICY)
    msg["From"] = _address(settings.mail_from)
    msg["To"] = _address(row["to"])
    msg["Subject"] = _header(row["subject"])
    msg["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    # One id per outbox row: a mail sent twice (a node died between sending and recording it)
    # carries the same Message-ID, which mail clients use to show it once.
    msg["Message-ID"] = make_msgid(idstring=f"tipline-mail-{row['id']}", domain=domain)
    for name, value in (row.get("headers") or {}).items():
        msg[name] = _header(value)
    msg.attach(_part(row["text"], "plain"))
    msg.attach(_part(row["html"], "html"))
    return msg


def backoff_s(settings: Settings, attempts: int) -> float:
    """Delay before the next attempt: doubling from MAIL_RETRY_BASE_S, capped, with full jitter
    on its upper half so nodes that failed together do not retry together."""
    delay: float = min(settings.mail_retry_max_s, settings.mail_retry_base_s * 2.0 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class MailWorker(QueueWorker):
    """One per node, started and stopped by the app's lifespan (or by a test). Stopping also
    cancels the sends in flight (their rows stay leased and are sent again after the lease)."""

    name = "mail-worker"

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.transport: Transport = transport_for(settings)
        self._deliveries: set[asyncio.Future[None]] = set()
        self.sent = 0

    def _cut_short(self) -> None:
        for delivery in list(self._deliveries):
            delivery.cancel()

    async def turn(self) -> None:
        while not self.stopping and await self.run_once():
            pass

    def interval(self) -> float:
        return self.settings.mail_poll_interval_s

    async def run_once(self) -> int:
        """Send what is due now; the number of mails leased (0: nothing was due)."""
        # The lease outlasts the whole batch's sends at their timeout, so no row of it is picked up
        # by another node while this one may still send it.
        lease_s = self.settings.smtp_timeout_s * BATCH + 30
        async with self.engine.begin() as conn:
            rows = await repo.claim_due(conn, limit=BATCH, lease_s=lease_s)
        pending = [row["id"] for row in rows]
        try:
            # The batch's mails go out concurrently (each waits on its own SMTP round trips) and
            # their outcomes are recorded in one transaction (bench/mail: >= 50/s).
            outcomes = await asyncio.gather(*(self._send(row) for row in rows))
            await self._record([(row, o) for row, o in zip(rows, outcomes, strict=True) if o is not None])
            pending = [row["id"] for row, o in zip(rows, outcomes, strict=True) if o is None]
        finally:
            if pending:  # stopped mid-batch: the rest is due again at once, for any node
                async with self.engine.begin() as conn:
                    await repo.release(conn, mail_ids=pending)
        return len(rows)

    async def _record(self, outcomes: list[tuple[RowMapping, _Outcome]]) -> None:
        if not outcomes:
            return
        async with self.engine.begin() as conn:
            for row, (sent, error, retry_at) in outcomes:
                if sent:
                    await repo.mark_sent(conn, mail_id=row["id"])
                else:
                    await repo.mark_failed(conn, mail_id=row["id"], error=error, retry_at=retry_at)
        self.sent += sum(1 for _, (sent, _e, _r) in outcomes if sent)

    async def _send(self, row: RowMapping) -> _Outcome | None:
        """Send one mail: (sent, error, retry at); None when stopping interrupted the send."""
        if self.stopping:
            return None
        delivery = asyncio.ensure_future(self.transport.send(build_message(self.settings, row), mail_id=row["id"]))
        self._deliveries.add(delivery)
        try:
            await delivery
            return (True, "", None)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            return None
        except PermanentFailure as exc:
            log.error("mail %s to %s refused for good: %s", row["id"], row["to"], exc)
            return (False, str(exc), None)
        except Exception as exc:  # unreachable, timed out, 4xx, or anything else: try again later
            retry_at = datetime.now(UTC) + timedelta(seconds=backoff_s(self.settings, row["attempts"]))
            log.warning("mail %s not sent (attempt %s, next at %s): %r", row["id"], row["attempts"], retry_at, exc)
            return (False, repr(exc), retry_at)
        finally:
            self._deliveries.discard(delivery)
