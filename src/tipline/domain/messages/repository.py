"""SQL for messages and reactions, including the batched send used by group commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    RowMapping,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import sessions, users
from tipline.domain.accounts.repository import SESSION_STATE
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


async def lock_conversations(conn: AsyncConnection, *, conversation_ids: list[int]) -> dict[int, RowMapping]:
    """Lock the conversation rows (in id order, so concurrent batches cannot deadlock)."""
    stmt = (
        select(
            conversations.c.id,
            conversations.c.kind,
            conversations.c.last_seq,
            conversations.c.archived_at,
            conversations.c.slow_mode_s,
        )
        .where(conversations.c.id.in_(conversation_ids))
        .order_by(conversations.c.id)
        .with_for_update()
    )
    return {row["id"]: row for row in (await conn.execute(stmt)).mappings()}


def _array(name: str, item_type: Any) -> Any:
    return bindparam(name, type_=ARRAY(item_type))


# The group commit looks keys up by joining arrays (unnest) rather than with a row IN list: one
# statement text for any batch size, so it stays prepared and planned once per connection (an
# IN list of N rows is a new statement per N, planned every time, and an OR of N index scans).
_PAIRS = (
    func.unnest(_array("cids", BigInteger), _array("uids", BigInteger))
    .table_valued("cid", "uid")
    .render_derived(name="p")
)
_MEMBERSHIPS = select(members.c.conversation_id, members.c.user_id).join(
    _PAIRS, and_(members.c.conversation_id == _PAIRS.c.cid, members.c.user_id == _PAIRS.c.uid)
)
_KEYS = (
    func.unnest(_array("cids", BigInteger), _array("sids", BigInteger), _array("cmids", Text))
    .table_valued("cid", "sid", "cmid")
    .render_derived(name="k")
)
_EXISTING = select(*MSG_COLS).join(
    _KEYS,
    and_(
        messages.c.conversation_id == _KEYS.c.cid,
        messages.c.sender_id == _KEYS.c.sid,
        messages.c.client_msg_id == _KEYS.c.cmid,
    ),
)


async def memberships(conn: AsyncConnection, *, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which (conversation_id, user_id) pairs are current members."""
    ordered = sorted(pairs)
    params = {"cids": [c for c, _ in ordered], "uids": [u for _, u in ordered]}
    return {(row[0], row[1]) for row in await conn.execute(_MEMBERSHIPS, params)}


async def existing_by_client_id(
    conn: AsyncConnection, *, keys: set[tuple[int, int, str]]
) -> dict[tuple[int, int, str], RowMapping]:
    ordered = sorted(keys)
    params = {"cids": [k[0] for k in ordered], "sids": [k[1] for k in ordered], "cmids": [k[2] for k in ordered]}
    return {
        (row["conversation_id"], row["sender_id"], row["client_msg_id"]): row
        for row in (await conn.execute(_EXISTING, params)).mappings()
    }


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


async def insert_messages(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> list[RowMapping]:
    result = await conn.execute(insert(messages).returning(*MSG_COLS, sort_by_parameter_order=True), rows)
    return list(result.mappings())


_SET_LAST_SEQ = text(
    "UPDATE conversations AS c SET last_seq = t.seq, last_message_at = now() "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[])) AS t(id, seq) WHERE c.id = t.id"
).bindparams(bindparam("ids"), bindparam("seqs"))


async def set_last_seqs(conn: AsyncConnection, *, last: dict[int, int]) -> None:
    ids = list(last)
    await conn.execute(_SET_LAST_SEQ, {"ids": ids, "seqs": [last[i] for i in ids]})


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
