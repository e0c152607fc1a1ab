"""SQL for notifications. Every function takes the connection explicitly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.conversations.models import conversations, members
from tipline.domain.messages.models import messages
from tipline.domain.notifications.models import (
    notify_cursor,
    notify_email_pending,
    notify_levels,
    notify_settings,
    push_outbox,
    push_subscriptions,
)

CURSOR = "messages"
# @channel in a body, as schemas.MENTION_ALL_RE reads it (PostgreSQL's regex dialect).
EVERYONE_RE = "(^|[^A-Za-z0-9_@])@channel([^A-Za-z0-9_]|$)"

# --- levels and settings ------------------------------------------------------------------------


async def levels_for(conn: AsyncConnection, *, user_id: int) -> dict[int, str]:
    stmt = select(notify_levels.c.conversation_id, notify_levels.c.level).where(notify_levels.c.user_id == user_id)
    return {r[0]: r[1] for r in await conn.execute(stmt)}


async def set_level(conn: AsyncConnection, *, conversation_id: int, user_id: int, level: str) -> None:
    if level == "all":  # the default: no row
        await conn.execute(
            delete(notify_levels).where(
                notify_levels.c.conversation_id == conversation_id, notify_levels.c.user_id == user_id
            )
        )
        return
    stmt = insert(notify_levels).values(conversation_id=conversation_id, user_id=user_id, level=level)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["conversation_id", "user_id"], set_={"level": level}))


async def email_enabled(conn: AsyncConnection, *, user_id: int) -> bool:
    value = (
        await conn.execute(select(notify_settings.c.email_enabled).where(notify_settings.c.user_id == user_id))
    ).scalar_one_or_none()
    return True if value is None else bool(value)


async def set_email_enabled(conn: AsyncConnection, *, user_id: int, enabled: bool) -> None:
    stmt = insert(notify_settings).values(user_id=user_id, email_enabled=enabled)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"], set_={"email_enabled": enabled, "updated_at": func.now()}
        )
    )
    if not enabled:
        await conn.execute(delete(notify_email_pending).where(notify_email_pending.c.user_id == user_id))


_MENTION_ALL_FACTS = text(
    """
    SELECT t.cid, t.uid, mb.role, u.is_admin,
           (SELECT count(*) FROM members c WHERE c.conversation_id = t.cid) AS member_count
    FROM unnest(CAST(:cids AS bigint[]), CAST(:uids AS bigint[])) AS t(cid, uid)
    JOIN members mb ON mb.conversation_id = t.cid AND mb.user_id = t.uid
    JOIN users u ON u.id = t.uid
    """
)


async def mention_all_facts(
    conn: AsyncConnection, *, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, str, bool]]:
    """Per (conversation, sender): the member count, the sender's role and whether a server admin."""
    ordered = sorted(pairs)
    params = {"cids": [c for c, _ in ordered], "uids": [u for _, u in ordered]}
    rows = await conn.execute(_MENTION_ALL_FACTS, params)
    return {(r.cid, r.uid): (int(r.member_count), str(r.role), bool(r.is_admin)) for r in rows}


# --- push subscriptions -------------------------------------------------------------------------


async def subscriptions_of(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    stmt = (
        select(push_subscriptions)
        .where(push_subscriptions.c.user_id == user_id)
        .order_by(push_subscriptions.c.created_at.desc(), push_subscriptions.c.id.desc())
    )
    return list((await conn.execute(stmt)).mappings())


async def upsert_subscription(
    conn: AsyncConnection, *, user_id: int, endpoint: str, p256dh: str, auth: str, label: str
) -> RowMapping:
    """One row per endpoint: a browser that subscribes again (or another account in it) takes it over."""
    new = insert(push_subscriptions).values(user_id=user_id, endpoint=endpoint, p256dh=p256dh, auth=auth, label=label)
    stmt = new.on_conflict_do_update(
        index_elements=["endpoint"],
        set_={"user_id": user_id, "p256dh": p256dh, "auth": auth, "label": label, "created_at": func.now()},
    ).returning(push_subscriptions)
    row: RowMapping = (await conn.execute(stmt)).mappings().one()
    return row


async def delete_subscription(conn: AsyncConnection, *, subscription_id: int, user_id: int | None = None) -> bool:
    stmt = delete(push_subscriptions).where(push_subscriptions.c.id == subscription_id)
    if user_id is not None:
        stmt = stmt.where(push_subscriptions.c.user_id == user_id)
    return bool((await conn.execute(stmt.returning(push_subscriptions.c.id))).first())


# --- the scan of new messages ---------------------------------------------------------------------


async def lock_cursor(conn: AsyncConnection) -> tuple[int, list[int]] | None:
    """The cursor and the ids handled above it, locked for this transaction; None when another node holds it."""
    await conn.execute(
        insert(notify_cursor)
        .values(name=CURSOR, last_message_id=select(func.coalesce(func.max(messages.c.id), 0)).scalar_subquery())
        .on_conflict_do_nothing()
    )
    stmt = (
        select(notify_cursor.c.last_message_id, notify_cursor.c.recent_ids)
        .where(notify_cursor.c.name == CURSOR)
        .with_for_update(skip_locked=True)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else (int(row[0]), list(row[1]))


async def settled_id(conn: AsyncConnection, *, after: int, settle_s: float) -> int:
    """The newest message id old enough that no lower id can still commit (``after`` if none)."""
    ago = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, settle_s)
    stmt = select(func.max(messages.c.id)).where(messages.c.id > after, messages.c.created_at < ago)
    value = (await conn.execute(stmt)).scalar_one_or_none()
    return after if value is None else int(value)


async def save_cursor(conn: AsyncConnection, *, last_message_id: int, recent_ids: list[int]) -> None:
    await conn.execute(
        update(notify_cursor)
        .where(notify_cursor.c.name == CURSOR)
        .values(last_message_id=last_message_id, recent_ids=sorted(recent_ids))
    )


_CANDIDATES = text(
    """
    SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.body, m.mention_ids, m.created_at,
           c.kind, c.name AS conversation_name, u.display_name AS sender_name, u.handle AS sender_handle
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    LEFT JOIN users u ON u.id = m.sender_id
    WHERE m.id > :after AND NOT (m.id = ANY(CAST(:skip AS bigint[]))) AND m.deleted_at IS NULL
      AND m.sender_id IS NOT NULL
      AND (c.kind = 'direct' OR cardinality(m.mention_ids) > 0
           OR m.body ~* :everyone)
    ORDER BY m.id
    LIMIT :limit
    """
)


async def candidates(conn: AsyncConnection, *, after: int, skip: list[int], limit: int) -> list[RowMapping]:
    """New messages that may notify someone: in DMs, with mentions or with @channel."""
    params = {"after": after, "skip": skip, "limit": limit, "everyone": EVERYONE_RE}
    return list((await conn.execute(_CANDIDATES, params)).mappings())


_RECIPIENTS = text(
    """
    SELECT mb.conversation_id, mb.user_id, mb.last_read_seq, coalesce(nl.level, 'all') AS level,
           u.email, u.email_verified_at IS NOT NULL AS email_verified, coalesce(ns.email_enabled, true) AS email_enabled
    FROM members mb
    JOIN users u ON u.id = mb.user_id AND u.is_active AND NOT u.is_bot
    LEFT JOIN notify_levels nl ON nl.conversation_id = mb.conversation_id AND nl.user_id = mb.user_id
    LEFT JOIN notify_settings ns ON ns.user_id = mb.user_id
    WHERE mb.conversation_id = ANY(CAST(:cids AS bigint[]))
    """
)


async def recipients(conn: AsyncConnection, *, conversation_ids: list[int]) -> list[RowMapping]:
    """Every active member of these conversations, with their level and email settings."""
    return list((await conn.execute(_RECIPIENTS, {"cids": conversation_ids})).mappings())


async def subscriptions_for(conn: AsyncConnection, *, user_ids: list[int]) -> dict[int, list[int]]:
    stmt = select(push_subscriptions.c.user_id, push_subscriptions.c.id).where(
        push_subscriptions.c.user_id.in_(user_ids)
    )
    out: dict[int, list[int]] = {}
    for uid, sid in await conn.execute(stmt):
        out.setdefault(uid, []).append(sid)
    return out


async def queue_pushes(conn: AsyncConnection, *, rows: list[dict[str, int]]) -> None:
    if rows:
        await conn.execute(insert(push_outbox).values(rows).on_conflict_do_nothing())


async def queue_emails(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(notify_email_pending).values(rows).on_conflict_do_nothing())


# --- the push outbox ----------------------------------------------------------------------------


async def claim_pushes(conn: AsyncConnection, *, limit: int, lease_s: float) -> list[RowMapping]:
    due = (
        select(push_outbox.c.id)
        .where(
            push_outbox.c.sent_at.is_(None),
            push_outbox.c.next_attempt_at.is_not(None),
            push_outbox.c.next_attempt_at <= func.now(),
        )
        .order_by(push_outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = (
        update(push_outbox)
        .where(push_outbox.c.id.in_(due))
        .values(
            attempts=push_outbox.c.attempts + 1,
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
        )
        .returning(push_outbox.c.id, push_outbox.c.subscription_id, push_outbox.c.message_id, push_outbox.c.attempts)
        .cte("claimed")
    )
    stmt = (
        select(
            claimed,
            push_subscriptions.c.endpoint,
            push_subscriptions.c.p256dh,
            push_subscriptions.c.auth,
            push_subscriptions.c.user_id,
            messages.c.conversation_id,
            messages.c.seq,
            messages.c.body,
            messages.c.deleted_at,
            conversations.c.kind,
            conversations.c.name.label("conversation_name"),
            users.c.display_name.label("sender_name"),
            members.c.last_read_seq,
        )
        .join(push_subscriptions, push_subscriptions.c.id == claimed.c.subscription_id)
        .join(messages, messages.c.id == claimed.c.message_id)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .outerjoin(users, users.c.id == messages.c.sender_id)
        .outerjoin(
            members,
            (members.c.conversation_id == messages.c.conversation_id)
            & (members.c.user_id == push_subscriptions.c.user_id),
        )
    )
    return list((await conn.execute(stmt)).mappings())


async def push_done(conn: AsyncConnection, *, push_id: int, subscription_id: int) -> None:
    done = update(push_outbox).where(push_outbox.c.id == push_id).values(sent_at=func.now(), last_error=None)
    await conn.execute(done)
    await conn.execute(
        update(push_subscriptions).where(push_subscriptions.c.id == subscription_id).values(last_push_at=func.now())
    )


async def push_failed(conn: AsyncConnection, *, push_id: int, error: str, retry_at: datetime | None) -> None:
    await conn.execute(
        update(push_outbox)
        .where(push_outbox.c.id == push_id, push_outbox.c.sent_at.is_(None))
        .values(last_error=error[:1000], next_attempt_at=retry_at)
    )


# --- the email digest ---------------------------------------------------------------------------


async def users_due(conn: AsyncConnection, *, limit: int) -> list[int]:
    stmt = (
        select(notify_email_pending.c.user_id)
        .where(notify_email_pending.c.due_at <= func.now())
        .group_by(notify_email_pending.c.user_id)
        .order_by(func.min(notify_email_pending.c.due_at))
        .limit(limit)
    )
    return [r[0] for r in await conn.execute(stmt)]


_TAKE_DIGEST = text(
    """
    WITH taken AS (
        DELETE FROM notify_email_pending WHERE user_id = :uid RETURNING message_id
    )
    SELECT m.id, m.conversation_id, m.seq, m.body, m.created_at, c.kind, c.name AS conversation_name,
           s.display_name AS sender_name, s.handle AS sender_handle
    FROM taken t
    JOIN messages m ON m.id = t.message_id AND m.deleted_at IS NULL
    JOIN conversations c ON c.id = m.conversation_id
    JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = :uid AND mb.last_read_seq < m.seq
    LEFT JOIN notify_levels nl ON nl.conversation_id = m.conversation_id AND nl.user_id = :uid
    LEFT JOIN users s ON s.id = m.sender_id
    WHERE coalesce(nl.level, 'all') = 'all'
       OR (nl.level = 'mentions' AND (CAST(:uid AS bigint) = ANY(m.mention_ids) OR m.body ~* :everyone))
    ORDER BY m.conversation_id, m.seq
    """
)


async def take_digest(conn: AsyncConnection, *, user_id: int) -> list[RowMapping]:
    """Remove everything pending for this person; what is still unread and still wanted by their
    level now (a conversation muted, or set to mentions only, since the message came)."""
    params = {"uid": user_id, "everyone": EVERYONE_RE}
    return list((await conn.execute(_TAKE_DIGEST, params)).mappings())


async def digest_recipient(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    stmt = (
        select(users.c.email, users.c.display_name, users.c.handle, notify_settings.c.email_enabled)
        .outerjoin(notify_settings, notify_settings.c.user_id == users.c.id)
        .where(users.c.id == user_id, users.c.is_active)
    )
    return (await conn.execute(stmt)).mappings().first()
