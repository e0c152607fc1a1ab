"""SQL for the admin console. Every function takes the connection explicitly.

The audit log is only ever inserted into (``audit.record_audit``) and read here: nothing
updates or deletes its rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, RowMapping, Select, and_, delete, func, literal_column, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from tipline.domain.accounts.models import passkeys, recovery_codes, sessions, totp_secrets, users
from tipline.domain.admin.models import audit_log
from tipline.domain.conversations.models import conversations
from tipline.domain.mail.models import mail_outbox
from tipline.domain.messages.models import messages
from tipline.domain.moderation.models import reports
from tipline.domain.tips.models import tip_intents

# --- admins --------------------------------------------------------------------------------------


async def is_active_admin(conn: AsyncConnection, *, user_id: int) -> bool:
    stmt = select(users.c.id).where(users.c.id == user_id, users.c.is_admin, users.c.is_active)
    return (await conn.execute(stmt)).first() is not None


async def lock_active_admins(conn: AsyncConnection) -> set[int]:
    stmt = select(users.c.id).where(users.c.is_admin, users.c.is_active).order_by(users.c.id).with_for_update()
    return {r[0] for r in await conn.execute(stmt)}


async def set_admin(conn: AsyncConnection, *, user_id: int, is_admin: bool) -> bool:
    stmt = update(users).where(users.c.id == user_id).values(is_admin=is_admin).returning(users.c.id)
    return (await conn.execute(stmt)).first() is not None


# --- users ---------------------------------------------------------------------------------------

USER_COLS = (
    users.c.id,
    users.c.handle,
    users.c.display_name,
    users.c.email,
    users.c.is_active,
    users.c.is_admin,
    users.c.is_bot,
    users.c.created_at,
    users.c.email_verified_at,
)


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _user_filter(stmt: Select[Any], *, q: str, state: str) -> Select[Any]:
    if q:
        pattern = _like(q.lower().removeprefix("@") if q.startswith("@") else q)
        stmt = stmt.where(
            or_(
                users.c.handle.ilike(pattern, escape="\\"),
                users.c.display_name.ilike(pattern, escape="\\"),
                users.c.email.ilike(pattern, escape="\\"),
            )
        )
    if state == "active":
        stmt = stmt.where(users.c.is_active)
    elif state == "deactivated":
        stmt = stmt.where(users.c.is_active.is_(False))
    elif state == "admins":
        stmt = stmt.where(users.c.is_admin)
    elif state == "bots":
        stmt = stmt.where(users.c.is_bot)
    return stmt


async def search_users(
    conn: AsyncConnection, *, q: str, state: str, offset: int, limit: int
) -> tuple[list[RowMapping], int]:
    """A page of accounts (newest first) whose handle, display name or email contains ``q``."""
    page = _user_filter(select(*USER_COLS), q=q, state=state).order_by(users.c.id.desc()).offset(offset).limit(limit)
    total = _user_filter(select(func.count()).select_from(users), q=q, state=state)
    rows = list((await conn.execute(page)).mappings())
    return rows, int((await conn.execute(total)).scalar_one())


async def user(conn: AsyncConnection, *, user_id: int, for_update: bool = False) -> RowMapping | None:
    stmt = select(*USER_COLS).where(users.c.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def live_sessions(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    """Every live session of the account, personal access tokens included, most recent first."""
    stmt = (
        select(
            sessions.c.id,
            sessions.c.kind,
            sessions.c.created_at,
            sessions.c.last_used_at,
            sessions.c.expires_at,
            sessions.c.user_agent,
            sessions.c.ip,
        )
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > func.now())
        .order_by(sessions.c.last_used_at.desc())
    )
    return list((await conn.execute(stmt)).mappings())


async def session_owner(conn: AsyncConnection, *, session_id: uuid.UUID) -> int | None:
    found = (await conn.execute(select(sessions.c.user_id).where(sessions.c.id == session_id))).scalar()
    return None if found is None else int(found)


async def open_reports_against(conn: AsyncConnection, *, user_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(reports.join(messages, messages.c.id == reports.c.message_id))
        .where(messages.c.sender_id == user_id, reports.c.resolved_at.is_(None))
    )
    return int((await conn.execute(stmt)).scalar_one())


async def remove_second_factors(conn: AsyncConnection, *, user_id: int) -> tuple[bool, int, int]:
    """Delete the account's TOTP secret, recovery codes and passkeys; what was removed."""
    stmt = delete(totp_secrets).where(totp_secrets.c.user_id == user_id).returning(totp_secrets.c.user_id)
    totp = (await conn.execute(stmt)).first() is not None
    codes = await conn.execute(
        delete(recovery_codes).where(recovery_codes.c.user_id == user_id).returning(recovery_codes.c.user_id)
    )
    keys = await conn.execute(delete(passkeys).where(passkeys.c.user_id == user_id).returning(passkeys.c.user_id))
    return totp, len(codes.all()), len(keys.all())


# --- reports -------------------------------------------------------------------------------------

_reporter = aliased(users, name="reporter")
_sender = aliased(users, name="sender")
_resolver = aliased(users, name="resolver")


def _report_select() -> Select[Any]:
    return (
        select(
            reports.c.id,
            reports.c.message_id,
            reports.c.conversation_id,
            reports.c.reason,
            reports.c.created_at,
            reports.c.resolved_at,
            reports.c.resolution,
            conversations.c.name.label("conversation_name"),
            conversations.c.kind.label("conversation_kind"),
            messages.c.body,
            messages.c.deleted_at,
            messages.c.sender_id,
            _reporter.c.id.label("reporter_id"),
            _reporter.c.handle.label("reporter_handle"),
            _reporter.c.display_name.label("reporter_name"),
            _sender.c.handle.label("sender_handle"),
            _sender.c.display_name.label("sender_name"),
            _resolver.c.id.label("resolver_id"),
            _resolver.c.handle.label("resolver_handle"),
            _resolver.c.display_name.label("resolver_name"),
        )
        .select_from(reports)
        .join(messages, messages.c.id == reports.c.message_id)
        .join(conversations, conversations.c.id == reports.c.conversation_id)
        .outerjoin(_reporter, _reporter.c.id == reports.c.reporter_id)
        .outerjoin(_sender, _sender.c.id == messages.c.sender_id)
        .outerjoin(_resolver, _resolver.c.id == reports.c.resolved_by)
    )


async def list_reports(conn: AsyncConnection, *, state: str, before: int | None, limit: int) -> list[RowMapping]:
    """Reports, newest first; keyset-paged by id."""
    stmt = _report_select().order_by(reports.c.id.desc()).limit(limit)
    if state == "open":
        stmt = stmt.where(reports.c.resolved_at.is_(None))
    elif state == "resolved":
        stmt = stmt.where(reports.c.resolved_at.is_not(None))
    if before is not None:
        stmt = stmt.where(reports.c.id < before)
    return list((await conn.execute(stmt)).mappings())


async def report_view(conn: AsyncConnection, *, report_id: int) -> RowMapping | None:
    row: RowMapping | None = (await conn.execute(_report_select().where(reports.c.id == report_id))).mappings().first()
    return row


async def report_for_update(conn: AsyncConnection, *, report_id: int) -> RowMapping | None:
    stmt = select(reports).where(reports.c.id == report_id).with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def message_sender(conn: AsyncConnection, *, message_id: int) -> int | None:
    found = (await conn.execute(select(messages.c.sender_id).where(messages.c.id == message_id))).scalar()
    return None if found is None else int(found)


async def resolve_open_reports(
    conn: AsyncConnection, *, message_id: int | None = None, report_id: int | None = None, by: int, resolution: str
) -> list[int]:
    """Resolve one report, or every open report of a message; the ids resolved."""
    stmt = (
        update(reports)
        .where(reports.c.resolved_at.is_(None))
        .values(resolved_at=func.now(), resolved_by=by, resolution=resolution)
        .returning(reports.c.id)
    )
    if message_id is not None:
        stmt = stmt.where(reports.c.message_id == message_id)
    if report_id is not None:
        stmt = stmt.where(reports.c.id == report_id)
    return sorted(r[0] for r in await conn.execute(stmt))


# --- audit log -----------------------------------------------------------------------------------

_actor = aliased(users, name="actor")


def audit_select() -> Select[Any]:
    return select(
        audit_log.c.id,
        audit_log.c.at,
        audit_log.c.actor_id,
        _actor.c.handle.label("actor_handle"),
        audit_log.c.action,
        audit_log.c.target_type,
        audit_log.c.target_id,
        audit_log.c.ip,
        audit_log.c.details,
    ).select_from(audit_log.outerjoin(_actor, _actor.c.id == audit_log.c.actor_id))


async def list_audit(
    conn: AsyncConnection,
    *,
    actor_id: int | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
    before: int | None,
    limit: int,
) -> list[RowMapping]:
    """Entries newest first, keyset-paged by id. ``action`` ending in ``.`` matches a prefix."""
    conds = []
    if actor_id is not None:
        conds.append(audit_log.c.actor_id == actor_id)
    if action:
        prefix = action.endswith(".")
        conds.append(audit_log.c.action.startswith(action, autoescape=True) if prefix else audit_log.c.action == action)
    if target_type:
        conds.append(audit_log.c.target_type == target_type)
    if target_id:
        conds.append(audit_log.c.target_id == target_id)
    if since is not None:
        conds.append(audit_log.c.at >= since)
    if until is not None:
        conds.append(audit_log.c.at < until)
    if before is not None:
        conds.append(audit_log.c.id < before)
    stmt = audit_select().where(and_(True, *conds)).order_by(audit_log.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).mappings())


async def report_history(conn: AsyncConnection, *, report_id: int) -> list[RowMapping]:
    stmt = (
        audit_select()
        .where(audit_log.c.target_type == "report", audit_log.c.target_id == str(report_id))
        .order_by(audit_log.c.id)
    )
    return list((await conn.execute(stmt)).mappings())


# --- status --------------------------------------------------------------------------------------

_AGE = "EXTRACT(EPOCH FROM now() - min({col}) FILTER (WHERE {cond}))"


async def mail_counts(conn: AsyncConnection) -> RowMapping:
    pending = "sent_at IS NULL AND next_attempt_at IS NOT NULL"
    stmt = select(
        func.count().filter(text(pending)).label("pending"),
        func.count().filter(text(f"{pending} AND attempts > 0")).label("retrying"),
        func.count().filter(text("sent_at IS NULL AND next_attempt_at IS NULL")).label("failed"),
        func.count().filter(text("sent_at > now() - interval '1 hour'")).label("sent_last_hour"),
        func.count().filter(text("sent_at > now() - interval '1 day'")).label("sent_last_day"),
        literal_column(_AGE.format(col="created_at", cond=pending), Float).label("oldest_pending_s"),
    ).select_from(mail_outbox)
    row: RowMapping = (await conn.execute(stmt)).mappings().one()
    return row


async def pending_tips(conn: AsyncConnection) -> RowMapping:
    stmt = select(
        func.count().label("pending"),
        literal_column("EXTRACT(EPOCH FROM now() - min(created_at))", Float).label("oldest_pending_s"),
    ).where(tip_intents.c.state == "pending")
    row: RowMapping = (await conn.execute(stmt)).mappings().one()
    return row


async def table_exists(conn: AsyncConnection, *, name: str) -> bool:
    return (await conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})).scalar() is True


async def queue_counts(conn: AsyncConnection, *, sql: str) -> RowMapping:
    """One queue's counts from a query of the status page's registry (admin/status.py QUEUES)."""
    return (await conn.execute(text(sql))).mappings().one()
