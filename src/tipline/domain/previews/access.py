"""Audited checks for link previews: members see them; the sender (or a conversation's manager) removes them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations.access import MANAGERS
from tipline.domain.messages.access import MessageAccess, access_message
from tipline.domain.previews import repository as repo
from tipline.errors import Forbidden, NotFound

PREVIEW_NOT_FOUND = "link preview not found"


@dataclass(frozen=True)
class PreviewAccess:
    preview: RowMapping
    message: MessageAccess


async def access_preview(
    conn: AsyncConnection, *, user_id: int, preview_id: int, lock_conversation: bool = False
) -> PreviewAccess:
    """The preview if the caller is a current member of its message's conversation; 404 otherwise
    (a non-member learns nothing about whether it exists)."""
    row = await repo.preview(conn, preview_id=preview_id)
    if row is None:
        raise NotFound(PREVIEW_NOT_FOUND, code="preview_not_found")
    try:
        message = await access_message(
            conn, user_id=user_id, message_id=row["message_id"], lock_conversation=lock_conversation
        )
    except NotFound as exc:
        raise NotFound(PREVIEW_NOT_FOUND, code="preview_not_found") from exc
    return PreviewAccess(preview=row, message=message)


def require_may_remove(access: PreviewAccess, user_id: int) -> None:
    """The message's sender, or an owner or admin of the conversation (moderation)."""
    if access.message.message["sender_id"] == user_id:
        return
    if access.message.conversation.role in MANAGERS:
        return
    raise Forbidden("only the sender can remove a link preview from their message", code="not_author")
