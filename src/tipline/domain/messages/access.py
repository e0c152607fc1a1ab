"""Audited checks for messages: a message is visible only to current members of its conversation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.access import check_session
from tipline.domain.accounts.tokens import AccessClaims
from tipline.domain.conversations.access import MANAGERS, ConversationAccess, access_member, as_member, visible
from tipline.domain.messages import repository as repo
from tipline.errors import DomainError, Forbidden, NotFound

MESSAGE_NOT_FOUND = "message not found"


@dataclass(frozen=True)
class MessageAccess:
    message: RowMapping
    conversation: ConversationAccess


async def access_message(
    conn: AsyncConnection, *, user_id: int, message_id: int, lock_conversation: bool = False
) -> MessageAccess:
    """The message if the caller is a current member of its conversation; 404 otherwise."""
    msg = await repo.message(conn, message_id=message_id)
    if msg is None:
        raise NotFound(MESSAGE_NOT_FOUND, code="message_not_found")
    try:
        conv = await access_member(
            conn, user_id=user_id, conversation_id=msg["conversation_id"], for_update=lock_conversation
        )
    except DomainError as exc:
        # Not being a member of a public channel is no reason to confirm the message exists.
        raise NotFound(MESSAGE_NOT_FOUND, code="message_not_found") from exc
    if lock_conversation:
        # Re-read under the lock: a concurrent edit or delete may have committed meanwhile.
        fresh = await repo.message(conn, message_id=message_id)
        assert fresh is not None
        msg = fresh
    return MessageAccess(message=msg, conversation=conv)


async def access_reader(
    conn: AsyncConnection, *, user_id: int, conversation_id: int
) -> tuple[ConversationAccess, frozenset[int]]:
    """``access_member``, and the senders hidden from the reader (whom they blocked), in one query."""
    conv, member, hidden = await repo.reader_view(conn, conversation_id=conversation_id, user_id=user_id)
    return as_member(visible(conv, member)), hidden


async def access_session_reader(
    conn: AsyncConnection, *, claims: AccessClaims, conversation_id: int
) -> tuple[ConversationAccess, frozenset[int]]:
    """``access_session`` for the caller's token, then ``access_reader``, in one query: a
    history page is the read a client makes most, and each round trip is most of its cost."""
    state, conv, member, hidden = await repo.session_reader_view(
        conn, session_id=claims.session_id, conversation_id=conversation_id, user_id=claims.user_id
    )
    check_session(state, claims)
    return as_member(visible(conv, member)), hidden


def require_author(access: MessageAccess, user_id: int) -> None:
    if access.message["sender_id"] != user_id:
        raise Forbidden("you can only edit your own messages", code="not_author")


def require_author_or_manager(access: MessageAccess, user_id: int) -> None:
    if access.message["sender_id"] == user_id:
        return
    if access.conversation.role in MANAGERS:
        return
    raise Forbidden("you can only delete your own messages", code="not_author")


def require_not_deleted(access: MessageAccess) -> None:
    if access.message["deleted_at"] is not None:
        raise NotFound("this message was deleted", code="message_deleted")
