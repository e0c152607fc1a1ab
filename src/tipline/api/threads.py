"""HTTP routes for threads: a thread's pages, follow, read position, and the threads I follow
(docs/subsystems/messages.md, Threads). Replies are sent like any message, with ``reply_to``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.threads import actions
from tipline.domain.threads.schemas import FollowedThreads, FollowOut, ThreadPage, ThreadReadIn

router = APIRouter(tags=["threads"])
SeqQuery = Annotated[int | None, Query(ge=0, le=2**63 - 1)]


@router.get("/messages/{message_id}/thread", response_model=ThreadPage)
async def thread(
    message_id: IdPath,
    rt: Rt,
    caller: CurrentCaller,
    before: SeqQuery = None,
    after: SeqQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ThreadPage:
    """The thread under a message: its root, and a page of replies in seq order (the latest,
    those before a seq, or those after one), with my follow state and read position."""
    return await actions.get_thread(
        rt, user_id=caller.user_id, root_id=message_id, before=before, after=after, limit=limit
    )


@router.put("/messages/{message_id}/thread/follow", response_model=FollowOut)
async def follow(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> FollowOut:
    """Follow a thread: its new replies count as unread in my Threads view."""
    return await actions.do_follow(rt, user_id=caller.user_id, root_id=message_id, following=True)


@router.delete("/messages/{message_id}/thread/follow", response_model=FollowOut)
async def unfollow(message_id: IdPath, rt: Rt, caller: CurrentCaller) -> FollowOut:
    """Stop following a thread (posting in it, or a mention there, follows it again)."""
    return await actions.do_follow(rt, user_id=caller.user_id, root_id=message_id, following=False)


@router.post("/messages/{message_id}/thread/read", response_model=FollowOut)
async def mark_read(message_id: IdPath, body: ThreadReadIn, rt: Rt, caller: CurrentCaller) -> FollowOut:
    """Move my read position in the thread forward to ``seq`` (a reply's seq)."""
    return await actions.do_mark_thread_read(rt, user_id=caller.user_id, root_id=message_id, seq=body.seq)


@router.get("/threads", response_model=FollowedThreads)
async def followed(rt: Rt, caller: CurrentCaller, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> FollowedThreads:
    """The threads I follow, latest reply first, each with its root, summary and my unread count."""
    return FollowedThreads(threads=await actions.list_followed(rt, user_id=caller.user_id, limit=limit))
