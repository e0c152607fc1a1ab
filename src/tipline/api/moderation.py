"""HTTP routes for moderation: blocks, reports, slow mode (account deactivation: api/admin.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from tipline.api.deps import CurrentCaller, IdPath, Rt, client_ip
from tipline.domain.moderation import actions
from tipline.domain.moderation.schemas import (
    BlockedUserOut,
    ReportIn,
    ReportOut,
    ResolveIn,
    SlowModeIn,
    SlowModeOut,
)

router = APIRouter(tags=["moderation"])


@router.get("/me/blocks", response_model=list[BlockedUserOut])
async def list_blocks(rt: Rt, caller: CurrentCaller) -> list[BlockedUserOut]:
    """The people I blocked."""
    return await actions.list_blocks(rt, user_id=caller.user_id)


@router.put("/me/blocks/{user_id}", response_model=list[BlockedUserOut])
async def block(user_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[BlockedUserOut]:
    """Block a user: no DMs and no mention notices either way; their messages are hidden from me."""
    return await actions.do_block(rt, user_id=caller.user_id, target_id=user_id)


@router.delete("/me/blocks/{user_id}", response_model=list[BlockedUserOut])
async def unblock(user_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[BlockedUserOut]:
    return await actions.do_unblock(rt, user_id=caller.user_id, target_id=user_id)


@router.post("/messages/{message_id}/reports", status_code=status.HTTP_201_CREATED, response_model=ReportOut)
async def report(message_id: IdPath, body: ReportIn, rt: Rt, caller: CurrentCaller) -> ReportOut:
    """Report a message to its conversation's owners and admins and to the server admins."""
    return await actions.do_report(rt, user_id=caller.user_id, message_id=message_id, reason=body.reason)


@router.get("/reports", response_model=list[ReportOut])
async def list_reports(
    rt: Rt,
    caller: CurrentCaller,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ReportOut]:
    """Reports I handle: all of them for a server admin, else those of conversations I manage."""
    return await actions.list_reports(rt, user_id=caller.user_id, include_resolved=include_resolved, limit=limit)


@router.post("/reports/{report_id}/resolve", response_model=ReportOut)
async def resolve(report_id: IdPath, body: ResolveIn, rt: Rt, caller: CurrentCaller, request: Request) -> ReportOut:
    return await actions.do_resolve_report(
        rt,
        user_id=caller.user_id,
        report_id=report_id,
        resolution=body.resolution,
        note=body.note,
        ip=client_ip(request),
    )


@router.get("/conversations/{conversation_id}/slow-mode", response_model=SlowModeOut)
async def get_slow_mode(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> SlowModeOut:
    return await actions.get_slow_mode(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.put("/conversations/{conversation_id}/slow-mode", response_model=SlowModeOut)
async def set_slow_mode(
    conversation_id: IdPath, body: SlowModeIn, rt: Rt, caller: CurrentCaller, request: Request
) -> SlowModeOut:
    """Owners and admins: members may send one message per ``seconds`` (0 turns it off)."""
    return await actions.do_set_slow_mode(
        rt, user_id=caller.user_id, conversation_id=conversation_id, seconds=body.seconds, ip=client_ip(request)
    )
