"""HTTP routes for search: messages, people, the public channel directory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from tipline.api.deps import CurrentCaller, Rt
from tipline.domain.conversations.schemas import ConversationOut
from tipline.domain.search import actions
from tipline.domain.search.schemas import MessageSearchOut, Mode, Sort, UserSearchOut
from tipline.domain.text import StorableStr

router = APIRouter(tags=["search"])
Q = Annotated[StorableStr, Query(min_length=1, max_length=200)]
OptId = Annotated[int | None, Query(ge=1, le=2**63 - 1)]


@router.get("/search/messages", response_model=MessageSearchOut)
async def search_messages(
    rt: Rt,
    caller: CurrentCaller,
    q: Q,
    mode: Mode = "auto",
    sort: Sort = "relevance",
    conversation_id: OptId = None,
    sender_id: OptId = None,
    after: datetime | None = None,
    before: datetime | None = None,
    has_attachment: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_\-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> MessageSearchOut:
    """Search the messages I can read. ``q`` takes web-search syntax: ``"a phrase"``, ``-word``,
    ``this OR that``. ``mode=substring`` (chosen automatically for CJK) matches any part of a
    word. Results come with ``highlight`` pieces in plain text and a ``next_cursor``."""
    return await actions.search_messages(
        rt,
        user_id=caller.user_id,
        query=q,
        mode=mode,
        sort=sort,
        conversation_id=conversation_id,
        sender_id=sender_id,
        after=after,
        before=before,
        has_attachment=has_attachment,
        cursor=cursor,
        limit=limit,
    )


@router.get("/search/users", response_model=UserSearchOut)
async def search_users(rt: Rt, caller: CurrentCaller, q: Q) -> UserSearchOut:
    """People by display name, ``@handle`` prefix, an exact email address or an exact wallet address."""
    return await actions.search_users(rt, user_id=caller.user_id, query=q)


@router.get("/search/channels", response_model=list[ConversationOut])
async def search_channels(
    rt: Rt,
    caller: CurrentCaller,
    q: Q,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[ConversationOut]:
    """Public channels whose name or topic contains ``q``."""
    return await actions.search_channels(rt, user_id=caller.user_id, query=q, limit=limit, offset=offset)
