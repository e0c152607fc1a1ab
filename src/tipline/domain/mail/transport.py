"""How a built mail leaves Tipline: SMTP, a file in DATA_DIR/mail, or the Amazon SES API.

The worker (``worker.MailWorker``) builds one MIME ``Message`` per outbox row and hands it to the
transport ``transport_for(settings)`` chose. A transport either returns (the mail was taken), raises
``PermanentFailure`` (refused for good: retrying would get the same answer) or raises anything else
(the worker retries with backoff). See docs/subsystems/accounts.md (Mail) and docs/deploy-aws.md.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import Message
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, cast

import aiosmtplib

from tipline.config import Settings

log = logging.getLogger(__name__)

# SES answers that mean this mail will never be taken: the message or an address is bad, or the
# sandbox refuses the recipient. Everything else (throttling, the daily quota, a paused or suspended
# account, a MAIL FROM domain not yet verified, 5xx, the network) can pass later, so it is retried
# and no mail is lost while an operator fixes it.
SES_PERMANENT = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})


class PermanentFailure(Exception):
    """The mail service refused the mail for good: retrying would get the same answer."""


class Transport(Protocol):
    async def send(self, message: Message, *, mail_id: int) -> None:
        """Hand one mail over; raise PermanentFailure if it is refused for good."""


def mail_dir(settings: Settings) -> Path:
    return settings.data_dir / "mail"


def transport_for(settings: Settings) -> Transport:
    if settings.mail_backend == "ses":
        return SesTransport(settings)
    if settings.smtp_host is None:
        return FileTransport(settings)
    return SmtpTransport(settings)


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: Message, *, mail_id: int) -> None:
        s = self.settings
        password = s.smtp_password.get_secret_value() if s.smtp_password is not None else None
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=password,
                use_tls=s.smtp_tls == "tls",
                start_tls=s.smtp_tls == "starttls",
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(e.code >= 500 for e in exc.recipients):
                raise PermanentFailure(str(exc)) from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise


class FileTransport:
    """No mail server (the embedded `tipline dev` default): each mail becomes DATA_DIR/mail/<id>.eml."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: Message, *, mail_id: int) -> None:
        path = mail_dir(self.settings) / f"{mail_id}.eml"
        await asyncio.to_thread(_write, path, message.as_bytes())
        # The log names the file, never the links: they sign in whoever holds them (and the log
        # filter would redact their tokens anyway). `tipline check` refuses this for `serve`
        # with verification on.
        log.info("mail to %s written to %s (no SMTP_HOST: open it for its links)", message["To"], path)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class _SesClient(Protocol):
    def send_email(self, **kwargs: Any) -> dict[str, Any]: ...


class SesTransport:
    """The SES v2 API (``SendEmail`` with raw MIME content), with boto3's default credentials.

    On AWS those are the ECS task role's, which the stack allows ``ses:SendEmail`` and
    ``ses:SendRawEmail`` on its identity only: no SMTP password exists anywhere. The raw content is
    the very message the SMTP transport would send (same Message-ID, text and HTML parts).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> _SesClient:
        import boto3
        from botocore.config import Config

        timeout = self.settings.smtp_timeout_s
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            # The outbox worker retries with backoff and jitter; retrying here too would multiply
            # the attempts and outlast the lease the worker took for this send.
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        return cast(_SesClient, boto3.client("sesv2", region_name=self.settings.ses_region, config=config))

    async def send(self, message: Message, *, mail_id: int) -> None:
        from botocore.exceptions import ClientError

        recipient = parseaddr(str(message["To"]))[1]
        sender = parseaddr(self.settings.mail_from)[1]
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._send, sender, recipient, message.as_bytes()), self.settings.smtp_timeout_s
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in SES_PERMANENT:
                raise PermanentFailure(f"SES {code}: {exc}") from exc
            raise

    def _send(self, sender: str, recipient: str, raw: bytes) -> None:
        # In a thread: the first call also makes the client, which reads files and takes a while.
        self.client.send_email(
            FromEmailAddress=sender, Destination={"ToAddresses": [recipient]}, Content={"Raw": {"Data": raw}}
        )
