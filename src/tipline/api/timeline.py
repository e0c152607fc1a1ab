"""HTTP routes for the timeline: edit history, pins, read receipts and their setting."""

from __future__ import annotations

from fastapi import APIRouter, status

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.timeline import actions
from tipline.domain.timeline.schemas import PinOut, PinsOut, ReceiptSettings, ReceiptsOut, RevisionsOut

router = APIRouter(tags=["timeline"])


@router.get("/messages/{message_id}/revisions", response_model=RevisionsOut)
async def revisions(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> RevisionsOut:
    """The earlier versions of an edited message, oldest first (members of its conversation)."""
    return await actions.get_revisions(rt, user_id=caller.user_id, message_id=message_id)


@router.get("/conversations/{conversation_id}/pins", response_model=PinsOut)
async def pins(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> PinsOut:
    """The conversation's pinned messages, the newest pin first."""
    return await actions.list_pins(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.put("/messages/{message_id}/pin", response_model=PinOut)
async def pin(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> PinOut:
    """Pin a message: any member in a direct conversation or a group, owners and admins in a channel."""
    return await actions.do_pin(rt, user_id=caller.user_id, message_id=message_id)


@router.delete("/messages/{message_id}/pin", status_code=status.HTTP_204_NO_CONTENT)
async def unpin(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    """Unpin a message (whoever may pin it)."""
    await actions.do_unpin(rt, user_id=caller.user_id, message_id=message_id)


@router.get("/conversations/{conversation_id}/receipts", response_model=ReceiptsOut)
async def receipts(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> ReceiptsOut:
    """How far members have read: positions in small conversations, a count for the last message in any."""
    return await actions.get_receipts(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.get("/me/read-receipts", response_model=ReceiptSettings)
async def receipt_settings(rt: Rt, caller: CurrentCaller) -> ReceiptSettings:
    return await actions.get_receipt_settings(rt, user_id=caller.user_id)


@router.put("/me/read-receipts", response_model=ReceiptSettings)
async def set_receipt_settings(body: ReceiptSettings, rt: Rt, caller: CurrentCaller) -> ReceiptSettings:
    """Send read receipts or not. Off: others stop seeing how far I read; my unread counts still work."""
    return await actions.do_set_receipt_settings(rt, user_id=caller.user_id, settings=body)
