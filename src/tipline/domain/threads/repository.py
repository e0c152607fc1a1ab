"""SQL for threads: the summaries and follows the send's group commit writes, and the reads of
the thread pages and the Threads listing (docs/subsystems/messages.md, Threads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.conversations.models import members
from tipline.domain.messages.models import messages
from tipline.domain.messages.repository import MSG_COLS
from tipline.domain.threads.models import thread_follows, threads

SUMMARY_COLS = (
    threads.c.root_id,
    threads.c.conversation_id,
    threads.c.reply_count,
    threads.c.last_reply_at,
    threads.c.last_reply_seq,
    threads.c.last_repliers,
)

# One statement per batch, whatever number of roots: the summaries (count, time, the latest
# three repliers merged with the earlier ones) and the follows (each replier, with their own
# reply read; each person mentioned; each root's author, who is not re-followed once they left).
_RECORD = text(
    """
WITH s AS (
  INSERT INTO threads AS t (root_id, conversation_id, reply_count, last_reply_at, last_reply_seq, last_repliers)
  SELECT r.root, r.cid, r.n, now(), r.seq, array_remove(ARRAY[r.u1, r.u2, r.u3], NULL)
  FROM unnest(CAST(:roots AS bigint[]), CAST(:cids AS bigint[]), CAST(:ns AS int[]), CAST(:seqs AS bigint[]),
              CAST(:u1 AS bigint[]), CAST(:u2 AS bigint[]), CAST(:u3 AS bigint[])) AS r(root, cid, n, seq, u1, u2, u3)
  ON CONFLICT (root_id) DO UPDATE SET
    reply_count = t.reply_count + excluded.reply_count,
    last_reply_at = excluded.last_reply_at,
    last_reply_seq = greatest(t.last_reply_seq, excluded.last_reply_seq),
    last_repliers = (
      SELECT coalesce(array_agg(y.u ORDER BY y.o), '{}') FROM (
        SELECT x.u, min(x.o) AS o FROM unnest(excluded.last_repliers || t.last_repliers) WITH ORDINALITY AS x(u, o)
        GROUP BY x.u ORDER BY min(x.o) LIMIT 3) AS y)
  RETURNING t.root_id, t.conversation_id, t.reply_count, t.last_reply_at, t.last_reply_seq, t.last_repliers
), f AS (
  INSERT INTO thread_follows AS f (root_id, user_id, following, last_read_seq)
  SELECT a.root, a.uid, true, max(a.seq) FROM (
    SELECT * FROM unnest(CAST(:froots AS bigint[]), CAST(:fusers AS bigint[]), CAST(:fseqs AS bigint[]))
      AS a(root, uid, seq)
    UNION ALL
    SELECT m.id, m.sender_id, -1 FROM messages AS m
    WHERE m.id = ANY(CAST(:roots AS bigint[])) AND m.sender_id IS NOT NULL
  ) AS a GROUP BY a.root, a.uid
  ON CONFLICT (root_id, user_id) DO UPDATE SET
    following = f.following OR excluded.last_read_seq >= 0,
    last_read_seq = greatest(f.last_read_seq, excluded.last_read_seq)
)
SELECT * FROM s
"""
).bindparams(*(bindparam(n) for n in ("roots", "cids", "ns", "seqs", "u1", "u2", "u3", "froots", "fusers", "fseqs")))


def _summaries_params(replies: Sequence[RowMapping]) -> dict[str, list[Any]]:
    by_root: dict[int, list[RowMapping]] = {}
    for row in replies:
        by_root.setdefault(row["reply_to_id"], []).append(row)
    params: dict[str, list[Any]] = {k: [] for k in ("roots", "cids", "ns", "seqs", "u1", "u2", "u3")}
    for root, rows in sorted(by_root.items()):
        latest: list[int | None] = []
        for row in reversed(rows):  # rows are in seq order; the latest repliers first
            if row["sender_id"] is not None and row["sender_id"] not in latest:
                latest.append(row["sender_id"])
        latest = [*latest, None, None, None][:3]
        params["roots"].append(root)
        params["cids"].append(rows[0]["conversation_id"])
        params["ns"].append(len(rows))
        params["seqs"].append(rows[-1]["seq"])
        for i, uid in enumerate(latest):
            params[f"u{i + 1}"].append(uid)
    return params


def _follow_params(replies: Sequence[RowMapping]) -> dict[str, list[Any]]:
    follows: dict[tuple[int, int], int] = {}
    for row in replies:
        for uid in row["mention_ids"]:
            follows.setdefault((row["reply_to_id"], uid), 0)
        if row["sender_id"] is not None:
            key = (row["reply_to_id"], row["sender_id"])
            follows[key] = max(follows.get(key, 0), row["seq"])
    keys = sorted(follows)
    return {"froots": [k[0] for k in keys], "fusers": [k[1] for k in keys], "fseqs": [follows[k] for k in keys]}


async def record_replies(conn: AsyncConnection, *, rows: Sequence[RowMapping]) -> list[RowMapping]:
    """For the replies among messages just inserted: update their roots' summaries and follows.
    Returns the new summaries (none, and no statement, when the batch has no reply)."""
    replies = [r for r in rows if r["reply_to_id"] is not None]
    if not replies:
        return []
    params = {**_summaries_params(replies), **_follow_params(replies)}
    return list((await conn.execute(_RECORD, params)).mappings())


# Every thread of the conversations, from their stored replies: the summaries (count, the last
# reply's time and seq, the latest three distinct repliers) and the follows of each replier, each
# person mentioned in a reply and each root's author, with the thread read to its last reply.
# For history written past the send path (an import); run again, it gives the same rows.
_REBUILD = text(
    """
WITH r AS MATERIALIZED (
  SELECT m.reply_to_id AS root, m.conversation_id AS cid, m.seq, m.sender_id, m.mention_ids, m.created_at
  FROM messages AS m
  WHERE m.conversation_id = ANY(CAST(:cids AS bigint[])) AND m.reply_to_id IS NOT NULL AND m.deleted_at IS NULL
), latest AS (
  SELECT x.root, array_agg(x.sender_id ORDER BY x.last DESC) AS repliers FROM (
    SELECT y.root, y.sender_id, y.last, row_number() OVER (PARTITION BY y.root ORDER BY y.last DESC) AS n
    FROM (SELECT r.root, r.sender_id, max(r.seq) AS last FROM r WHERE r.sender_id IS NOT NULL
          GROUP BY r.root, r.sender_id) AS y
  ) AS x WHERE x.n <= 3 GROUP BY x.root
), s AS (
  INSERT INTO threads AS t (root_id, conversation_id, reply_count, last_reply_at, last_reply_seq, last_repliers)
  SELECT a.root, a.cid, a.n, a.at, a.seq, coalesce(latest.repliers, '{}')
  FROM (SELECT r.root, min(r.cid) AS cid, count(*) AS n, max(r.created_at) AS at, max(r.seq) AS seq
        FROM r GROUP BY r.root) AS a
  LEFT JOIN latest ON latest.root = a.root
  ON CONFLICT (root_id) DO UPDATE SET
    reply_count = excluded.reply_count, last_reply_at = excluded.last_reply_at,
    last_reply_seq = excluded.last_reply_seq, last_repliers = excluded.last_repliers
  RETURNING t.root_id, t.last_reply_seq
), who AS (
  SELECT r.root, r.sender_id AS uid FROM r WHERE r.sender_id IS NOT NULL
  UNION SELECT r.root, unnest(r.mention_ids) FROM r
  UNION SELECT m.id, m.sender_id FROM messages AS m
  WHERE m.id IN (SELECT r.root FROM r) AND m.sender_id IS NOT NULL
)
INSERT INTO thread_follows AS f (root_id, user_id, following, last_read_seq)
SELECT who.root, who.uid, true, s.last_reply_seq FROM who JOIN s ON s.root_id = who.root
ON CONFLICT (root_id, user_id) DO UPDATE SET last_read_seq = greatest(f.last_read_seq, excluded.last_read_seq)
"""
).bindparams(bindparam("cids"))


async def rebuild(conn: AsyncConnection, *, conversation_ids: Sequence[int]) -> None:
    """Summaries and follows of every thread in the conversations, from their stored replies."""
    if conversation_ids:
        await conn.execute(_REBUILD, {"cids": list(conversation_ids)})


async def reply_deleted(conn: AsyncConnection, *, root_id: int) -> RowMapping | None:
    stmt = (
        update(threads)
        .where(threads.c.root_id == root_id)
        .values(reply_count=func.greatest(threads.c.reply_count - 1, 0))
        .returning(*SUMMARY_COLS)
    )
    return (await conn.execute(stmt)).mappings().first()


async def summaries(conn: AsyncConnection, *, root_ids: Sequence[int]) -> dict[int, RowMapping]:
    if not root_ids:
        return {}
    stmt = select(*SUMMARY_COLS).where(threads.c.root_id.in_(sorted(set(root_ids))))
    return {row["root_id"]: row for row in (await conn.execute(stmt)).mappings()}


async def follow_state(conn: AsyncConnection, *, root_id: int, user_id: int) -> RowMapping | None:
    stmt = select(thread_follows.c.following, thread_follows.c.last_read_seq).where(
        thread_follows.c.root_id == root_id, thread_follows.c.user_id == user_id
    )
    return (await conn.execute(stmt)).mappings().first()


async def set_following(conn: AsyncConnection, *, root_id: int, user_id: int, following: bool) -> None:
    stmt = pg_insert(thread_follows).values(root_id=root_id, user_id=user_id, following=following, last_read_seq=0)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["root_id", "user_id"], set_={"following": following}))


async def mark_read(conn: AsyncConnection, *, root_id: int, user_id: int, seq: int, following: bool) -> int:
    """Move the read position forward to ``seq``; a first read leaves a row that follows only if asked."""
    new = pg_insert(thread_follows).values(root_id=root_id, user_id=user_id, following=following, last_read_seq=seq)
    stmt = new.on_conflict_do_update(
        index_elements=["root_id", "user_id"],
        set_={"last_read_seq": func.greatest(thread_follows.c.last_read_seq, new.excluded.last_read_seq)},
    ).returning(thread_follows.c.last_read_seq)
    return int((await conn.execute(stmt)).scalar_one())


async def thread_page(
    conn: AsyncConnection, *, root_id: int, before: int | None, after: int | None, limit: int
) -> list[RowMapping]:
    """Up to ``limit`` replies (ascending by seq): before a seq, after a seq, or the latest."""
    stmt = select(*MSG_COLS).where(messages.c.reply_to_id == root_id)
    if before is not None:
        stmt = stmt.where(messages.c.seq < before)
    if after is not None:
        stmt = stmt.where(messages.c.seq > after)
        return list((await conn.execute(stmt.order_by(messages.c.seq).limit(limit))).mappings())
    rows = list((await conn.execute(stmt.order_by(messages.c.seq.desc()).limit(limit))).mappings())
    rows.reverse()
    return rows


_UNREAD = (
    select(func.count())
    .select_from(messages)
    .where(
        messages.c.reply_to_id == thread_follows.c.root_id,
        messages.c.seq > thread_follows.c.last_read_seq,
        messages.c.sender_id.is_distinct_from(thread_follows.c.user_id),
        messages.c.deleted_at.is_(None),
    )
    .scalar_subquery()
)


async def followed(conn: AsyncConnection, *, user_id: int, limit: int) -> list[RowMapping]:
    """The threads this person follows in conversations they are a member of, latest reply
    first, with their unread counts."""
    stmt = (
        select(*SUMMARY_COLS, thread_follows.c.last_read_seq, _UNREAD.label("unread"))
        .select_from(
            thread_follows.join(threads, threads.c.root_id == thread_follows.c.root_id).join(
                members,
                and_(members.c.conversation_id == threads.c.conversation_id, members.c.user_id == user_id),
            )
        )
        .where(thread_follows.c.user_id == user_id, thread_follows.c.following)
        .order_by(threads.c.last_reply_at.desc(), threads.c.root_id.desc())
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())


async def roots(conn: AsyncConnection, *, root_ids: Sequence[int]) -> dict[int, RowMapping]:
    if not root_ids:
        return {}
    stmt = select(*MSG_COLS).where(messages.c.id.in_(sorted(set(root_ids))))
    return {row["id"]: row for row in (await conn.execute(stmt)).mappings()}
