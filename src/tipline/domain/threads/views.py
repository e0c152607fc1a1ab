"""Threads in the pages other reads serve: thread-only replies left out of the conversation's
timeline, and thread roots given their summaries (docs/subsystems/messages.md, Threads).

Both work on history pages as the action holds them: message dicts, or cache entries still
encoded (``schemas.page_json``); an encoded entry is decoded only when it is a thread root.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from tipline.domain.threads import repository as repo
from tipline.domain.threads.schemas import summary_dict
from tipline.storage.db import read_connection

Message = dict[str, Any] | bytes
# As message_dict writes them: in an encoded entry these bytes can only be the key and its
# value (a `"` inside a string value is always escaped).
_THREAD_ONLY = b'"thread_only":true'
# An encoded entry ends with its reply count (schemas.MESSAGE_FIELDS).
_NO_REPLIES = b'"reply_count":0}'


def in_timeline(message: Message) -> bool:
    if isinstance(message, bytes):
        return _THREAD_ONLY not in message
    return not message.get("thread_only", False)


def timeline_page(
    rows: Sequence[Message], *, has_more: bool, before: int | None, after: int | None
) -> tuple[list[Message], tuple[int | None, int | None] | None]:
    """A history page less its thread-only replies; and, when nothing is left of a page that has
    more beyond it, the (before, after) of the next page to read instead (a client pages on from
    the messages it gets, so it must never get an empty page that says there is more)."""
    kept = [_with_thread_keys(m) for m in rows if in_timeline(m)]
    if kept or not has_more or not rows:
        return kept, None
    if after is not None:
        return kept, (before, _seq(rows[-1]))
    return kept, (_seq(rows[0]), None)


def _with_thread_keys(message: Message) -> Message:
    # A cache entry written before threads existed lacks the keys page_json encodes.
    if isinstance(message, bytes) or "thread" in message:
        return message
    return {**message, "thread_only": False, "thread": None}


def _seq(message: Message) -> int:
    value = orjson.loads(message)["seq"] if isinstance(message, bytes) else message["seq"]
    return int(value)


async def with_summaries(engine: AsyncEngine, rows: Sequence[Message]) -> list[Message]:
    """The page with each thread root's current summary in ``thread`` (one query, and only when
    the page holds a message with replies)."""
    roots: dict[int, dict[str, Any]] = {}
    for i, m in enumerate(rows):
        if isinstance(m, bytes):
            if m.endswith(_NO_REPLIES):
                continue
            m = orjson.loads(m)
        elif not m.get("reply_count"):
            continue
        roots[i] = m
    if not roots:
        return list(rows)
    async with read_connection(engine) as conn:
        found = await repo.summaries(conn, root_ids=[m["id"] for m in roots.values()])
    out = list(rows)
    for i, m in roots.items():
        summary = found.get(m["id"])
        out[i] = {**m, "thread": None if summary is None else summary_dict(summary)}
    return out
