"""Moderation actions: block and unblock, report and resolve, slow mode, deactivate accounts.
The only code that writes blocks, reports, slow mode and account activation.
See docs/subsystems/moderation.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from tipline.bus.base import topic_conversation, topic_user
from tipline.bus.envelope import encode_control, encode_event, event_frame
from tipline.bus.on_commit import unit_of_work
from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.admin.audit import record_audit
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import (
    access_member,
    require_manager,
    require_not_archived,
    require_not_direct,
)
from tipline.domain.messages.access import access_message
from tipline.domain.moderation import repository as repo
from tipline.domain.moderation.access import access_report
from tipline.domain.moderation.schemas import BlockedUserOut, ReportOut, SlowModeOut
from tipline.errors import Conflict, Invalid, NotFound
from tipline.runtime import Runtime

# --- blocks -------------------------------------------------------------------------------------


async def do_block(rt: Runtime, *, user_id: int, target_id: int) -> list[BlockedUserOut]:
    """Block a user: both ways no new DMs, no mention notices and no tips; their messages are
    hidden from the blocker everywhere (history, live, search), at once on every node."""
    if target_id == user_id:
        raise Invalid("you cannot block yourself", code="block_self")
    async with unit_of_work(rt.engine, rt.bus) as uow:
        if await accounts_repo.public_user(uow.conn, user_id=target_id) is None:
            raise NotFound("user not found", code="user_not_found")
        if await repo.add_block(uow.conn, blocker_id=user_id, blocked_id=target_id):
            uow.outbox.add(
                topic_user(user_id), encode_control({"op": "hide_sender", "user_id": user_id, "target_id": target_id})
            )
        return _blocks_out(await repo.list_blocks(uow.conn, blocker_id=user_id))


async def do_unblock(rt: Runtime, *, user_id: int, target_id: int) -> list[BlockedUserOut]:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        if await repo.remove_block(uow.conn, blocker_id=user_id, blocked_id=target_id):
            uow.outbox.add(
                topic_user(user_id),
                encode_control({"op": "unhide_sender", "user_id": user_id, "target_id": target_id}),
            )
        return _blocks_out(await repo.list_blocks(uow.conn, blocker_id=user_id))


async def list_blocks(rt: Runtime, *, user_id: int) -> list[BlockedUserOut]:
    async with rt.engine.connect() as conn:
        return _blocks_out(await repo.list_blocks(conn, blocker_id=user_id))


def _blocks_out(rows: list[RowMapping]) -> list[BlockedUserOut]:
    return [
        BlockedUserOut(
            id=r["id"],
            handle=r["handle"],
            display_name=r["display_name"],
            is_bot=r["is_bot"],
            blocked_at=r["created_at"],
        )
        for r in rows
    ]


# --- reports ------------------------------------------------------------------------------------


def _report_out(row: RowMapping) -> ReportOut:
    extra: dict[str, Any] = {}
    if "body" in row:
        deleted = row["deleted_at"] is not None
        extra = {
            "message_body": "" if deleted else row["body"],
            "message_sender_id": row["sender_id"],
            "message_deleted": deleted,
        }
    return ReportOut(
        id=row["id"],
        message_id=row["message_id"],
        conversation_id=row["conversation_id"],
        reporter_id=row["reporter_id"],
        reason=row["reason"],
        created_at=row["created_at"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        resolution=row["resolution"],
        **extra,
    )


async def do_report(rt: Runtime, *, user_id: int, message_id: int, reason: str) -> ReportOut:
    """Report a message the caller can read to its conversation's owners and admins and to the
    server admins; they hear of it live (a ``report.created`` event on their user topic)."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id)
        if access.message["deleted_at"] is not None:
            raise Conflict("this message was already deleted", code="message_deleted")
        if access.message["sender_id"] == user_id:
            raise Invalid("you cannot report your own message", code="report_self")
        cid = access.message["conversation_id"]
        row = await repo.insert_report(
            uow.conn, message_id=message_id, conversation_id=cid, reporter_id=user_id, reason=reason
        )
        out = _report_out(row)
        # The reporter is not named to the handlers' sockets; the report list shows them.
        frame = event_frame(
            "report.created", cid, None, {"report_id": out.id, "message_id": message_id, "reason": out.reason}
        )
        payload = encode_event(frame)
        for uid in sorted(await repo.report_recipients(uow.conn, conversation_id=cid)):
            uow.outbox.add(topic_user(uid), payload)
        return out


async def list_reports(rt: Runtime, *, user_id: int, include_resolved: bool, limit: int) -> list[ReportOut]:
    """Server admins see every report; owners and admins those of conversations they manage."""
    async with rt.engine.connect() as conn:
        scope: list[int] | None = None
        if not await repo.is_server_admin(conn, user_id=user_id):
            scope = await repo.managed_conversation_ids(conn, user_id=user_id)
            if not scope:
                return []
        rows = await repo.list_reports(conn, conversation_ids=scope, include_resolved=include_resolved, limit=limit)
    return [_report_out(r) for r in rows]


async def do_resolve_report(
    rt: Runtime, *, user_id: int, report_id: int, resolution: str, note: str, ip: str | None = None
) -> ReportOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        report = await access_report(uow.conn, user_id=user_id, report_id=report_id, for_update=True)
        if report["resolved_at"] is not None:
            raise Conflict("this report is already resolved", code="report_resolved")
        text = resolution if not note else f"{resolution}: {note}"
        out = _report_out(await repo.resolve_report(uow.conn, report_id=report_id, by=user_id, resolution=text))
        await record_audit(
            uow.conn,
            actor_id=user_id,
            action="report.resolve",
            target_type="report",
            target_id=str(report_id),
            ip=ip,
            details={"resolution": resolution, "note": note, "message_id": report["message_id"]},
        )
        return out


# --- slow mode ----------------------------------------------------------------------------------


async def do_set_slow_mode(
    rt: Runtime, *, user_id: int, conversation_id: int, seconds: int, ip: str | None = None
) -> SlowModeOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_member(uow.conn, user_id=user_id, conversation_id=conversation_id, for_update=True)
        require_not_direct(access)
        require_manager(access)
        require_not_archived(access)
        if await repo.slow_mode(uow.conn, conversation_id=conversation_id) != seconds:
            await repo.set_slow_mode(uow.conn, conversation_id=conversation_id, seconds=seconds)
            data = {"slow_mode_s": seconds, "by": user_id}
            seq = await conv_repo.append_event(
                uow.conn, conversation_id=conversation_id, event="conversation.slow_mode", data=data
            )
            frame = event_frame("conversation.slow_mode", conversation_id, seq, data)
            uow.outbox.add(topic_conversation(conversation_id), encode_event(frame))
            await record_audit(
                uow.conn,
                actor_id=user_id,
                action="conversation.slow_mode",
                target_type="conversation",
                target_id=str(conversation_id),
                ip=ip,
                details={"seconds": seconds},
            )
        return SlowModeOut(conversation_id=conversation_id, slow_mode_s=seconds)


async def get_slow_mode(rt: Runtime, *, user_id: int, conversation_id: int) -> SlowModeOut:
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        seconds = await repo.slow_mode(conn, conversation_id=conversation_id)
    return SlowModeOut(conversation_id=conversation_id, slow_mode_s=seconds)


# --- server administration ----------------------------------------------------------------------


async def do_grant_admin(rt: Runtime, *, login: str, admin: bool = True) -> int:
    """Make an account a server admin, or take that away (`tipline admin grant`); returns its id.
    Audited (docs/subsystems/admin.md)."""
    async with rt.engine.begin() as conn:
        user_id = await repo.user_id_by_login(conn, login=login)
        if user_id is None:
            raise NotFound(f"no account with handle or email {login!r}", code="user_not_found")
        # The one place that sets the flag (accounts), shared with `tipline admin create`.
        await accounts_repo.set_admin(conn, user_id=user_id, is_admin=admin)
        # The operator's shell is the way back in: here the last admin may go. No actor, no IP.
        await record_audit(
            conn,
            actor_id=None,
            action="user.admin_grant" if admin else "user.admin_revoke",
            target_type="user",
            target_id=str(user_id),
            ip=None,
            details={"via": "cli"},
        )
    return user_id
