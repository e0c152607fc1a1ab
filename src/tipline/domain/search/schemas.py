"""Request and response shapes for message, user and channel search."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from tipline.domain.accounts.schemas import UserOut

Mode = Literal["auto", "words", "substring"]
Sort = Literal["relevance", "recent"]


class Fragment(BaseModel):
    """A piece of a snippet; ``match`` pieces are what the query found. Plain text, never
    markup: a client renders each piece as a text node, so nothing in a message can inject HTML."""

    text: str
    match: bool


class MessageHit(BaseModel):
    id: int
    conversation_id: int
    seq: int
    sender_id: int | None
    # Who wrote it (null for a message without a sender): results are labelled with the sender.
    sender: UserOut | None
    created_at: datetime
    edited_at: datetime | None
    body: str
    rank: float | None
    highlight: list[Fragment]


class MessageSearchOut(BaseModel):
    mode: Literal["words", "substring"]
    sort: Sort
    hits: list[MessageHit]
    # Pass back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class UserSearchOut(BaseModel):
    users: list[UserOut]
    matched_by: Literal["email", "handle", "wallet", "name"]
