"""Audited checks for uploads and attachments. One condition per line.

An upload is its owner's until it is attached to a message; from then on it is readable by
the current members of that message's conversation, and by nobody else. Denials answer 404
exactly like an upload that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations.access import access_member
from tipline.domain.media import repository as repo
from tipline.errors import Conflict, DomainError, Invalid, NotFound

NOT_FOUND = "attachment not found"


async def access_own_upload(
    conn: AsyncConnection, *, user_id: int, upload_id: uuid.UUID, for_update: bool = False
) -> RowMapping:
    row = await repo.upload(conn, upload_id=upload_id, for_update=for_update)
    if row is None:
        raise NotFound(NOT_FOUND, code="upload_not_found")
    if row["owner_id"] != user_id:
        raise NotFound(NOT_FOUND, code="upload_not_found")
    if row["status"] == "deleted":
        raise NotFound(NOT_FOUND, code="upload_not_found")
    return row


async def access_attachment(conn: AsyncConnection, *, user_id: int, upload_id: uuid.UUID) -> RowMapping:
    """A completed attachment the caller may download: its owner before it is attached, then
    only the current members of its conversation (checked on every download URL issued)."""
    row = await repo.upload(conn, upload_id=upload_id)
    if row is None:
        raise NotFound(NOT_FOUND, code="upload_not_found")
    if row["purpose"] != "attachment":
        raise NotFound(NOT_FOUND, code="upload_not_found")
    if row["status"] != "ready":
        raise NotFound(NOT_FOUND, code="upload_not_found")
    if row["message_id"] is None and row["owner_id"] != user_id:
        raise NotFound(NOT_FOUND, code="upload_not_found")
    try:
        await access_member(conn, user_id=user_id, conversation_id=row["conversation_id"])
    except DomainError as exc:
        raise NotFound(NOT_FOUND, code="upload_not_found") from exc
    return row


def require_attachable(
    rows: dict[uuid.UUID, RowMapping], *, upload_ids: Sequence[uuid.UUID], user_id: int, conversation_id: int
) -> None:
    """Each attachment of a send: the sender's own, completed, not yet on a message, and
    uploaded for this conversation. Raises the first reason one is not."""
    if len(set(upload_ids)) != len(upload_ids):
        raise Invalid("the same attachment is listed twice", code="attachment_duplicate")
    for upload_id in upload_ids:
        row = rows.get(upload_id)
        if row is None:
            raise NotFound(f"attachment {upload_id} not found", code="attachment_not_found")
        if row["owner_id"] != user_id:
            raise NotFound(f"attachment {upload_id} not found", code="attachment_not_found")
        if row["purpose"] != "attachment":
            raise NotFound(f"attachment {upload_id} not found", code="attachment_not_found")
        if row["status"] == "deleted":
            raise NotFound(f"attachment {upload_id} not found", code="attachment_not_found")
        if row["status"] != "ready":
            raise Conflict(f"attachment {upload_id} is not completed yet", code="attachment_not_ready")
        if row["conversation_id"] != conversation_id:
            raise Conflict(f"attachment {upload_id} was uploaded for another conversation", code="attachment_elsewhere")
        if row["message_id"] is not None:
            raise Conflict(f"attachment {upload_id} is already on a message", code="attachment_used")
