"""SQL for server settings, invites and custom emoji, taking the connection explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations.models import conversation_events, conversations
from tipline.domain.media.models import uploads
from tipline.domain.messages.models import messages
from tipline.domain.serversettings.models import custom_emoji, invites, server_settings

# The row the migration inserts; the defaults stand in if it is ever missing (an emptied table).
DEFAULTS: dict[str, Any] = {
    "id": 1,
    "signup_mode": "open",
    "allowed_email_domains": [],
    "retention_direct_days": None,
    "retention_group_days": None,
    "retention_public_days": None,
    "retention_private_days": None,
    "upload_max_bytes": None,
    "upload_allowed_types": [],
    "updated_at": datetime(1970, 1, 1, tzinfo=UTC),
    "updated_by": None,
}


async def settings_row(conn: AsyncConnection) -> Mapping[Any, Any]:
    row = (await conn.execute(select(server_settings).where(server_settings.c.id == 1))).mappings().first()
    return DEFAULTS if row is None else row


async def update_settings(conn: AsyncConnection, *, values: dict[str, Any], actor_id: int) -> RowMapping:
    await conn.execute(pg_insert(server_settings).values(id=1).on_conflict_do_nothing(index_elements=["id"]))
    stmt = (
        update(server_settings)
        .where(server_settings.c.id == 1)
        .values(**values, updated_at=func.now(), updated_by=actor_id)
        .returning(*server_settings.c)
    )
    return (await conn.execute(stmt)).mappings().one()


# --- invites --------------------------------------------------------------------------------------


async def insert_invite(conn: AsyncConnection, *, values: dict[str, Any]) -> RowMapping:
    return (await conn.execute(insert(invites).values(**values).returning(*invites.c))).mappings().one()


async def list_invites(conn: AsyncConnection) -> list[RowMapping]:
    stmt = select(invites).order_by(invites.c.created_at.desc(), invites.c.id)
    return list((await conn.execute(stmt)).mappings())


async def revoke_invite(conn: AsyncConnection, *, invite_id: uuid.UUID) -> RowMapping | None:
    stmt = (
        update(invites)
        .where(invites.c.id == invite_id)
        .values(revoked_at=func.coalesce(invites.c.revoked_at, func.now()))
        .returning(*invites.c)
    )
    return (await conn.execute(stmt)).mappings().first()


async def use_invite(conn: AsyncConnection, *, code_hash: bytes, now: datetime) -> RowMapping | None:
    """Count one use of a usable invite; None when it is unknown, revoked, expired or used up.

    One UPDATE with the conditions in its WHERE: two sign-ups racing for an invite's last use
    serialize on the row lock, and the second one's re-checked WHERE no longer matches."""
    stmt = (
        update(invites)
        .where(
            invites.c.code_hash == code_hash,
            invites.c.revoked_at.is_(None),
            or_(invites.c.expires_at.is_(None), invites.c.expires_at > now),
            or_(invites.c.max_uses.is_(None), invites.c.uses < invites.c.max_uses),
        )
        .values(uses=invites.c.uses + 1)
        .returning(invites.c.id)
    )
    row: RowMapping | None = (await conn.execute(stmt)).mappings().first()
    return row


async def invite_by_hash(conn: AsyncConnection, *, code_hash: bytes) -> RowMapping | None:
    return (await conn.execute(select(invites).where(invites.c.code_hash == code_hash))).mappings().first()


# --- custom emoji ---------------------------------------------------------------------------------


async def list_emoji(conn: AsyncConnection) -> list[RowMapping]:
    return list((await conn.execute(select(custom_emoji).order_by(custom_emoji.c.name))).mappings())


async def emoji_by_name(conn: AsyncConnection, *, name: str) -> RowMapping | None:
    return (await conn.execute(select(custom_emoji).where(custom_emoji.c.name == name))).mappings().first()


async def insert_emoji(conn: AsyncConnection, *, values: dict[str, Any]) -> RowMapping | None:
    """None when the name is taken."""
    stmt = pg_insert(custom_emoji).values(**values).on_conflict_do_nothing(index_elements=[custom_emoji.c.name])
    return (await conn.execute(stmt.returning(*custom_emoji.c))).mappings().first()


async def delete_emoji(conn: AsyncConnection, *, name: str) -> RowMapping | None:
    stmt = delete(custom_emoji).where(custom_emoji.c.name == name).returning(*custom_emoji.c)
    return (await conn.execute(stmt)).mappings().first()


# --- retention ------------------------------------------------------------------------------------

_EXPIRED = text(
    "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
    "WHERE c.kind = :kind AND m.created_at < :cutoff "
    "ORDER BY m.id LIMIT :limit FOR UPDATE OF m SKIP LOCKED"
)


async def expired_messages(conn: AsyncConnection, *, kind: str, cutoff: datetime, limit: int) -> list[RowMapping]:
    """A batch of a kind's messages older than ``cutoff``, locked (two nodes never share one)."""
    rows = await conn.execute(_EXPIRED, {"kind": kind, "cutoff": cutoff, "limit": limit})
    return list(rows.mappings())


_MESSAGE_EVENTS = ("message.edited", "message.deleted", "reaction.added", "reaction.removed")


async def delete_messages(conn: AsyncConnection, *, message_ids: Sequence[int]) -> list[int]:
    """Delete the messages (reactions and reports go with them); their conversations' ids."""
    stmt = delete(messages).where(messages.c.id.in_(list(message_ids))).returning(messages.c.conversation_id)
    return sorted({row[0] for row in await conn.execute(stmt)})


async def delete_message_events(conn: AsyncConnection, *, kind: str, cutoff: datetime, limit: int) -> int:
    """Edits (which carry old bodies), deletions and reactions older than ``cutoff`` in a kind."""
    doomed = (
        select(conversation_events.c.conversation_id, conversation_events.c.seq)
        .join(conversations, conversations.c.id == conversation_events.c.conversation_id)
        .where(
            conversations.c.kind == kind,
            conversation_events.c.created_at < cutoff,
            conversation_events.c.event.in_(_MESSAGE_EVENTS),
        )
        .limit(limit)
        .cte("doomed")
    )
    stmt = delete(conversation_events).where(
        and_(
            conversation_events.c.conversation_id == doomed.c.conversation_id,
            conversation_events.c.seq == doomed.c.seq,
        )
    )
    return (await conn.execute(stmt)).rowcount or 0


async def mark_uploads_deleted(conn: AsyncConnection, *, message_ids: Sequence[int]) -> list[uuid.UUID]:
    """The messages' attachments, marked for removal (objects go once this commits)."""
    stmt = (
        update(uploads)
        .where(uploads.c.message_id.in_(list(message_ids)), uploads.c.status != "deleted")
        .values(status="deleted")
        .returning(uploads.c.id)
    )
    return [row[0] for row in await conn.execute(stmt)]


async def emoji_by_key(conn: AsyncConnection, *, key: str) -> RowMapping | None:
    return (await conn.execute(select(custom_emoji).where(custom_emoji.c.key == key))).mappings().first()


async def emoji_exists(conn: AsyncConnection, *, name: str) -> bool:
    stmt = select(custom_emoji.c.id).where(custom_emoji.c.name == name)
    return (await conn.execute(stmt)).first() is not None
