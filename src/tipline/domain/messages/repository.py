"""SQL for messages and reactions, including the batched send used by group commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    RowMapping,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import sessions, users
from tipline.domain.accounts.repository import SESSION_STATE, revocation_lock_shared
from tipline.domain.conversations.models import conversations, members
from tipline.domain.conversations.repository import CONV_COLS
from tipline.domain.messages.models import messages, reactions
from tipline.domain.moderation.models import blocks

MSG_COLS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.seq,
    messages.c.sender_id,
    messages.c.client_msg_id,
    messages.c.body,
    messages.c.reply_to_id,
    messages.c.thread_only,
    messages.c.mention_ids,
    messages.c.created_at,
    messages.c.edited_at,
    messages.c.deleted_at,
)


# A send batch's first statement: its senders' revocation locks (shared; taken once, before
# any row, by the one-time filter) and its conversations' rows (in id order, so concurrent
# batches cannot deadlock). What it reads next (send_state) is read after both are held.
_LOCK_FOR_SEND = text(
    f"""
    SELECT c.id, c.kind, c.last_seq, c.archived_at, c.slow_mode_s FROM conversations AS c
    WHERE c.id = ANY(CAST(:cids AS bigint[]))
      AND (SELECT count({revocation_lock_shared("k")}) FROM unnest(CAST(:uids AS bigint[])) AS k) >= 0
    ORDER BY c.id FOR UPDATE OF c
    """  # noqa: S608 (the lock expression is a constant, no input)
)


async def lock_for_send(
    conn: AsyncConnection, *, conversation_ids: list[int], user_ids: list[int]
) -> dict[int, RowMapping]:
    """Take the senders' revocation locks (shared) and lock the conversation rows."""
    params = {"cids": sorted(conversation_ids), "uids": sorted(set(user_ids))}
    return {row["id"]: row for row in (await conn.execute(_LOCK_FOR_SEND, params)).mappings()}


# What a send batch's rules read after its locks, in one round trip: the senders' sessions (for
# the commit-time revocation check: accounts.access.session_refusal), which senders are members,
# and which keys are stored already (duplicates, and the earlier sends forwarded sends follow).
_SEND_STATE = text(
    """
    SELECT
      (SELECT coalesce(json_agg(json_build_array(s.id, s.user_id, s.revoked_at IS NOT NULL, s.expires_at,
                                                 u.is_active, s.enrol_only)), '[]')
         FROM sessions AS s JOIN users AS u ON u.id = s.user_id
        WHERE s.id = ANY(CAST(:session_ids AS uuid[])))::text AS sessions,
      (SELECT coalesce(json_agg(json_build_array(m.conversation_id, m.user_id)), '[]')
         FROM members AS m
         JOIN unnest(CAST(:pair_cids AS bigint[]), CAST(:pair_uids AS bigint[])) AS p(cid, uid)
           ON m.conversation_id = p.cid AND m.user_id = p.uid)::text AS members,
      (SELECT coalesce(json_agg(json_build_array(x.conversation_id, x.sender_id, x.client_msg_id, x.id, x.seq,
                                                 x.created_at)), '[]')
         FROM messages AS x
         JOIN unnest(CAST(:key_cids AS bigint[]), CAST(:key_sids AS bigint[]), CAST(:key_cmids AS text[]))
              AS k(cid, sid, cmid)
           ON x.conversation_id = k.cid AND x.sender_id = k.sid AND x.client_msg_id = k.cmid)::text AS existing
    """
)


@dataclass(frozen=True, slots=True)
class SendState:
    sessions: dict[uuid.UUID, dict[str, Any]]
    member_pairs: set[tuple[int, int]]
    existing: dict[tuple[int, int, str], dict[str, Any]]


async def send_state(
    conn: AsyncConnection,
    *,
    session_ids: Sequence[uuid.UUID],
    pairs: set[tuple[int, int]],
    keys: set[tuple[int, int, str]],
) -> SendState:
    pair_list, key_list = sorted(pairs), sorted(keys)
    params = {
        "session_ids": sorted(set(session_ids)),
        "pair_cids": [c for c, _ in pair_list],
        "pair_uids": [u for _, u in pair_list],
        "key_cids": [k[0] for k in key_list],
        "key_sids": [k[1] for k in key_list],
        "key_cmids": [k[2] for k in key_list],
    }
    row = (await conn.execute(_SEND_STATE, params)).one()
    sessions_state = {
        uuid.UUID(sid): {
            "user_id": uid,
            "revoked_at": True if revoked else None,
            "expires_at": datetime.fromisoformat(expires),
            "is_active": active,
            "enrol_only": enrol_only,
        }
        for sid, uid, revoked, expires, active, enrol_only in orjson.loads(row.sessions)
    }
    existing = {
        (cid, sid, cmid): {
            "conversation_id": cid,
            "sender_id": sid,
            "client_msg_id": cmid,
            "id": mid,
            "seq": seq,
            "created_at": datetime.fromisoformat(created),
        }
        for cid, sid, cmid, mid, seq, created in orjson.loads(row.existing)
    }
    return SendState(sessions_state, {(c, u) for c, u in orjson.loads(row.members)}, existing)


async def message_conversations(conn: AsyncConnection, *, message_ids: set[int]) -> dict[int, int]:
    stmt = select(messages.c.id, messages.c.conversation_id).where(messages.c.id.in_(sorted(message_ids)))
    return {row[0]: row[1] for row in await conn.execute(stmt)}


async def resolve_mentions(
    conn: AsyncConnection, *, conversation_ids: set[int], handles: set[str]
) -> dict[tuple[int, str], int]:
    """(conversation_id, handle) -> user id, for handles of current members only."""
    stmt = (
        select(members.c.conversation_id, users.c.handle, users.c.id)
        .join(users, users.c.id == members.c.user_id)
        .where(members.c.conversation_id.in_(sorted(conversation_ids)), users.c.handle.in_(sorted(handles)))
    )
    return {(row[0], row[1]): row[2] for row in await conn.execute(stmt)}


# The send batch's writes in one statement: its messages, and the conversations' new last seq.
# Arrays in, so the text stays one prepared statement for any batch size; plain SQL out, so
# no per-row type processing on the hot path (mention_ids arrive as lists from the driver).
_INSERT_SENDS = text(
    """
    WITH ins AS (
      INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, body, reply_to_id, thread_only,
                            mention_ids)
      SELECT r.cid, r.seq, r.sid, r.cmid, r.body, r.reply, r.thread_only, CAST(r.mentions AS bigint[])
      FROM unnest(CAST(:cids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:sids AS bigint[]),
                  CAST(:cmids AS text[]), CAST(:bodies AS text[]), CAST(:replies AS bigint[]),
                  CAST(:thread_only AS boolean[]), CAST(:mentions AS text[]))
           AS r(cid, seq, sid, cmid, body, reply, thread_only, mentions)
      RETURNING id, conversation_id, seq, sender_id, client_msg_id, body, reply_to_id, thread_only, mention_ids,
                created_at, edited_at, deleted_at
    ), upd AS (
      UPDATE conversations AS c SET last_seq = t.seq, last_message_at = now()
      FROM unnest(CAST(:last_ids AS bigint[]), CAST(:last_seqs AS bigint[])) AS t(id, seq) WHERE c.id = t.id
    )
    SELECT * FROM ins
    """
)


def _pg_array(values: Sequence[int]) -> str:
    return "{" + ",".join(str(int(v)) for v in values) + "}"


async def insert_messages(
    conn: AsyncConnection, *, rows: list[dict[str, Any]], last: dict[int, int] | None = None
) -> list[RowMapping]:
    """Insert a send batch's rows and set ``last`` (conversation id -> seq); the rows come back
    in the order given."""
    last = last or {}
    params = {
        "cids": [r["conversation_id"] for r in rows],
        "seqs": [r["seq"] for r in rows],
        "sids": [r["sender_id"] for r in rows],
        "cmids": [r["client_msg_id"] for r in rows],
        "bodies": [r["body"] for r in rows],
        "replies": [r["reply_to_id"] for r in rows],
        "thread_only": [bool(r.get("thread_only", False)) for r in rows],
        "mentions": [_pg_array(r["mention_ids"]) for r in rows],
        "last_ids": list(last),
        "last_seqs": list(last.values()),
    }
    result = (await conn.execute(_INSERT_SENDS, params)).mappings()
    by_key = {(row["conversation_id"], row["seq"]): row for row in result}
    return [by_key[(r["conversation_id"], r["seq"])] for r in rows]


async def message(conn: AsyncConnection, *, message_id: int) -> RowMapping | None:
    return (await conn.execute(select(*MSG_COLS).where(messages.c.id == message_id))).mappings().first()


async def update_message(conn: AsyncConnection, *, message_id: int, values: dict[str, Any]) -> RowMapping:
    stmt = update(messages).where(messages.c.id == message_id).values(**values).returning(*MSG_COLS)
    return (await conn.execute(stmt)).mappings().one()


async def delete_reactions(conn: AsyncConnection, *, message_id: int) -> None:
    await conn.execute(delete(reactions).where(reactions.c.message_id == message_id))


async def add_reaction(conn: AsyncConnection, *, message_id: int, user_id: int, emoji: str) -> bool:
    stmt = (
        pg_insert(reactions)
        .values(message_id=message_id, user_id=user_id, emoji=emoji)
        .on_conflict_do_nothing()
        .returning(reactions.c.emoji)
    )
    return (await conn.execute(stmt)).first() is not None


async def remove_reaction(conn: AsyncConnection, *, message_id: int, user_id: int, emoji: str) -> bool:
    stmt = delete(reactions).where(
        reactions.c.message_id == message_id, reactions.c.user_id == user_id, reactions.c.emoji == emoji
    )
    return ((await conn.execute(stmt)).rowcount or 0) > 0


async def reaction_count(conn: AsyncConnection, *, message_id: int, emoji: str) -> int:
    stmt = select(func.count()).where(reactions.c.message_id == message_id, reactions.c.emoji == emoji)
    return int((await conn.execute(stmt)).scalar_one())


async def distinct_emoji_count(conn: AsyncConnection, *, message_id: int) -> int:
    stmt = select(func.count(func.distinct(reactions.c.emoji))).where(reactions.c.message_id == message_id)
    return int((await conn.execute(stmt)).scalar_one())


async def reactions_for(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    if not message_ids:
        return {}
    stmt = (
        select(
            reactions.c.message_id,
            reactions.c.emoji,
            func.count().label("count"),
            func.array_agg(reactions.c.user_id).label("user_ids"),
            func.min(reactions.c.created_at).label("first"),
        )
        .where(reactions.c.message_id.in_(list(message_ids)))
        .group_by(reactions.c.message_id, reactions.c.emoji)
        .order_by(reactions.c.message_id, "first")
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["message_id"], []).append(
            {"emoji": row["emoji"], "count": row["count"], "user_ids": sorted(row["user_ids"])}
        )
    return out


async def reply_counts(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, int]:
    if not message_ids:
        return {}
    stmt = (
        select(messages.c.reply_to_id, func.count())
        .where(messages.c.reply_to_id.in_(list(message_ids)), messages.c.deleted_at.is_(None))
        .group_by(messages.c.reply_to_id)
    )
    return {row[0]: row[1] for row in await conn.execute(stmt)}


_MEMBER_LABELS = [c.label(f"member_{c.name}") for c in members.c]
_HIDDEN = (
    select(func.coalesce(func.array_agg(blocks.c.blocked_id), text("'{}'::bigint[]")))
    .where(blocks.c.blocker_id == bindparam("reader"))
    .scalar_subquery()
)
_READER_COLS = (*CONV_COLS, *_MEMBER_LABELS, _HIDDEN.label("hidden_ids"))
_READER_MEMBER = (members.c.conversation_id == conversations.c.id) & (members.c.user_id == bindparam("reader"))
_READER_VIEW = (
    select(*_READER_COLS)
    .select_from(conversations.outerjoin(members, _READER_MEMBER))
    .where(conversations.c.id == bindparam("conversation"))
)


def _reader_parts(row: RowMapping) -> tuple[dict[str, Any] | None, dict[str, Any] | None, frozenset[int]]:
    conv = None if row["id"] is None else {c.name: row[c.name] for c in CONV_COLS}
    member = None if row["member_user_id"] is None else {c.name: row[f"member_{c.name}"] for c in members.c}
    return conv, member, frozenset(row["hidden_ids"])


async def reader_view(
    conn: AsyncConnection, *, conversation_id: int, user_id: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, frozenset[int]]:
    """The conversation, the reader's membership and the senders the reader blocked, in one
    round trip: what every history page and replay checks before reading messages."""
    row = (await conn.execute(_READER_VIEW, {"reader": user_id, "conversation": conversation_id})).mappings().first()
    if row is None:
        return None, None, frozenset()
    return _reader_parts(row)


# The same, with the state of the caller's session: a history page checks both in one round trip.
_SESSION_READER_VIEW = (
    select(*(c.label(f"session_{c.name}") for c in SESSION_STATE), *_READER_COLS)
    .select_from(
        sessions.join(users, users.c.id == sessions.c.user_id)
        .outerjoin(conversations, conversations.c.id == bindparam("conversation"))
        .outerjoin(members, _READER_MEMBER)
    )
    .where(sessions.c.id == bindparam("session"))
)


async def session_reader_view(
    conn: AsyncConnection, *, session_id: uuid.UUID, conversation_id: int, user_id: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None, frozenset[int]]:
    """The session's state (``accounts.repository.session_state``), then what ``reader_view``
    answers; all None when the session does not exist."""
    params = {"session": session_id, "reader": user_id, "conversation": conversation_id}
    row = (await conn.execute(_SESSION_READER_VIEW, params)).mappings().first()
    if row is None:
        return None, None, None, frozenset()
    state = {c.name: row[f"session_{c.name}"] for c in SESSION_STATE}
    return (state, *_reader_parts(row))


async def history(
    conn: AsyncConnection, *, conversation_id: int, before: int | None, after: int | None, limit: int
) -> list[RowMapping]:
    """Up to ``limit`` messages (ascending by seq): before a seq, after a seq, or the latest."""
    stmt = select(*MSG_COLS).where(messages.c.conversation_id == conversation_id)
    if after is not None:
        stmt = stmt.where(messages.c.seq > after)
        if before is not None:
            stmt = stmt.where(messages.c.seq < before)
        rows = list((await conn.execute(stmt.order_by(messages.c.seq).limit(limit))).mappings())
        return rows
    if before is not None:
        stmt = stmt.where(messages.c.seq < before)
    rows = list((await conn.execute(stmt.order_by(messages.c.seq.desc()).limit(limit))).mappings())
    rows.reverse()
    return rows


async def replies(conn: AsyncConnection, *, message_id: int, after: int | None, limit: int) -> list[RowMapping]:
    stmt = select(*MSG_COLS).where(messages.c.reply_to_id == message_id).order_by(messages.c.seq).limit(limit)
    if after is not None:
        stmt = stmt.where(messages.c.seq > after)
    return list((await conn.execute(stmt)).mappings())


async def messages_since(conn: AsyncConnection, *, conversation_id: int, since: int, limit: int) -> list[RowMapping]:
    stmt = (
        select(*MSG_COLS)
        .where(messages.c.conversation_id == conversation_id, messages.c.seq > since)
        .order_by(messages.c.seq)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())
