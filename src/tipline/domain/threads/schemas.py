"""Shapes for threads: a root's summary (and its ``thread.updated`` event), a thread page, the
Threads listing (docs/subsystems/messages.md, Threads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, event_frame
from tipline.domain.messages.schemas import MessageOut, Seq, Strict, ThreadSummaryOut


def summary_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A root's summary as MessageOut.thread and the ``thread.updated`` event carry it."""
    return {
        "reply_count": row["reply_count"],
        "last_reply_at": row["last_reply_at"],
        "last_reply_seq": row["last_reply_seq"],
        "last_repliers": list(row["last_repliers"]),
    }


def thread_updated_frames(rows: Sequence[Mapping[Any, Any]]) -> list[tuple[str, bytes]]:
    """``thread.updated`` (ephemeral: no seq) for each changed root, to its conversation's members."""
    out = []
    for row in rows:
        data = {"root_id": row["root_id"], **summary_dict(row)}
        frame = event_frame("thread.updated", row["conversation_id"], None, data)
        out.append((topic_conversation(row["conversation_id"]), encode_event(frame)))
    return out


class ThreadPage(BaseModel):
    """A page of a thread: its root, replies in seq order, and the reader's follow state."""

    root: MessageOut
    messages: list[MessageOut]
    has_more: bool
    following: bool
    # The seq of the last reply the reader has read (0: none yet).
    last_read_seq: int


class FollowedThreadOut(BaseModel):
    root: MessageOut
    conversation_id: int
    summary: ThreadSummaryOut
    last_read_seq: int
    unread: int


class FollowedThreads(BaseModel):
    threads: list[FollowedThreadOut]


class ThreadReadIn(Strict):
    seq: Seq


class FollowOut(BaseModel):
    following: bool
    last_read_seq: int
