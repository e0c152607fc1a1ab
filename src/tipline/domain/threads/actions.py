"""Thread actions: a thread's pages, following, read positions and the Threads listing. Replies
themselves are sent like any message (``messages.actions.do_send_message`` with ``reply_to``);
the group commit keeps the roots' summaries and follows (docs/subsystems/messages.md, Threads).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from tipline.domain.messages.actions import decorated
from tipline.domain.messages.schemas import MessageOut, ThreadSummaryOut
from tipline.domain.moderation.access import hidden_senders
from tipline.domain.threads import repository as repo
from tipline.domain.threads.access import access_thread
from tipline.domain.threads.schemas import FollowedThreadOut, FollowOut, ThreadPage, summary_dict
from tipline.domain.threads.views import with_summaries
from tipline.runtime import Runtime
from tipline.storage.db import read_connection


def _following(state: RowMapping | None, root: RowMapping, user_id: int) -> bool:
    # A root's author follows its thread until they unfollow it.
    return bool(state["following"]) if state is not None else root["sender_id"] == user_id


async def get_thread(
    rt: Runtime, *, user_id: int, root_id: int, before: int | None, after: int | None, limit: int
) -> ThreadPage:
    """A page of replies (the latest, before a seq or after one), with the root and the reader's
    follow state; checked like the conversation's history (a current member only)."""
    limit = max(1, min(limit, rt.settings.history_page_max))
    async with read_connection(rt.engine) as conn:
        access = await access_thread(conn, user_id=user_id, root_id=root_id)
        hidden = await hidden_senders(conn, viewer_id=user_id)
        rows = await repo.thread_page(conn, root_id=root_id, before=before, after=after, limit=limit + 1)
        has_more = len(rows) > limit
        if has_more:
            rows = rows[:limit] if after is not None else rows[1:]
        found = await decorated(conn, [access.message, *rows], hidden=hidden)
        state = await repo.follow_state(conn, root_id=root_id, user_id=user_id)
    root, *replies = await with_summaries(rt.engine, found)
    assert isinstance(root, dict)
    return ThreadPage(
        root=MessageOut.model_validate(root),
        messages=[MessageOut.model_validate(m) for m in replies],
        has_more=has_more,
        following=_following(state, access.message, user_id),
        last_read_seq=max(0, int(state["last_read_seq"])) if state is not None else 0,
    )


async def do_follow(rt: Runtime, *, user_id: int, root_id: int, following: bool) -> FollowOut:
    """Follow or unfollow a thread (its new replies count as unread in the Threads view)."""
    async with rt.engine.begin() as conn:
        await access_thread(conn, user_id=user_id, root_id=root_id)
        await repo.set_following(conn, root_id=root_id, user_id=user_id, following=following)
        state = await repo.follow_state(conn, root_id=root_id, user_id=user_id)
    assert state is not None
    return FollowOut(following=bool(state["following"]), last_read_seq=max(0, int(state["last_read_seq"])))


async def do_mark_thread_read(rt: Runtime, *, user_id: int, root_id: int, seq: int) -> FollowOut:
    """Move my read position in a thread forward to ``seq`` (never back, never past the
    conversation's last seq); reading a thread does not follow it."""
    async with rt.engine.begin() as conn:
        access = await access_thread(conn, user_id=user_id, root_id=root_id)
        seq = min(seq, int(access.conversation.conversation["last_seq"]))
        author = access.message["sender_id"] == user_id
        marker = await repo.mark_read(conn, root_id=root_id, user_id=user_id, seq=seq, following=author)
        state = await repo.follow_state(conn, root_id=root_id, user_id=user_id)
    return FollowOut(following=_following(state, access.message, user_id), last_read_seq=max(0, marker))


async def list_followed(rt: Runtime, *, user_id: int, limit: int = 100) -> list[FollowedThreadOut]:
    """The threads I follow in conversations I am in, latest reply first, with unread counts."""
    async with read_connection(rt.engine) as conn:
        rows = await repo.followed(conn, user_id=user_id, limit=limit)
        if not rows:
            return []
        hidden = await hidden_senders(conn, viewer_id=user_id)
        found = await repo.roots(conn, root_ids=[r["root_id"] for r in rows])
        messages: dict[int, dict[str, Any]] = {
            m["id"]: m for m in await decorated(conn, list(found.values()), hidden=hidden)
        }
    out = []
    for row in rows:
        summary = summary_dict(row)
        root = {**messages[row["root_id"]], "thread": summary}
        out.append(
            FollowedThreadOut(
                root=MessageOut.model_validate(root),
                conversation_id=row["conversation_id"],
                summary=ThreadSummaryOut.model_validate(summary),
                last_read_seq=max(0, int(row["last_read_seq"])),
                unread=int(row["unread"]),
            )
        )
    return out
