"""HTTP routes for tips: configuration, intents, reporting a transaction, my tips (and CSV),
totals on a message, a conversation's leaderboard."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.tips import actions
from tipline.domain.tips.schemas import (
    IntentId,
    IntentIn,
    IntentOut,
    LeaderboardOut,
    ReportIn,
    TipCheckOut,
    TipConfigOut,
    TipList,
    TotalOut,
)

router = APIRouter(tags=["tips"])
IntentPath = Annotated[IntentId, Path(description="The intent id (0x + 64 hex digits).")]


@router.get("/tips/config", response_model=TipConfigOut)
async def config(rt: Rt, caller: CurrentCaller) -> TipConfigOut:
    """Chain, contract, tokens and bounds a client needs to offer tipping."""
    return actions.get_config(rt)


@router.post(
    "/tips/intents",
    status_code=status.HTTP_201_CREATED,
    response_model=IntentOut,
    responses={429: {"description": "rate limited; see Retry-After"}},
)
async def create_intent(body: IntentIn, rt: Rt, caller: CurrentCaller) -> IntentOut:
    """Issue a tip intent; the answer holds the exact contract call(s) for the tipper's wallet."""
    await rt.limits.check("tip_per_user", str(caller.user_id))
    return await actions.do_create_intent(rt, user_id=caller.user_id, body=body)


@router.post("/tips/intents/{intent_id}/tx", response_model=IntentOut)
async def report_tx(intent_id: IntentPath, body: ReportIn, rt: Rt, caller: CurrentCaller) -> IntentOut:
    """Report the transaction the wallet sent: the tip shows as pending until the chain settles it."""
    return await actions.do_report_tx(rt, user_id=caller.user_id, intent_id=intent_id, tx_hash=body.tx_hash)


@router.get("/tips/intents/{intent_id}", response_model=IntentOut)
async def get_intent(intent_id: IntentPath, rt: Rt, caller: CurrentCaller) -> IntentOut:
    return await actions.get_intent(rt, user_id=caller.user_id, intent_id=intent_id)


@router.get("/tips/mine", response_model=TipList)
async def my_tips(
    rt: Rt,
    caller: CurrentCaller,
    direction: Literal["sent", "received"] = "sent",
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> TipList:
    """Tips the caller sent or received, newest first (page on with ``before``)."""
    tips = await actions.get_my_tips(rt, user_id=caller.user_id, direction=direction, before=before, limit=limit)
    return TipList(tips=tips)


@router.get("/tips/mine.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def my_tips_csv(rt: Rt, caller: CurrentCaller) -> Response:
    """Every tip the caller sent or received, as CSV."""
    body = await actions.export_my_tips_csv(rt, user_id=caller.user_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tipline-tips.csv"'},
    )


@router.get("/messages/{message_id}/tips", response_model=list[TotalOut])
async def message_totals(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[TotalOut]:
    """Confirmed tips on a message, per token (shown like reactions)."""
    return await actions.get_message_totals(rt, user_id=caller.user_id, message_id=message_id)


@router.get("/conversations/{conversation_id}/tips/leaderboard", response_model=LeaderboardOut)
async def leaderboard(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> LeaderboardOut:
    """Who received and who gave the most in confirmed tips here, per token."""
    return await actions.get_leaderboard(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.get("/conversations/{conversation_id}/tips/recipients/{user_id}", response_model=TipCheckOut)
async def check_recipient(conversation_id: IdPath, user_id: IdPath, rt: Rt, caller: CurrentCaller) -> TipCheckOut:
    """Whether I can tip this member here now (e.g. ``recipient_no_wallet``: they have linked no
    wallet on this chain), asked when a tip dialog opens; nothing is created."""
    return await actions.check_tip(rt, user_id=caller.user_id, conversation_id=conversation_id, recipient_id=user_id)
