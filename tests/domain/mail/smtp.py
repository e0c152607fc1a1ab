"""A real SMTP server for tests: aiosmtpd's Controller on a free loopback port, keeping what arrives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
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

    @property
    def outbox_id(self) -> int:
        """The outbox row it was sent from (in its Message-ID): the order the mails were queued in,
        which the worker's concurrent sends do not keep on arrival."""
        found = re.search(r"tipline-mail-(\d+)", self.message["Message-ID"] or "")
        assert found is not None, self.message["Message-ID"]
        return int(found.group(1))

    def link(self) -> str:
        found = re.search(r"https?://\S+", self.text)
        assert found is not None, self.text
        return found.group(0)


@dataclass
class Collector:
    received: list[Received] = field(default_factory=list)
    refuse_rcpt: str | None = None  # an SMTP reply to every RCPT, e.g. "550 no such user"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_rcpt is not None:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpServer:
    """Started and stopped by the test, so it can be down while mail waits and come back on its port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = Collector()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def settings(self) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_tls": "none",
            "mail_poll_interval_s": 0.05,
            "mail_worker": True,
        }

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` mails queued, once they have arrived: in the order they were queued
        (the worker sends a batch concurrently, so they may arrive in another)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} mails arrived within {timeout}s")
            await asyncio.sleep(0.02)
        return sorted(self.received, key=lambda m: m.outbox_id)[:count]
