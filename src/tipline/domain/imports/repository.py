"""SQL for imports: the mapping, matched or created users and conversations, and the bulk
message writes (COPY), taking the connection explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, RowMapping, Text, and_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.conversations.models import conversations, members
from tipline.domain.imports.models import import_map, import_runs
from tipline.domain.media.models import uploads
from tipline.domain.messages.models import messages, reactions

# One importer at a time per database: two would race on the same mapping rows and seqs.
IMPORT_LOCK_KEY = 0x7469_706C_696D  # "tiplim"

MESSAGE_COLUMNS = [
    "id",
    "conversation_id",
    "seq",
    "sender_id",
    "client_msg_id",
    "body",
    "reply_to_id",
    "thread_only",
    "mention_ids",
    "created_at",
    "edited_at",
]
REACTION_COLUMNS = ["message_id", "user_id", "emoji", "created_at"]


async def raw(conn: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy's, for COPY (the fastest way in)."""
    fairy = await conn.get_raw_connection()
    return fairy.driver_connection


async def try_lock(conn: AsyncConnection) -> bool:
    return bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": IMPORT_LOCK_KEY})).scalar_one())


async def unlock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": IMPORT_LOCK_KEY})


async def mapping(conn: AsyncConnection, *, source: str, kind: str) -> dict[str, int]:
    stmt = select(import_map.c.key, import_map.c.target_id).where(
        import_map.c.source == source, import_map.c.kind == kind
    )
    return {row[0]: row[1] for row in await conn.execute(stmt)}


async def add_mapping(conn: AsyncConnection, *, source: str, kind: str, key: str, target_id: int) -> None:
    stmt = pg_insert(import_map).values(source=source, kind=kind, key=key, target_id=target_id)
    await conn.execute(stmt.on_conflict_do_nothing())


async def user_ids_by_email(conn: AsyncConnection, *, emails: Sequence[str]) -> dict[str, int]:
    stmt = select(users.c.email, users.c.id).where(users.c.email.in_(list(emails)))
    return {row[0]: row[1] for row in await conn.execute(stmt)}


async def taken_handles(conn: AsyncConnection, *, handles: Sequence[str]) -> set[str]:
    stmt = select(users.c.handle).where(users.c.handle.in_(list(handles)))
    return {row[0] for row in await conn.execute(stmt)}


async def insert_user(
    conn: AsyncConnection, *, email: str | None, handle: str, display_name: str, active: bool
) -> int | None:
    """A user with no password (they reset it or sign in by OIDC); None if the email or handle is taken.

    The address counts as verified: the workspace it comes from had it, and an OIDC sign-in
    with the same verified address then reaches this account."""
    stmt = (
        pg_insert(users)
        .values(
            email=email,
            password_hash=None,
            handle=handle,
            display_name=display_name,
            is_active=active,
            email_verified_at=func.now(),
        )
        .on_conflict_do_nothing()
        .returning(users.c.id)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else int(row[0])


async def handles_of(conn: AsyncConnection, *, user_ids: Sequence[int]) -> dict[int, str]:
    stmt = select(users.c.id, users.c.handle).where(users.c.id.in_(list(user_ids)))
    return {row[0]: row[1] for row in await conn.execute(stmt)}


async def existing_user_ids(conn: AsyncConnection, *, user_ids: Sequence[int]) -> set[int]:
    return {row[0] for row in await conn.execute(select(users.c.id).where(users.c.id.in_(list(user_ids))))}


async def direct_by_key(conn: AsyncConnection, *, direct_key: str) -> int | None:
    row = (await conn.execute(select(conversations.c.id).where(conversations.c.direct_key == direct_key))).first()
    return None if row is None else int(row[0])


async def insert_conversation(conn: AsyncConnection, *, values: dict[str, Any]) -> int:
    stmt = pg_insert(conversations).values(**values).returning(conversations.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def existing_conversation_ids(conn: AsyncConnection, *, conversation_ids: Sequence[int]) -> set[int]:
    stmt = select(conversations.c.id).where(conversations.c.id.in_(list(conversation_ids)))
    return {row[0] for row in await conn.execute(stmt)}


async def add_members(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(pg_insert(members).on_conflict_do_nothing(), rows)


async def member_ids(conn: AsyncConnection, *, conversation_ids: Sequence[int]) -> dict[int, set[int]]:
    stmt = select(members.c.conversation_id, members.c.user_id).where(
        members.c.conversation_id.in_(list(conversation_ids))
    )
    out: dict[int, set[int]] = {}
    for cid, uid in await conn.execute(stmt):
        out.setdefault(cid, set()).add(uid)
    return out


async def lock_conversations(conn: AsyncConnection, *, conversation_ids: Sequence[int]) -> dict[int, int]:
    """Lock the rows (ascending ids, like every other writer) and return each last_seq: live
    sends to the same conversations wait, so seqs stay gap-free and in commit order."""
    stmt = (
        select(conversations.c.id, conversations.c.last_seq)
        .where(conversations.c.id.in_(sorted(conversation_ids)))
        .order_by(conversations.c.id)
        .with_for_update()
    )
    return {row[0]: row[1] for row in await conn.execute(stmt)}


def _array(name: str, item_type: Any) -> Any:
    return bindparam(name, type_=ARRAY(item_type))


_KEYS = (
    func.unnest(_array("cids", BigInteger), _array("sids", BigInteger), _array("cmids", Text))
    .table_valued("cid", "sid", "cmid")
    .render_derived(name="k")
)
_EXISTING = select(messages.c.client_msg_id, messages.c.id).join(
    _KEYS,
    and_(
        messages.c.conversation_id == _KEYS.c.cid,
        messages.c.sender_id == _KEYS.c.sid,
        messages.c.client_msg_id == _KEYS.c.cmid,
    ),
)


async def existing_messages(conn: AsyncConnection, *, keys: Sequence[tuple[int, int, str]]) -> dict[str, int]:
    """client_msg_id -> message id, for the (conversation, sender, client_msg_id) already stored."""
    params = {"cids": [k[0] for k in keys], "sids": [k[1] for k in keys], "cmids": [k[2] for k in keys]}
    return {row[0]: row[1] for row in await conn.execute(_EXISTING, params)}


async def next_message_ids(conn: AsyncConnection, *, n: int) -> list[int]:
    """Ids taken from the messages' own identity sequence, so replies in the same COPY can point
    at their parents."""
    # One array, not n rows: decoding 5,000 rows cost more than taking the 5,000 values.
    stmt = text("SELECT array(SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, :n))")
    return list((await conn.execute(stmt, {"n": n})).scalar_one())


async def copy_messages(conn: AsyncConnection, *, records: list[tuple[Any, ...]]) -> None:
    await (await raw(conn)).copy_records_to_table("messages", records=records, columns=MESSAGE_COLUMNS)


async def copy_reactions(conn: AsyncConnection, *, records: list[tuple[Any, ...]]) -> None:
    if records:
        await (await raw(conn)).copy_records_to_table("reactions", records=records, columns=REACTION_COLUMNS)


async def insert_uploads(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(uploads.insert(), rows)


_ADVANCE = text(
    "UPDATE conversations AS c SET last_seq = t.seq, "
    "last_message_at = GREATEST(c.last_message_at, t.at) "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:ats AS timestamptz[])) AS t(id, seq, at) "
    "WHERE c.id = t.id"
)


async def advance_conversations(conn: AsyncConnection, *, last: dict[int, tuple[int, datetime]]) -> None:
    ids = sorted(last)
    await conn.execute(_ADVANCE, {"ids": ids, "seqs": [last[i][0] for i in ids], "ats": [last[i][1] for i in ids]})


async def mark_history_read(conn: AsyncConnection, *, conversation_ids: Sequence[int]) -> None:
    """Members of imported conversations start with the imported history read."""
    stmt = (
        update(members)
        .where(
            members.c.conversation_id == conversations.c.id,
            members.c.conversation_id.in_(list(conversation_ids)),
            members.c.last_read_seq < conversations.c.last_seq,
        )
        .values(last_read_seq=conversations.c.last_seq)
    )
    await conn.execute(stmt)


# --- export ---------------------------------------------------------------------------------


async def all_users(conn: AsyncConnection) -> list[RowMapping]:
    stmt = select(users.c.id, users.c.handle, users.c.email, users.c.display_name, users.c.is_active).order_by(
        users.c.id
    )
    return list((await conn.execute(stmt)).mappings())


async def all_conversations(conn: AsyncConnection) -> list[RowMapping]:
    stmt = select(
        conversations.c.id,
        conversations.c.kind,
        conversations.c.name,
        conversations.c.topic,
        conversations.c.archived_at,
    ).order_by(conversations.c.id)
    return list((await conn.execute(stmt)).mappings())


async def all_members(conn: AsyncConnection) -> list[RowMapping]:
    stmt = select(members.c.conversation_id, members.c.user_id, members.c.role).order_by(
        members.c.conversation_id, members.c.user_id
    )
    return list((await conn.execute(stmt)).mappings())


async def conversation_messages(conn: AsyncConnection, *, conversation_id: int) -> list[RowMapping]:
    """A conversation's live messages in seq order (the export writes them, with their replies)."""
    stmt = (
        select(
            messages.c.id,
            messages.c.seq,
            messages.c.sender_id,
            messages.c.body,
            messages.c.reply_to_id,
            messages.c.created_at,
            messages.c.edited_at,
        )
        .where(messages.c.conversation_id == conversation_id, messages.c.deleted_at.is_(None))
        .order_by(messages.c.seq)
    )
    return list((await conn.execute(stmt)).mappings())


async def reactions_of(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, list[RowMapping]]:
    out: dict[int, list[RowMapping]] = {}
    if not message_ids:
        return out
    stmt = (
        select(reactions.c.message_id, reactions.c.user_id, reactions.c.emoji, reactions.c.created_at)
        .where(reactions.c.message_id.in_(list(message_ids)))
        .order_by(reactions.c.message_id, reactions.c.created_at, reactions.c.user_id, reactions.c.emoji)
    )
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["message_id"], []).append(row)
    return out


async def uploads_of(conn: AsyncConnection, *, message_ids: Sequence[int]) -> dict[int, list[RowMapping]]:
    out: dict[int, list[RowMapping]] = {}
    if not message_ids:
        return out
    stmt = (
        select(uploads.c.id, uploads.c.message_id, uploads.c.object_key, uploads.c.filename)
        .where(uploads.c.message_id.in_(list(message_ids)), uploads.c.status == "ready")
        .order_by(uploads.c.message_id, uploads.c.position)
    )
    for row in (await conn.execute(stmt)).mappings():
        out.setdefault(row["message_id"], []).append(row)
    return out


# --- runs (the admin console's progress view) ---------------------------------------------------

# A finished run has read everything the export holds.
RUN_TOTAL = func.coalesce(import_runs.c.total, import_runs.c.processed)


async def insert_run(conn: AsyncConnection, *, source: str, file_name: str) -> int:
    stmt = insert(import_runs).values(source=source, file_name=file_name).returning(import_runs.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def update_run(conn: AsyncConnection, *, run_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(import_runs).where(import_runs.c.id == run_id).values(updated_at=func.now(), **values))


async def fail_abandoned_runs(conn: AsyncConnection, *, except_id: int) -> None:
    """Runs still `running` that had taken the import lock (``total`` is set then) died: the lock
    is held by the caller now, and only one run holds it at a time."""
    stmt = (
        update(import_runs)
        .where(import_runs.c.state == "running", import_runs.c.total.is_not(None), import_runs.c.id != except_id)
        .values(state="failed", finished_at=func.now(), updated_at=func.now(), last_error="the import process stopped")
    )
    await conn.execute(stmt)


async def list_runs(conn: AsyncConnection, *, limit: int) -> Sequence[RowMapping]:
    stmt = select(import_runs).order_by(import_runs.c.started_at.desc(), import_runs.c.id.desc()).limit(limit)
    return (await conn.execute(stmt)).mappings().all()


async def get_run(conn: AsyncConnection, *, run_id: int) -> RowMapping | None:
    return (await conn.execute(select(import_runs).where(import_runs.c.id == run_id))).mappings().first()
