"""Queueing mail: the only code that writes the outbox. See docs/subsystems/accounts.md (Mail)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.mail import repository as repo
from tipline.domain.mail.templates import Mail


async def queue_mail(conn: AsyncConnection, mail: Mail) -> int:
    """Put a mail in the outbox, in the caller's transaction: it goes out if and only if that commits.

    The worker (``worker.MailWorker``) sends it; a request never waits for the SMTP server.
    """
    return await repo.insert_mail(
        conn, to=mail.to, subject=mail.subject, text=mail.text, html=mail.html, headers=mail.headers
    )
