"""Audited checks for integrations: who may manage a conversation's webhooks, who may register
slash commands, and which incoming webhook a presented secret opens. One condition per line."""

from __future__ import annotations

import hashlib

from sqlalchemy import RowMapping, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.conversations.access import (
    MANAGERS,
    ConversationAccess,
    access_member,
    require_not_archived,
    require_not_direct,
)
from tipline.domain.integrations import repository as repo
from tipline.domain.integrations.models import incoming_webhooks, outgoing_webhooks
from tipline.errors import Forbidden, NotFound

INCOMING_PREFIX = "tlh_"
HOOK_NOT_FOUND = "webhook not found"


def hash_secret(secret: str) -> bytes:
    """SHA-256 of an incoming webhook's secret: 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).digest()


async def _is_admin(conn: AsyncConnection, *, user_id: int) -> bool:
    me = await accounts_repo.user_by_id(conn, user_id=user_id)
    return bool(me is not None and me["is_admin"] and me["is_active"])


async def access_hook_manager(
    conn: AsyncConnection, *, user_id: int, conversation_id: int, for_update: bool = False
) -> ConversationAccess:
    """The conversation's owners and admins, and server administrators who are members of it,
    manage its webhooks. Non-members get the conversation's 404 (or 403 for a public channel)."""
    access = await access_member(conn, user_id=user_id, conversation_id=conversation_id, for_update=for_update)
    require_not_direct(access)
    if access.role in MANAGERS:
        return access
    if await _is_admin(conn, user_id=user_id):
        return access
    raise Forbidden("only the conversation's owners and admins can manage its webhooks", code="not_an_admin")


async def access_hook_for_manager(
    conn: AsyncConnection, table: Table, *, user_id: int, hook_id: int, for_update: bool = False
) -> tuple[RowMapping, ConversationAccess]:
    """A webhook the caller manages; anyone else gets the 404 a missing webhook gets."""
    assert table is incoming_webhooks or table is outgoing_webhooks
    hook = await repo.row_by_id(conn, table, row_id=hook_id, for_update=for_update)
    if hook is None:
        raise NotFound(HOOK_NOT_FOUND, code="webhook_not_found")
    try:
        access = await access_hook_manager(conn, user_id=user_id, conversation_id=hook["conversation_id"])
    except (NotFound, Forbidden) as exc:
        raise NotFound(HOOK_NOT_FOUND, code="webhook_not_found") from exc
    return hook, access


async def access_incoming(conn: AsyncConnection, *, hook_id: int, secret: str) -> RowMapping:
    """The incoming webhook this secret opens. A wrong secret and a missing hook answer alike."""
    if not secret.startswith(INCOMING_PREFIX):
        raise NotFound(HOOK_NOT_FOUND, code="webhook_not_found")
    hook = await repo.incoming_by_secret(conn, hook_id=hook_id, secret_hash=hash_secret(secret))
    if hook is None:
        raise NotFound(HOOK_NOT_FOUND, code="webhook_not_found")
    return hook


async def require_server_admin(conn: AsyncConnection, *, user_id: int) -> None:
    if not await _is_admin(conn, user_id=user_id):
        raise Forbidden("only server administrators can manage slash commands", code="not_server_admin")


async def access_command_caller(conn: AsyncConnection, *, user_id: int, conversation_id: int) -> ConversationAccess:
    """A slash command runs in a conversation its caller is a member of, not archived."""
    access = await access_member(conn, user_id=user_id, conversation_id=conversation_id)
    require_not_archived(access)
    return access
