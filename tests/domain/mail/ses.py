"""Amazon SES for tests: moto in server mode, in this process, on a free loopback port.

Tipline's SES transport reaches it with boto3's own endpoint variable (AWS_ENDPOINT_URL_SESV2) and
placeholder credentials; what SES accepted is read back from moto's backend (the list of sent raw
messages), parsed as the recipient's mail client would."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from tests.conftest import free_port

REGION = "us-east-1"
DOMAIN = "mail.tipline.test"  # the verified domain identity
SENDER = f"Tipline <no-reply@{DOMAIN}>"


@dataclass
class SentRaw:
    source: str
    destinations: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        content: str = body.get_content()
        return content

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    def link(self) -> str:
        found = re.search(r"https?://\S+", self.text)
        assert found is not None, self.text
        return found.group(0)


class SesServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> None:
        self._server.start()
        self.client().create_email_identity(EmailIdentity=DOMAIN)

    def stop(self) -> None:
        self._server.stop()

    def env(self, monkeypatch: pytest.MonkeyPatch, endpoint: str | None = None) -> None:
        """What boto3 reads in the test process: this server (or ``endpoint``) for SES, fake keys."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", endpoint or self.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)

    def client(self) -> Any:
        return boto3.client(
            "sesv2",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def settings(self) -> dict[str, Any]:
        return {
            "mail_backend": "ses",
            "ses_region": REGION,
            "mail_from": SENDER,
            "mail_poll_interval_s": 0.05,
            "mail_worker": True,
        }

    @property
    def sent(self) -> list[SentRaw]:
        found = []
        for raw in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages:
            message = email.message_from_string(raw.raw_data, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(SentRaw(raw.source, list(raw.destinations), message))
        return found

    def clear(self) -> None:
        ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages.clear()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[SentRaw]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.sent) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self.sent)} of {count} mails reached SES within {timeout}s")
            await asyncio.sleep(0.02)
        return self.sent[:count]
