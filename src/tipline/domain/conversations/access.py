"""Audited permission checks for conversations. One condition per line; every read and write
of a conversation, its members or its messages goes through one of these.

Denials reveal nothing: a conversation the caller may not see answers 404 exactly like one
that does not exist. Only a public channel (listed in the directory anyway) answers 403
"join first" to a non-member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations import repository as repo
from tipline.errors import Conflict, Forbidden, NotFound

# A row as SQLAlchemy returns it, or the same columns gathered from a wider query.
Row = Mapping[Any, Any]
MANAGERS = frozenset({"owner", "admin"})
NOT_FOUND = "conversation not found"


@dataclass(frozen=True)
class ConversationAccess:
    conversation: Row
    member: Row | None

    @property
    def role(self) -> str | None:
        return None if self.member is None else str(self.member["role"])


async def access_conversation(
    conn: AsyncConnection, *, user_id: int, conversation_id: int, for_update: bool = False
) -> ConversationAccess:
    """The conversation if the caller may see it: a member, or anyone for a public channel."""
    conv = await repo.conversation(conn, conversation_id=conversation_id, for_update=for_update)
    if conv is None:
        raise NotFound(NOT_FOUND)
    member = await repo.membership(conn, conversation_id=conversation_id, user_id=user_id)
    return visible(conv, member)


def visible(conv: Row | None, member: Row | None) -> ConversationAccess:
    """The rule of ``access_conversation``, for callers that read both rows in one query."""
    if conv is None:
        raise NotFound(NOT_FOUND)
    if member is None and conv["kind"] != "public":
        raise NotFound(NOT_FOUND)
    return ConversationAccess(conversation=conv, member=member)


def as_member(access: ConversationAccess) -> ConversationAccess:
    """The rule of ``access_member`` on an access already found visible."""
    if access.member is None:
        raise Forbidden("join this channel first", code="not_a_member")
    return access


async def access_member(
    conn: AsyncConnection, *, user_id: int, conversation_id: int, for_update: bool = False
) -> ConversationAccess:
    """The caller must be a current member (reading messages, sending, reacting...)."""
    return as_member(
        await access_conversation(conn, user_id=user_id, conversation_id=conversation_id, for_update=for_update)
    )


def require_manager(access: ConversationAccess) -> None:
    if access.role not in MANAGERS:
        raise Forbidden("only the conversation's owners and admins can do this", code="not_an_admin")


def require_owner(access: ConversationAccess) -> None:
    if access.role != "owner":
        raise Forbidden("only the conversation's owners can do this", code="not_an_owner")


def require_not_direct(access: ConversationAccess) -> None:
    if access.conversation["kind"] == "direct":
        raise Conflict("direct conversations cannot be changed this way", code="direct_conversation")


def require_not_archived(access: ConversationAccess) -> None:
    if access.conversation["archived_at"] is not None:
        raise Conflict("this conversation is archived", code="conversation_archived")
