"""SQL of the privacy domain: export jobs, what an export holds, and an account's erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, RowMapping, Table, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import oidc_identities, passkeys, sessions, totp_secrets, users
from tipline.domain.conversations.models import conversations, members
from tipline.domain.imports.models import import_map
from tipline.domain.mail.models import mail_outbox
from tipline.domain.media.models import avatars, uploads
from tipline.domain.messages.models import messages, reactions
from tipline.domain.moderation.models import blocks
from tipline.domain.privacy.models import data_exports
from tipline.domain.tips.models import tip_intents
from tipline.domain.tokens.models import api_tokens
from tipline.domain.wallets.models import wallets
from tipline.storage.meta import metadata

IDS = bindparam("ids", type_=ARRAY(BigInteger))

# --- export jobs --------------------------------------------------------------------------------


async def insert_export(
    conn: AsyncConnection, *, export_id: uuid.UUID, user_id: int, requested_by: int, store: str
) -> RowMapping:
    values = {"id": export_id, "user_id": user_id, "requested_by": requested_by, "store": store}
    stmt = insert(data_exports).values(values).returning(*data_exports.c)
    return (await conn.execute(stmt)).mappings().one()


async def open_export(conn: AsyncConnection, *, user_id: int, requested_by: int) -> RowMapping | None:
    """A queued or running export of the same data for the same requester (one at a time)."""
    stmt = select(data_exports).where(
        data_exports.c.user_id == user_id,
        data_exports.c.requested_by == requested_by,
        data_exports.c.state.in_(["queued", "running"]),
    )
    return (await conn.execute(stmt)).mappings().first()


async def export(conn: AsyncConnection, *, export_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(select(data_exports).where(data_exports.c.id == export_id))).mappings().first()


async def exports_requested_by(conn: AsyncConnection, *, user_id: int, limit: int = 20) -> list[RowMapping]:
    stmt = (
        select(data_exports)
        .where(data_exports.c.requested_by == user_id)
        .order_by(data_exports.c.created_at.desc())
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())


async def claim_export(conn: AsyncConnection, *, lease_s: float, store: str) -> RowMapping | None:
    """The oldest export waiting to be built (or whose builder's lease ran out), leased to the caller."""
    due = (
        select(data_exports.c.id)
        .where(
            data_exports.c.store == store,
            or_(
                data_exports.c.state == "queued",
                (data_exports.c.state == "running") & (data_exports.c.lease_until < func.now()),
            ),
        )
        .order_by(data_exports.c.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(data_exports)
        .where(data_exports.c.id == due)
        .values(
            state="running",
            progress=0,
            attempts=data_exports.c.attempts + 1,
            lease_until=func.now() + text(f"interval '{float(lease_s)} seconds'"),
        )
        .returning(*data_exports.c)
    )
    return (await conn.execute(stmt)).mappings().first()


async def set_progress(conn: AsyncConnection, *, export_id: uuid.UUID, progress: int, lease_s: float) -> None:
    stmt = (
        update(data_exports)
        .where(data_exports.c.id == export_id, data_exports.c.state == "running")
        .values(progress=progress, lease_until=func.now() + text(f"interval '{float(lease_s)} seconds'"))
    )
    await conn.execute(stmt)


async def finish_export(
    conn: AsyncConnection, *, export_id: uuid.UUID, object_key: str, size: int, expires_at: datetime
) -> bool:
    """Mark it ready; False when the row went meanwhile (the account was deleted)."""
    stmt = (
        update(data_exports)
        .where(data_exports.c.id == export_id, data_exports.c.state == "running")
        .values(
            state="ready",
            progress=100,
            object_key=object_key,
            size=size,
            finished_at=func.now(),
            expires_at=expires_at,
            lease_until=None,
        )
        .returning(data_exports.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def fail_export(conn: AsyncConnection, *, export_id: uuid.UUID, error: str) -> None:
    stmt = (
        update(data_exports)
        .where(data_exports.c.id == export_id)
        .values(state="failed", error=error, finished_at=func.now(), lease_until=None)
    )
    await conn.execute(stmt)


async def expired_exports(conn: AsyncConnection, *, now: datetime, store: str, limit: int = 100) -> list[RowMapping]:
    stmt = (
        select(data_exports.c.id, data_exports.c.object_key)
        .where(data_exports.c.store == store, data_exports.c.state == "ready", data_exports.c.expires_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await conn.execute(stmt)).mappings())


async def mark_expired(conn: AsyncConnection, *, export_ids: Sequence[uuid.UUID]) -> None:
    stmt = (
        update(data_exports)
        .where(data_exports.c.id.in_(list(export_ids)))
        .values(state="expired", object_key=None, size=None)
    )
    await conn.execute(stmt)


# --- what an export holds -----------------------------------------------------------------------


async def _rows(conn: AsyncConnection, stmt: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [_plain(r) for r in (await conn.execute(stmt, params or {})).mappings()]


def _plain(row: RowMapping) -> dict[str, Any]:
    # Column names come as str subclasses; the JSON writer takes only plain str keys.
    return {str(k): v for k, v in row.items()}


async def profile(conn: AsyncConnection, *, user_id: int) -> dict[str, Any] | None:
    cols = [c for c in users.c if c.name != "password_hash"]
    row = (await conn.execute(select(*cols).where(users.c.id == user_id))).mappings().first()
    if row is None:
        return None
    out = _plain(row)
    out["has_password"] = (
        await conn.execute(select(users.c.password_hash.is_not(None)).where(users.c.id == user_id))
    ).scalar()
    out["avatar_key"] = (await conn.execute(select(avatars.c.key).where(avatars.c.user_id == user_id))).scalar()
    return out


async def account_parts(conn: AsyncConnection, *, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """Everything small about a person, one list per file of the export (never a secret)."""
    s = sessions.c
    session_cols = (s.id, s.kind, s.created_at, s.last_used_at, s.expires_at, s.revoked_at, s.user_agent, s.ip)
    token_cols = (api_tokens.c.name, api_tokens.c.scopes, s.created_at, s.expires_at, s.revoked_at)
    membership = (
        select(conversations.c.id, conversations.c.kind, conversations.c.name, members.c.role, members.c.joined_at)
        .join(conversations, conversations.c.id == members.c.conversation_id)
        .where(members.c.user_id == user_id)
        .order_by(conversations.c.id)
    )
    tips = select(tip_intents).where(or_(tip_intents.c.tipper_id == user_id, tip_intents.c.recipient_id == user_id))
    return {
        "sessions": await _rows(conn, select(*session_cols).where(s.user_id == user_id, s.kind == "session")),
        "tokens": await _rows(
            conn, select(*token_cols).join(sessions, s.id == api_tokens.c.session_id).where(s.user_id == user_id)
        ),
        "bots": await _rows(
            conn,
            select(users.c.id, users.c.handle, users.c.display_name, users.c.created_at).where(
                users.c.owner_id == user_id
            ),
        ),
        "memberships": await _rows(conn, membership),
        "reactions": await _rows(
            conn, select(reactions).where(reactions.c.user_id == user_id).order_by(reactions.c.created_at)
        ),
        "tips": await _rows(conn, tips.order_by(tip_intents.c.id)),
        "wallets": await _rows(conn, select(wallets).where(wallets.c.user_id == user_id)),
        "blocks": await _rows(conn, select(blocks).where(blocks.c.blocker_id == user_id)),
        "passkeys": await _rows(
            conn,
            select(passkeys.c.name, passkeys.c.created_at, passkeys.c.last_used_at).where(
                passkeys.c.user_id == user_id
            ),
        ),
        "two_factor": await _rows(
            conn,
            select(totp_secrets.c.created_at, totp_secrets.c.confirmed_at).where(totp_secrets.c.user_id == user_id),
        ),
        "sign_in_providers": await _rows(
            conn,
            select(oidc_identities.c.provider, oidc_identities.c.email, oidc_identities.c.created_at).where(
                oidc_identities.c.user_id == user_id
            ),
        ),
    }


async def messages_page(conn: AsyncConnection, *, user_id: int, after_id: int, limit: int) -> list[dict[str, Any]]:
    m = messages.c
    cols = (m.id, m.conversation_id, m.seq, m.body, m.reply_to_id, m.created_at, m.edited_at, m.deleted_at)
    stmt = select(*cols).where(m.sender_id == user_id, m.id > after_id).order_by(m.id).limit(limit)
    return await _rows(conn, stmt)


async def message_count(conn: AsyncConnection, *, user_id: int) -> int:
    return int((await conn.execute(select(func.count()).where(messages.c.sender_id == user_id))).scalar_one())


async def attachments(conn: AsyncConnection, *, user_id: int) -> list[dict[str, Any]]:
    u = uploads.c
    cols = (u.id, u.message_id, u.conversation_id, u.object_key, u.filename, u.content_type, u.size, u.created_at)
    stmt = select(*cols).where(
        u.owner_id == user_id, u.purpose == "attachment", u.status == "ready", u.object_key.is_not(None)
    )
    return await _rows(conn, stmt.order_by(u.created_at))


# --- deletion -----------------------------------------------------------------------------------


async def user_for_update(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    stmt = select(users).where(users.c.id == user_id).with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def other_active_admins(conn: AsyncConnection, *, user_id: int) -> int:
    stmt = select(func.count()).where(users.c.is_admin, users.c.is_active, users.c.id != user_id)
    return int((await conn.execute(stmt)).scalar_one())


async def bot_ids(conn: AsyncConnection, *, owner_id: int) -> list[int]:
    stmt = select(users.c.id).where(users.c.owner_id == owner_id, users.c.is_bot)
    return [int(r[0]) for r in await conn.execute(stmt)]


async def mark_uploads_deleted(conn: AsyncConnection, *, user_ids: Sequence[int]) -> list[uuid.UUID]:
    stmt = (
        update(uploads)
        .where(uploads.c.owner_id == func.any(IDS), uploads.c.status != "deleted")
        .values(status="deleted")
        .returning(uploads.c.id)
    )
    return [r[0] for r in await conn.execute(stmt, {"ids": list(user_ids)})]


async def upload_ids_of(conn: AsyncConnection, *, user_ids: Sequence[int]) -> list[uuid.UUID]:
    stmt = select(uploads.c.id).where(uploads.c.owner_id == func.any(IDS))
    return [r[0] for r in await conn.execute(stmt, {"ids": list(user_ids)})]


async def object_keys(conn: AsyncConnection, *, user_ids: Sequence[int]) -> list[str]:
    """Objects that are not uploads: avatars, and exports about or for these people."""
    params = {"ids": list(user_ids)}
    found = [r[0] for r in await conn.execute(select(avatars.c.key).where(avatars.c.user_id == func.any(IDS)), params)]
    exports_stmt = select(data_exports.c.object_key).where(
        or_(data_exports.c.user_id == func.any(IDS), data_exports.c.requested_by == func.any(IDS)),
        data_exports.c.object_key.is_not(None),
    )
    found += [r[0] for r in await conn.execute(exports_stmt, params)]
    return found


async def deactivate(conn: AsyncConnection, *, user_ids: Sequence[int]) -> None:
    await conn.execute(
        update(users).where(users.c.id == func.any(IDS)).values(is_active=False), {"ids": list(user_ids)}
    )


async def sent_messages(conn: AsyncConnection, *, user_ids: Sequence[int]) -> list[RowMapping]:
    stmt = (
        select(messages.c.id, messages.c.conversation_id, messages.c.deleted_at)
        .where(messages.c.sender_id == func.any(IDS))
        .order_by(messages.c.conversation_id, messages.c.id)
    )
    return list((await conn.execute(stmt, {"ids": list(user_ids)})).mappings())


async def erase_messages(conn: AsyncConnection, *, message_ids: Sequence[int]) -> list[RowMapping]:
    """Tombstones: the rows (and their seqs) stay, their words and their sender go."""
    stmt = (
        update(messages)
        .where(messages.c.id == func.any(IDS))
        .values(body="", mention_ids=[], sender_id=None, deleted_at=func.coalesce(messages.c.deleted_at, func.now()))
        .returning(messages.c.id, messages.c.deleted_at)
    )
    return list((await conn.execute(stmt, {"ids": list(message_ids)})).mappings())


async def unlink_messages(conn: AsyncConnection, *, user_ids: Sequence[int]) -> None:
    """Messages kept as a deleted user's: the words stay, the link to the person goes."""
    stmt = update(messages).where(messages.c.sender_id == func.any(IDS)).values(sender_id=None)
    await conn.execute(stmt, {"ids": list(user_ids)})


def _tables_referencing(target: Table) -> list[tuple[Table, str]]:
    """(table, column) pairs with a foreign key to ``target``'s id, from the shared metadata:
    a table added by any later feature is covered without a change here."""
    found = []
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is target and fk.parent.table is not target:
                found.append((table, fk.parent.name))
    return found


async def forget_erased_messages(conn: AsyncConnection, *, message_ids: Sequence[int]) -> None:
    """What other tables hold about erased messages (revisions, pins, reports...) goes with them;
    tips stay (their message link is cleared), uploads are purged by their own path."""
    if not message_ids:
        return
    params = {"ids": list(message_ids)}
    for table, column in _tables_referencing(messages):
        col = table.c[column]
        if table is tip_intents:
            await conn.execute(update(table).where(col == func.any(IDS)).values({column: None}), params)
        elif table is not uploads:
            await conn.execute(delete(table).where(col == func.any(IDS)), params)


async def scrub_mentions(conn: AsyncConnection, *, user_id: int) -> None:
    stmt = text(
        "UPDATE messages SET mention_ids = array_remove(mention_ids, CAST(:uid AS bigint)) "
        "WHERE mention_ids @> ARRAY[CAST(:uid AS bigint)]"
    )
    await conn.execute(stmt, {"uid": user_id})


# Keys of a conversation event's data that name a person by id; "user" is a member event's profile.
# The id becomes 0, which no account has ("someone deleted"), so every event keeps its shape.
_SCRUB_EVENTS = text(
    """
    UPDATE conversation_events SET data = (
        SELECT jsonb_object_agg(
            k,
            CASE
                WHEN k IN ('user_id', 'sender_id', 'by', 'actor_id') AND v = to_jsonb(CAST(:uid AS bigint))
                    THEN '0'::jsonb
                WHEN k = 'user' AND v -> 'id' = to_jsonb(CAST(:uid AS bigint))
                    THEN jsonb_build_object(
                        'id', 0, 'handle', 'deleted', 'display_name', 'Deleted user', 'is_bot', false
                    )
                WHEN k = 'body' AND CAST(:erase AS boolean) AND data ->> 'id' = ANY(CAST(:mids AS text[]))
                    THEN '""'::jsonb
                ELSE v
            END
        ) FROM jsonb_each(data) AS e(k, v)
    )
    WHERE jsonb_typeof(data) = 'object' AND EXISTS (
        SELECT 1 FROM jsonb_each(data) AS e(k, v)
        WHERE (k IN ('user_id', 'sender_id', 'by', 'actor_id') AND v = to_jsonb(CAST(:uid AS bigint)))
           OR (k = 'user' AND v -> 'id' = to_jsonb(CAST(:uid AS bigint)))
           OR (k = 'body' AND CAST(:erase AS boolean) AND data ->> 'id' = ANY(CAST(:mids AS text[])))
    )
    """
)


async def scrub_events(conn: AsyncConnection, *, user_id: int, erased_message_ids: Sequence[int]) -> None:
    """The conversation event log keeps no id of the person (and, when erasing, no edit's words)."""
    params = {"uid": user_id, "erase": bool(erased_message_ids), "mids": [str(i) for i in erased_message_ids]}
    await conn.execute(_SCRUB_EVENTS, params)


async def forget_elsewhere(conn: AsyncConnection, *, user_id: int, email: str | None) -> None:
    """Rows that name the person without a foreign key: DM keys, import mappings, mail to them,
    tips still open (never to be credited to nobody)."""
    uid = str(user_id)
    dm = or_(
        func.split_part(conversations.c.direct_key, ":", 1) == uid,
        func.split_part(conversations.c.direct_key, ":", 2) == uid,
    )
    await conn.execute(update(conversations).where(conversations.c.direct_key.is_not(None), dm).values(direct_key=None))
    await conn.execute(delete(import_map).where(import_map.c.kind == "user", import_map.c.target_id == user_id))
    if email:
        await conn.execute(delete(mail_outbox).where(func.strpos(func.lower(mail_outbox.c.to), email.lower()) > 0))
    open_tips = or_(tip_intents.c.tipper_id == user_id, tip_intents.c.recipient_id == user_id)
    await conn.execute(
        update(tip_intents)
        .where(open_tips, tip_intents.c.state.in_(["created", "pending"]))
        .values(state="failed", reason="account_deleted", updated_at=func.now())
    )


async def delete_users(conn: AsyncConnection, *, user_ids: Sequence[int]) -> None:
    """The rows go; what hangs on them goes (CASCADE) or stays unlinked (SET NULL)."""
    await conn.execute(delete(users).where(users.c.id == func.any(IDS)), {"ids": list(user_ids)})
