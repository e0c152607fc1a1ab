"""SQL for the mail outbox. Every function takes the connection explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.mail.models import mail_outbox


async def insert_mail(
    conn: AsyncConnection, *, to: str, subject: str, text: str, html: str, headers: dict[str, str] | None = None
) -> int:
    stmt = (
        insert(mail_outbox)
        .values(to=to, subject=subject, text=text, html=html, headers=headers)
        .returning(mail_outbox.c.id)
    )
    mail_id: int = (await conn.execute(stmt)).scalar_one()
    return mail_id


async def claim_due(conn: AsyncConnection, *, limit: int, lease_s: float) -> list[RowMapping]:
    """Lease up to ``limit`` due mails: SKIP LOCKED lets every node claim different rows at once."""
    due = (
        select(mail_outbox.c.id)
        .where(
            mail_outbox.c.sent_at.is_(None),
            mail_outbox.c.next_attempt_at.is_not(None),
            mail_outbox.c.next_attempt_at <= func.now(),
        )
        .order_by(mail_outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(mail_outbox)
        .where(mail_outbox.c.id.in_(due))
        .values(
            attempts=mail_outbox.c.attempts + 1,
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
        )
        .returning(mail_outbox)
    )
    return list((await conn.execute(stmt)).mappings())


async def mark_sent(conn: AsyncConnection, *, mail_id: int) -> None:
    await conn.execute(
        update(mail_outbox).where(mail_outbox.c.id == mail_id).values(sent_at=func.now(), last_error=None)
    )


async def mark_failed(conn: AsyncConnection, *, mail_id: int, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt; ``retry_at`` None gives the mail up (the server refused it for good)."""
    await conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.sent_at.is_(None))
        .values(last_error=error[:1000], next_attempt_at=retry_at)
    )


async def release(conn: AsyncConnection, *, mail_ids: list[int]) -> None:
    """Make leased mails due at once again (a worker stopping before it could send them)."""
    await conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id.in_(mail_ids), mail_outbox.c.sent_at.is_(None))
        .values(next_attempt_at=func.now(), attempts=mail_outbox.c.attempts - 1)
    )
