"""Admin console actions: users, the report queue, the audit log and the status page.

Every action checks that the caller is an active server admin (``access.require_admin``, read in
its own transaction, never from the token) and records what it changed in the audit log in the
same transaction, with the client's IP. See docs/subsystems/admin.md.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import RowMapping

from tipline.bus.base import topic_user
from tipline.bus.envelope import encode_control
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.admin import repository as repo
from tipline.domain.admin import status
from tipline.domain.admin.access import lock_admins, require_admin, require_not_last_admin
from tipline.domain.admin.audit import record_audit
from tipline.domain.admin.schemas import (
    AdminReportOut,
    AdminSessionOut,
    AdminUserDetail,
    AdminUserOut,
    AdminUserPage,
    AuditEntryOut,
    AuditPage,
    PersonRef,
    ReportAction,
    ReportDetail,
    SecondFactorsOut,
    SessionsRevokedOut,
    StatusOut,
    TwoFactorResetOut,
)
from tipline.domain.media.actions import purge_uploads
from tipline.domain.messages.actions import delete_message_in
from tipline.domain.moderation import repository as moderation_repo
from tipline.domain.moderation.schemas import AccountStateOut
from tipline.errors import Conflict, Invalid, NotFound
from tipline.runtime import Runtime

# --- users ---------------------------------------------------------------------------------------


def _user_out(row: RowMapping) -> AdminUserOut:
    return AdminUserOut(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        email=row["email"],
        is_active=row["is_active"],
        is_admin=row["is_admin"],
        is_bot=row["is_bot"],
        created_at=row["created_at"],
        email_verified=row["email_verified_at"] is not None,
    )


async def list_users(rt: Runtime, *, user_id: int, q: str, state: str, offset: int, limit: int) -> AdminUserPage:
    """Accounts whose handle, display name or email contains ``q``, newest first."""
    async with rt.engine.connect() as conn:
        await require_admin(conn, user_id=user_id)
        rows, total = await repo.search_users(conn, q=q.strip(), state=state, offset=offset, limit=limit)
    return AdminUserPage(items=[_user_out(r) for r in rows], total=total, offset=offset, limit=limit)


async def get_user(rt: Runtime, *, user_id: int, target_id: int) -> AdminUserDetail:
    async with rt.engine.connect() as conn:
        await require_admin(conn, user_id=user_id)
        row = await repo.user(conn, user_id=target_id)
        if row is None:
            raise NotFound("user not found", code="user_not_found")
        factors = await accounts_repo.second_factors(conn, user_id=target_id)
        live = await repo.live_sessions(conn, user_id=target_id)
        reported = await repo.open_reports_against(conn, user_id=target_id)
    return AdminUserDetail(
        **_user_out(row).model_dump(),
        second_factors=SecondFactorsOut(
            totp=bool(factors["totp"]),
            recovery_codes_left=factors["recovery_codes_left"],
            passkeys=factors["passkeys"],
        ),
        sessions=[AdminSessionOut(**s) for s in live],
        open_reports_against=reported,
    )


def _revoke_user_sockets(uow: UnitOfWork, *, target_id: int, reason: str) -> None:
    uow.outbox.add(topic_user(target_id), encode_control({"op": "revoke_user", "user_id": target_id, "reason": reason}))


async def set_active_in(
    uow: UnitOfWork, *, user_id: int, target_id: int, active: bool, ip: str | None, via: str | None = None
) -> AccountStateOut:
    """Deactivate (or reactivate) an account inside the caller's unit of work: deactivating
    revokes every session and closes the user's sockets on every node (close code 4001) at
    commit. The last active admin cannot be deactivated."""
    if target_id == user_id and not active:
        raise Conflict("you cannot deactivate your own account", code="deactivate_self")
    admins = await lock_admins(uow.conn, user_id=user_id)
    if not active:
        require_not_last_admin(admins, target_id=target_id)
    target = await repo.user(uow.conn, user_id=target_id, for_update=True)
    if target is None:
        raise NotFound("user not found", code="user_not_found")
    revoked: list[Any] = []
    if target["is_active"] != active:
        await moderation_repo.set_active(uow.conn, user_id=target_id, active=active)
    if not active:
        revoked = await accounts_repo.revoke_sessions(
            uow.conn, user_id=target_id, session_id=None, reason="account_deactivated"
        )
        _revoke_user_sockets(uow, target_id=target_id, reason="account_deactivated")
    details: dict[str, Any] = {"sessions_revoked": len(revoked), "was_active": target["is_active"]}
    if via:
        details["via"] = via
    await record_audit(
        uow.conn,
        actor_id=user_id,
        action="user.deactivate" if not active else "user.reactivate",
        target_type="user",
        target_id=str(target_id),
        ip=ip,
        details=details,
    )
    return AccountStateOut(user_id=target_id, is_active=active, sessions_revoked=len(revoked))


async def do_set_active(rt: Runtime, *, user_id: int, target_id: int, active: bool, ip: str | None) -> AccountStateOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        return await set_active_in(uow, user_id=user_id, target_id=target_id, active=active, ip=ip)


async def do_set_admin(rt: Runtime, *, user_id: int, target_id: int, is_admin: bool, ip: str | None) -> AdminUserOut:
    """Make an account a server admin, or take that away; the last active admin stays one."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        admins = await lock_admins(uow.conn, user_id=user_id)
        target = await repo.user(uow.conn, user_id=target_id, for_update=True)
        if target is None:
            raise NotFound("user not found", code="user_not_found")
        if is_admin and target["is_bot"]:
            raise Invalid("a bot account cannot be a server admin", code="bot_admin")
        if is_admin and not target["is_active"]:
            raise Conflict("reactivate this account before making it an admin", code="user_inactive")
        if not is_admin:
            require_not_last_admin(admins, target_id=target_id)
        if target["is_admin"] != is_admin:
            await repo.set_admin(uow.conn, user_id=target_id, is_admin=is_admin)
            await record_audit(
                uow.conn,
                actor_id=user_id,
                action="user.admin_grant" if is_admin else "user.admin_revoke",
                target_type="user",
                target_id=str(target_id),
                ip=ip,
            )
        row = await repo.user(uow.conn, user_id=target_id)
        assert row is not None
    return _user_out(row)


async def do_reset_two_factor(rt: Runtime, *, user_id: int, target_id: int, ip: str | None) -> TwoFactorResetOut:
    """Remove the account's authenticator app, recovery codes and passkeys (a person locked out
    of their second factor). Sessions stay; under REQUIRE_2FA their next sign-in enrols again."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await require_admin(uow.conn, user_id=user_id)
        if await repo.user(uow.conn, user_id=target_id, for_update=True) is None:
            raise NotFound("user not found", code="user_not_found")
        totp, codes, keys = await repo.remove_second_factors(uow.conn, user_id=target_id)
        await record_audit(
            uow.conn,
            actor_id=user_id,
            action="user.reset_2fa",
            target_type="user",
            target_id=str(target_id),
            ip=ip,
            details={"totp": totp, "recovery_codes": codes, "passkeys": keys},
        )
    return TwoFactorResetOut(user_id=target_id, totp_removed=totp, recovery_codes_removed=codes, passkeys_removed=keys)


async def do_revoke_sessions(
    rt: Runtime, *, user_id: int, target_id: int, session_id: uuid.UUID | None, ip: str | None
) -> SessionsRevokedOut:
    """End one session of the account (or all of them); their sockets close on every node."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await require_admin(uow.conn, user_id=user_id)
        if await repo.user(uow.conn, user_id=target_id) is None:
            raise NotFound("user not found", code="user_not_found")
        if session_id is not None and await repo.session_owner(uow.conn, session_id=session_id) != target_id:
            raise NotFound("session not found", code="session_not_found")
        revoked = await accounts_repo.revoke_sessions(
            uow.conn, user_id=target_id, session_id=session_id, reason="revoked_by_admin"
        )
        for sid in revoked:
            uow.outbox.add(
                topic_user(target_id),
                encode_control(
                    {"op": "revoke_session", "user_id": target_id, "session_id": str(sid), "reason": "revoked_by_admin"}
                ),
            )
        await record_audit(
            uow.conn,
            actor_id=user_id,
            action="user.revoke_sessions",
            target_type="user",
            target_id=str(target_id),
            ip=ip,
            details={"sessions": [str(s) for s in revoked]},
        )
    return SessionsRevokedOut(user_id=target_id, sessions_revoked=len(revoked))


# --- reports -------------------------------------------------------------------------------------


def _person(row: RowMapping, prefix: str, id_key: str) -> PersonRef | None:
    if row[id_key] is None or row[f"{prefix}_handle"] is None:
        return None
    return PersonRef(id=row[id_key], handle=row[f"{prefix}_handle"], display_name=row[f"{prefix}_name"])


def _report_out(row: RowMapping) -> AdminReportOut:
    deleted = row["deleted_at"] is not None
    return AdminReportOut(
        id=row["id"],
        message_id=row["message_id"],
        conversation_id=row["conversation_id"],
        conversation_name=row["conversation_name"] or None,
        conversation_kind=row["conversation_kind"],
        reason=row["reason"],
        created_at=row["created_at"],
        reporter=_person(row, "reporter", "reporter_id"),
        sender=_person(row, "sender", "sender_id"),
        message_body="" if deleted else row["body"],
        message_deleted=deleted,
        resolved_at=row["resolved_at"],
        resolved_by=_person(row, "resolver", "resolver_id"),
        resolution=row["resolution"],
    )


async def list_reports(
    rt: Runtime, *, user_id: int, state: str, before: int | None, limit: int
) -> list[AdminReportOut]:
    async with rt.engine.connect() as conn:
        await require_admin(conn, user_id=user_id)
        rows = await repo.list_reports(conn, state=state, before=before, limit=limit)
    return [_report_out(r) for r in rows]


async def get_report(rt: Runtime, *, user_id: int, report_id: int) -> ReportDetail:
    """A report with its history: every audit entry about it (actions, resolution), oldest first."""
    async with rt.engine.connect() as conn:
        await require_admin(conn, user_id=user_id)
        row = await repo.report_view(conn, report_id=report_id)
        if row is None:
            raise NotFound("report not found", code="report_not_found")
        history = await repo.report_history(conn, report_id=report_id)
    return ReportDetail(**_report_out(row).model_dump(), history=[_audit_out(h) for h in history])


_RESOLUTIONS: dict[str, str] = {
    "dismiss": "dismissed",
    "delete_message": "message_deleted",
    "deactivate_sender": "sender_deactivated",
}


async def do_act_on_report(
    rt: Runtime, *, user_id: int, report_id: int, action: ReportAction, note: str, ip: str | None
) -> ReportDetail:
    """Dismiss a report, or delete the reported message, or deactivate its sender; the report is
    resolved (deleting the message resolves every open report of it) and the step is audited."""
    gone: list[Any] | None = None
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await require_admin(uow.conn, user_id=user_id)
        report = await repo.report_for_update(uow.conn, report_id=report_id)
        if report is None:
            raise NotFound("report not found", code="report_not_found")
        if report["resolved_at"] is not None:
            raise Conflict("this report is already resolved", code="report_resolved")
        details: dict[str, Any] = {"message_id": report["message_id"], "note": note}
        resolution = _RESOLUTIONS[action] + (f": {note}" if note else "")
        if action == "deactivate_sender":
            sender = await repo.message_sender(uow.conn, message_id=report["message_id"])
            if sender is None:
                raise Conflict("the sender's account no longer exists", code="sender_gone")
            await set_active_in(uow, user_id=user_id, target_id=sender, active=False, ip=ip, via=f"report:{report_id}")
            details["sender_id"] = sender
        if action == "delete_message":
            gone = await delete_message_in(rt, uow, message_id=report["message_id"], by=user_id)
            details["already_deleted"] = gone is None
        # Deleting the message settles every open report of it; the others settle this one.
        whole = action == "delete_message"
        resolved = await repo.resolve_open_reports(
            uow.conn,
            message_id=report["message_id"] if whole else None,
            report_id=None if whole else report_id,
            by=user_id,
            resolution=resolution,
        )
        for rid in resolved:
            await record_audit(
                uow.conn,
                actor_id=user_id,
                action=f"report.{action}",
                target_type="report",
                target_id=str(rid),
                ip=ip,
                details=details | ({"via_report": report_id} if rid != report_id else {}),
            )
    if gone:
        await purge_uploads(rt, upload_ids=gone)
    return await get_report(rt, user_id=user_id, report_id=report_id)


# --- audit log -----------------------------------------------------------------------------------


def _audit_out(row: RowMapping) -> AuditEntryOut:
    return AuditEntryOut(
        id=row["id"],
        at=row["at"],
        actor_id=row["actor_id"],
        actor_handle=row["actor_handle"],
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        ip=row["ip"],
        details=row["details"] or {},
    )


async def list_audit(rt: Runtime, *, user_id: int, before: int | None, limit: int, **filters: Any) -> AuditPage:
    """Entries newest first; filters: actor_id, action (``user.`` matches a prefix), target_type,
    target_id, since, until."""
    async with rt.engine.connect() as conn:
        await require_admin(conn, user_id=user_id)
        rows = await repo.list_audit(conn, before=before, limit=limit + 1, **filters)
    more = len(rows) > limit
    items = [_audit_out(r) for r in rows[:limit]]
    return AuditPage(items=items, next_before=items[-1].id if more and items else None)


EXPORT_BATCH = 1000
CSV_FIELDS = ("id", "at", "actor_id", "actor_handle", "action", "target_type", "target_id", "ip", "details")


def _export_line(entry: AuditEntryOut, fmt: Literal["csv", "jsonl"]) -> bytes:
    data = entry.model_dump(mode="json")
    if fmt == "jsonl":
        return orjson.dumps(data) + b"\n"
    buf = io.StringIO()
    data["details"] = orjson.dumps(data["details"]).decode()
    csv.writer(buf).writerow(["" if data[k] is None else data[k] for k in CSV_FIELDS])
    return buf.getvalue().encode()


async def do_start_export(
    rt: Runtime, *, user_id: int, fmt: Literal["csv", "jsonl"], ip: str | None, **filters: Any
) -> AsyncIterator[bytes]:
    """Check the caller and record the export (itself audited), then stream the matching entries
    newest first, a batch per query so no transaction stays open while the client reads."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await require_admin(uow.conn, user_id=user_id)
        shown = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items() if v is not None}
        await record_audit(
            uow.conn,
            actor_id=user_id,
            action="audit.export",
            target_type="audit_log",
            target_id=None,
            ip=ip,
            details={"format": fmt, "filters": shown},
        )
    return _export_stream(rt, fmt=fmt, filters=filters)


async def _export_stream(rt: Runtime, *, fmt: Literal["csv", "jsonl"], filters: dict[str, Any]) -> AsyncIterator[bytes]:
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerow(CSV_FIELDS)
        yield buf.getvalue().encode()
    before: int | None = None
    while True:
        async with rt.engine.connect() as conn:
            rows = await repo.list_audit(conn, before=before, limit=EXPORT_BATCH, **filters)
        if not rows:
            return
        yield b"".join(_export_line(_audit_out(r), fmt) for r in rows)
        before = rows[-1]["id"]


# --- status --------------------------------------------------------------------------------------


async def get_status(rt: Runtime, *, user_id: int, facts: status.NodeFacts) -> StatusOut:
    async with rt.engine.connect() as conn:
        await require_admin(conn, user_id=user_id)
        watcher = await status.watcher_out(rt, conn, facts.watcher)
        mail = await status.mail_out(rt, conn)
        queues = await status.queues_out(conn)
    return StatusOut(
        checked_at=status.now(),
        node_id=facts.node_id,
        nodes=status.nodes_out(facts),
        database=await status.check_database(rt),
        redis=await status.check_redis(rt),
        bus_healthy=facts.bus_healthy,
        watcher=watcher,
        mail=mail,
        queues=queues,
    )
