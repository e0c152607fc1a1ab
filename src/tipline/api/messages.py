"""HTTP routes for messages: history, send, edit, delete, reactions, threads, replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from tipline.api.deps import CurrentCaller, IdPath, Rt, Sends, UncheckedSession, client_ip
from tipline.domain.messages import actions
from tipline.domain.messages.schemas import (
    Ack,
    EditIn,
    Emoji,
    HistoryPage,
    MessageOut,
    ReplayOut,
    SendIn,
    SendRequest,
    page_json,
)

router = APIRouter(tags=["messages"])
SeqQuery = Annotated[int | None, Query(ge=0, le=2**63 - 1)]


@router.get("/conversations/{conversation_id}/messages", response_model=HistoryPage)
async def history(
    conversation_id: IdPath,
    rt: Rt,
    session: UncheckedSession,
    before: SeqQuery = None,
    after: SeqQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """A page of messages in seq order: the latest, those before a seq, or those after one."""
    # The action checks the session together with the membership, in one query.
    page = await actions.get_history(
        rt, claims=session, conversation_id=conversation_id, before=before, after=after, limit=limit
    )
    # Encoded by the domain from the dicts it already holds (HistoryPage documents the shape).
    return Response(page_json(page), media_type="application/json")


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=Ack,
    responses={429: {"description": "rate limited; see Retry-After"}},
)
async def send(
    conversation_id: IdPath,
    body: SendIn,
    rt: Rt,
    sends: Sends,
    caller: CurrentCaller,
    request: Request,
) -> Ack:
    """Send a message. Answers after commit; the same ``client_msg_id`` again returns the same ack."""
    send = SendRequest(
        user_id=caller.user_id,
        session_id=caller.claims.session_id,
        conversation_id=conversation_id,
        client_msg_id=body.client_msg_id,
        body=body.body,
        reply_to=body.reply_to,
        attachment_ids=tuple(body.attachment_ids),
        thread_only=body.thread_only,
    )
    return await (await actions.do_send_message(rt, sends, send, ip=client_ip(request)))


@router.get("/conversations/{conversation_id}/events", response_model=ReplayOut)
async def replay(
    conversation_id: IdPath,
    rt: Rt,
    caller: CurrentCaller,
    since: Annotated[int, Query(ge=0, le=2**63 - 1)],
) -> ReplayOut:
    """Every event after ``since`` (what a reconnecting client missed), or ``reload: true``."""
    return await actions.replay_since(rt, user_id=caller.user_id, conversation_id=conversation_id, since=since)


@router.get("/messages/{message_id}", response_model=MessageOut)
async def get_message(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> MessageOut:
    return await actions.get_message(rt, user_id=caller.user_id, message_id=message_id)


@router.patch("/messages/{message_id}", response_model=MessageOut)
async def edit(message_id: IdPath, body: EditIn, rt: Rt, caller: CurrentCaller) -> MessageOut:
    """Edit my own message (it is marked edited)."""
    return await actions.do_edit_message(rt, user_id=caller.user_id, message_id=message_id, body=body.body)


@router.delete("/messages/{message_id}", response_model=MessageOut)
async def delete(message_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> MessageOut:
    """Delete my message, or any message as an owner or admin; a tombstone remains."""
    return await actions.do_delete_message(rt, user_id=caller.user_id, message_id=message_id, ip=client_ip(request))


@router.get("/messages/{message_id}/replies", response_model=HistoryPage)
async def replies(message_id: IdPath, rt: Rt, caller: CurrentCaller, after: SeqQuery = None) -> HistoryPage:
    """The thread under a message, oldest first; ``after`` pages on."""
    return await actions.get_replies(rt, user_id=caller.user_id, message_id=message_id, after=after)


@router.put("/messages/{message_id}/reactions/{emoji}", response_model=MessageOut)
async def add_reaction(
    message_id: IdPath, emoji: Annotated[Emoji, Path()], rt: Rt, caller: CurrentCaller
) -> MessageOut:
    return await actions.do_react(rt, user_id=caller.user_id, message_id=message_id, emoji=emoji, add=True)


@router.delete("/messages/{message_id}/reactions/{emoji}", response_model=MessageOut)
async def remove_reaction(
    message_id: IdPath, emoji: Annotated[Emoji, Path()], rt: Rt, caller: CurrentCaller
) -> MessageOut:
    return await actions.do_react(rt, user_id=caller.user_id, message_id=message_id, emoji=emoji, add=False)
