"""HTTP routes for conversations, members and read markers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from tipline.api.deps import CurrentCaller, IdPath, Rt, client_ip
from tipline.domain.conversations import actions
from tipline.domain.conversations.schemas import (
    ConversationOut,
    ConversationPage,
    CreateConversationIn,
    InviteIn,
    MemberOut,
    MemberPage,
    OpenDirectIn,
    PatchConversationIn,
    RoleIn,
)
from tipline.domain.messages.schemas import ReadIn
from tipline.domain.text import StorableStr

router = APIRouter(prefix="/conversations", tags=["conversations"])


@router.get("", response_model=ConversationPage)
async def list_mine(rt: Rt, caller: CurrentCaller) -> ConversationPage:
    """My conversations, most recently active first, with unread counts and last message."""
    return ConversationPage(conversations=await actions.list_conversations(rt, user_id=caller.user_id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationOut)
async def create(body: CreateConversationIn, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    """Create a group, a public channel or a private channel; I become its owner."""
    return await actions.do_create_conversation(rt, user_id=caller.user_id, data=body)


@router.post("/direct", response_model=ConversationOut)
async def open_direct(body: OpenDirectIn, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    """Open (or find) the direct conversation with another user."""
    return await actions.do_open_direct(rt, user_id=caller.user_id, peer_id=body.user_id)


@router.get("/public", response_model=ConversationPage)
async def directory(
    rt: Rt,
    caller: CurrentCaller,
    q: Annotated[StorableStr | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ConversationPage:
    """Browse public channels (any signed-in user may join them)."""
    return ConversationPage(
        conversations=await actions.list_public_channels(
            rt, user_id=caller.user_id, query=q, limit=limit, offset=offset
        )
    )


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    return await actions.get_conversation(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.patch("/{conversation_id}", response_model=ConversationOut)
async def patch(conversation_id: IdPath, body: PatchConversationIn, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    """Rename or set the topic (owners and admins)."""
    return await actions.do_update_conversation(rt, user_id=caller.user_id, conversation_id=conversation_id, patch=body)


@router.post("/{conversation_id}/archive", response_model=ConversationOut)
async def archive(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    """Archive: the conversation becomes read-only (owners and admins)."""
    return await actions.do_set_archived(rt, user_id=caller.user_id, conversation_id=conversation_id, archived=True)


@router.post("/{conversation_id}/unarchive", response_model=ConversationOut)
async def unarchive(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    return await actions.do_set_archived(rt, user_id=caller.user_id, conversation_id=conversation_id, archived=False)


@router.post("/{conversation_id}/join", response_model=ConversationOut)
async def join(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> ConversationOut:
    """Join a public channel."""
    return await actions.do_join(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.post("/{conversation_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    await actions.do_leave(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.get("/{conversation_id}/members", response_model=MemberPage)
async def members(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> MemberPage:
    return MemberPage(members=await actions.list_members(rt, user_id=caller.user_id, conversation_id=conversation_id))


@router.post("/{conversation_id}/members", status_code=status.HTTP_201_CREATED, response_model=MemberOut)
async def invite(conversation_id: IdPath, body: InviteIn, rt: Rt, caller: CurrentCaller) -> MemberOut:
    """Add a user (owners and admins)."""
    return await actions.do_invite(rt, user_id=caller.user_id, conversation_id=conversation_id, invitee_id=body.user_id)


@router.delete("/{conversation_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove(conversation_id: IdPath, user_id: IdPath, rt: Rt, caller: CurrentCaller, request: Request) -> None:
    """Remove a member (owners and admins; only owners remove admins and owners)."""
    await actions.do_remove_member(
        rt, user_id=caller.user_id, conversation_id=conversation_id, target_id=user_id, ip=client_ip(request)
    )


@router.patch("/{conversation_id}/members/{user_id}", response_model=MemberOut)
async def change_role(
    conversation_id: IdPath, user_id: IdPath, body: RoleIn, rt: Rt, caller: CurrentCaller
) -> MemberOut:
    """Change a member's role (owners)."""
    return await actions.do_change_role(
        rt, user_id=caller.user_id, conversation_id=conversation_id, target_id=user_id, role=body.role
    )


@router.post("/{conversation_id}/read", response_model=ReadIn)
async def mark_read(conversation_id: IdPath, body: ReadIn, rt: Rt, caller: CurrentCaller) -> ReadIn:
    """Move my read marker forward to ``seq``; answers the marker now stored."""
    marker = await actions.do_mark_read(rt, user_id=caller.user_id, conversation_id=conversation_id, seq=body.seq)
    return ReadIn(seq=marker)
