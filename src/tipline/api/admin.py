"""HTTP routes of the admin console: users, the report queue, the audit log, the status page.

Every route is for active server admins only: the router's dependency checks ``users.is_admin``
on each request (403 otherwise) and each action checks again in its own transaction. Personal
access tokens never reach these routes (tokens/scopes.py lists none). See docs/subsystems/admin.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from tipline.api.deps import CurrentCaller, IdPath, Rt, client_ip
from tipline.domain.admin import actions
from tipline.domain.admin.access import require_admin
from tipline.domain.admin.schemas import (
    AdminFlagIn,
    AdminReportOut,
    AdminUserDetail,
    AdminUserOut,
    AdminUserPage,
    AuditPage,
    ReportActionIn,
    ReportDetail,
    ReportState,
    SessionsRevokedOut,
    StatusOut,
    TwoFactorResetOut,
    UserState,
)
from tipline.domain.admin.status import NodeFacts, WatcherFacts
from tipline.domain.moderation.schemas import AccountStateOut
from tipline.storage.db import read_connection


async def admin_only(rt: Rt, caller: CurrentCaller) -> None:
    async with read_connection(rt.engine) as conn:
        await require_admin(conn, user_id=caller.user_id)


router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(admin_only)],
    responses={403: {"description": "not an active server admin (`not_a_server_admin`)"}},
)
Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Entries older than this id (paging).")]

# --- users ---------------------------------------------------------------------------------------


@router.get("/users", response_model=AdminUserPage)
async def list_users(
    rt: Rt,
    caller: CurrentCaller,
    q: Annotated[str, Query(max_length=200, description="Part of a handle, display name or email.")] = "",
    state: UserState = "all",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Limit = 50,
) -> AdminUserPage:
    return await actions.list_users(rt, user_id=caller.user_id, q=q, state=state, offset=offset, limit=limit)


@router.get("/users/{user_id}", response_model=AdminUserDetail)
async def get_user(user_id: IdPath, rt: Rt, caller: CurrentCaller) -> AdminUserDetail:
    """An account with its second factors and live sessions (personal access tokens included)."""
    return await actions.get_user(rt, user_id=caller.user_id, target_id=user_id)


@router.post("/users/{user_id}/deactivate", response_model=AccountStateOut)
async def deactivate(user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> AccountStateOut:
    """End every session of the account at once (every node) and refuse sign-in. Refused for
    yourself (409 `deactivate_self`) and for the last active admin (409 `last_admin`)."""
    return await actions.do_set_active(
        rt, user_id=caller.user_id, target_id=user_id, active=False, ip=client_ip(request)
    )


@router.post("/users/{user_id}/reactivate", response_model=AccountStateOut)
async def reactivate(user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> AccountStateOut:
    return await actions.do_set_active(
        rt, user_id=caller.user_id, target_id=user_id, active=True, ip=client_ip(request)
    )


@router.put("/users/{user_id}/admin", response_model=AdminUserOut)
async def set_admin(
    user_id: IdPath, body: AdminFlagIn, rt: Rt, caller: CurrentCaller, request: Request
) -> AdminUserOut:
    """Make the account a server admin or take that away; the last active admin stays (409 `last_admin`)."""
    return await actions.do_set_admin(
        rt, user_id=caller.user_id, target_id=user_id, is_admin=body.is_admin, ip=client_ip(request)
    )


@router.post("/users/{user_id}/reset-2fa", response_model=TwoFactorResetOut)
async def reset_two_factor(user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> TwoFactorResetOut:
    """Remove the account's authenticator app, recovery codes and passkeys."""
    return await actions.do_reset_two_factor(rt, user_id=caller.user_id, target_id=user_id, ip=client_ip(request))


@router.delete("/users/{user_id}/sessions", response_model=SessionsRevokedOut)
async def revoke_all_sessions(user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> SessionsRevokedOut:
    """Sign the account out everywhere (its personal access tokens too)."""
    return await actions.do_revoke_sessions(
        rt, user_id=caller.user_id, target_id=user_id, session_id=None, ip=client_ip(request)
    )


@router.delete("/users/{user_id}/sessions/{session_id}", response_model=SessionsRevokedOut)
async def revoke_session(
    user_id: IdPath, session_id: uuid.UUID, rt: Rt, caller: CurrentCaller, request: Request
) -> SessionsRevokedOut:
    return await actions.do_revoke_sessions(
        rt, user_id=caller.user_id, target_id=user_id, session_id=session_id, ip=client_ip(request)
    )


# --- reports -------------------------------------------------------------------------------------


@router.get("/reports", response_model=list[AdminReportOut])
async def list_reports(
    rt: Rt, caller: CurrentCaller, state: ReportState = "open", before: Before = None, limit: Limit = 50
) -> list[AdminReportOut]:
    """Every conversation's reports, newest first."""
    return await actions.list_reports(rt, user_id=caller.user_id, state=state, before=before, limit=limit)


@router.get("/reports/{report_id}", response_model=ReportDetail)
async def get_report(report_id: IdPath, rt: Rt, caller: CurrentCaller) -> ReportDetail:
    return await actions.get_report(rt, user_id=caller.user_id, report_id=report_id)


@router.post("/reports/{report_id}/actions", response_model=ReportDetail)
async def act_on_report(
    report_id: IdPath, body: ReportActionIn, rt: Rt, caller: CurrentCaller, request: Request
) -> ReportDetail:
    """Dismiss the report, delete the reported message (every open report of it is resolved), or
    deactivate its sender. 409 `report_resolved` when it was resolved already."""
    return await actions.do_act_on_report(
        rt, user_id=caller.user_id, report_id=report_id, action=body.action, note=body.note, ip=client_ip(request)
    )


# --- audit log -----------------------------------------------------------------------------------


def audit_filters(
    actor_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    action: Annotated[str | None, Query(max_length=100, description="An action, or a prefix ending in `.`.")] = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="At or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before (ISO 8601).")] = None,
) -> dict[str, Any]:
    return {
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "since": since,
        "until": until,
    }


Filters = Annotated[dict[str, Any], Depends(audit_filters)]


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    rt: Rt, caller: CurrentCaller, filters: Filters, before: Before = None, limit: Limit = 50
) -> AuditPage:
    """Admin and moderator actions, newest first: who, what, when, from which IP."""
    return await actions.list_audit(rt, user_id=caller.user_id, before=before, limit=limit, **filters)


EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in EXPORT_TYPES.values()}, "description": "A file download."}},
)
async def export_audit(
    rt: Rt, caller: CurrentCaller, request: Request, filters: Filters, format: Literal["csv", "jsonl"] = "csv"
) -> StreamingResponse:
    """Every matching entry as a CSV or JSON Lines download, newest first (the export is audited)."""
    body = await actions.do_start_export(rt, user_id=caller.user_id, fmt=format, ip=client_ip(request), **filters)
    name = f"tipline-audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        body, media_type=EXPORT_TYPES[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# --- status --------------------------------------------------------------------------------------


def _node_facts(request: Request) -> NodeFacts:
    # The node (tipline.node) sits above the transports: read as data, never imported.
    node: Any = request.app.state.node
    rt = node.rt
    stats = node.stats()
    w = node.chain_watcher
    watcher = None
    if w is not None:
        watcher = WatcherFacts(
            active=w.active,
            head=w.head,
            scanned=w.scanned,
            last_pass_at=w.last_pass_at,
            chain_head=w.rpc.block_number if w.active else None,
        )
    return NodeFacts(
        node_id=rt.node_id,
        live_nodes=tuple(node.router.live),
        connections=stats.connections,
        users=stats.users,
        bus_healthy=stats.bus_healthy,
        watcher=watcher,
    )


@router.get("/status", response_model=StatusOut)
async def get_status(rt: Rt, caller: CurrentCaller, request: Request) -> StatusOut:
    """Nodes, PostgreSQL, Redis, the chain watcher's lag and the queues (mail outbox and others)."""
    return await actions.get_status(rt, user_id=caller.user_id, facts=_node_facts(request))
