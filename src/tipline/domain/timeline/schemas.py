"""Shapes of the timeline's API: edit history, pins, read receipts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from tipline.domain.messages.schemas import MessageOut


class RevisionOut(BaseModel):
    body: str
    written_at: datetime
    replaced_at: datetime


class RevisionsOut(BaseModel):
    """A message's versions: the earlier ones oldest first, and the current one."""

    message_id: int
    body: str
    edited_at: datetime | None
    revisions: list[RevisionOut]


class PinOut(BaseModel):
    message: MessageOut
    pinned_by: int | None
    pinned_at: datetime


class PinsOut(BaseModel):
    pins: list[PinOut]


class ReadPosition(BaseModel):
    user_id: int
    seq: int


class ReceiptsOut(BaseModel):
    """Who has read how far. ``positions`` lists members who send receipts, in conversations of
    at most ``max_members``; larger ones answer only ``seen_count`` for the last message."""

    conversation_id: int
    member_count: int
    max_members: int
    last_message_seq: int | None
    # Members other than its sender who read up to the last message (receipt senders only).
    seen_count: int
    positions: list[ReadPosition]


class ReceiptSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_read_receipts: bool
