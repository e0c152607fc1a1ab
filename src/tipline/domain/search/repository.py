"""SQL for search. Every query is scoped to the searcher's current memberships, leaves out
deleted messages and the senders the searcher blocked (docs/subsystems/search.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.models import users
from tipline.domain.wallets.models import wallets

# Marks for ts_headline: control characters that cannot be markup, stripped from the body
# first so a message cannot forge a highlight.
START, STOP = "\x02", "\x03"
# One window of up to 35 words around the best match (a short message whole). ShortWord=0: by
# default ts_headline drops words of up to 3 letters at a window's edges, so "channel update 1",
# "… 2" and "… 3" all came out as "channel update"; fragment mode (MaxFragments>0) drops them
# even with ShortWord=0, so it is not used.
_HEADLINE_OPTS = f"StartSel={START}, StopSel={STOP}, MaxFragments=0, MaxWords=35, MinWords=15, ShortWord=0"
TS_CONFIG = "english"
# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words. The trigram
# index covers only messages with such characters (migration 0009_trgm_cjk, whose predicate is
# this class, written the same way in both Python's and PostgreSQL's regular expressions).
CJK_CLASS = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
CJK_RE = re.compile(CJK_CLASS)

# The access rule, shared by both modes: a conversation the searcher is a member of now (a
# member who left has no row, so sees nothing of it), a message not deleted, and not from
# someone the searcher blocked.
_SCOPE = (
    "m.conversation_id IN (SELECT conversation_id FROM members WHERE user_id = :me) "
    "AND m.deleted_at IS NULL "
    "AND (m.sender_id IS NULL OR m.sender_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = :me))"
)


# Who wrote each hit, for its label (a search result is labelled with its sender, like a message).
_SENDER_COLS = "u.handle AS sender_handle, u.display_name AS sender_display_name, u.is_bot AS sender_is_bot"


def _filters(
    *,
    conversation_id: int | None = None,
    sender_id: int | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    has_attachment: bool | None = None,
) -> tuple[str, dict[str, Any]]:
    sql = ""
    params: dict[str, Any] = {}
    if conversation_id is not None:
        sql += " AND m.conversation_id = :cid"
        params["cid"] = conversation_id
    if sender_id is not None:
        sql += " AND m.sender_id = :sid"
        params["sid"] = sender_id
    if after is not None:
        sql += " AND m.created_at >= :after"
        params["after"] = after
    if before is not None:
        sql += " AND m.created_at < :before"
        params["before"] = before
    if has_attachment is not None:
        # Attached, finished uploads only (an upload being processed or deleted does not count).
        exists = "EXISTS (SELECT 1 FROM uploads u WHERE u.message_id = m.id AND u.status = 'ready')"
        sql += f" AND {'' if has_attachment else 'NOT '}{exists}"
    return sql, params


async def query_has_lexemes(conn: AsyncConnection, *, query: str) -> bool:
    """False when the words are all stop words (or no words at all): nothing to match by word."""
    stmt = text(f"SELECT numnode(websearch_to_tsquery('{TS_CONFIG}', :q)) > 0")
    return bool((await conn.execute(stmt, {"q": query})).scalar())


async def search_words(
    conn: AsyncConnection,
    *,
    user_id: int,
    query: str,
    sort: str,
    cursor: tuple[float | None, int] | None,
    limit: int,
    **filters: Any,
) -> list[RowMapping]:
    """Full-text search (websearch syntax: "phrases", -minus, OR) on the GIN-indexed vector,
    ranked (ts_rank) or newest first, with the page's snippets made only for its rows."""
    where, params = _filters(**filters)
    params.update(me=user_id, q=query, limit=limit)
    if sort == "relevance":
        order, outer_order = "rank DESC, id DESC", "page.rank DESC, page.id DESC"
        if cursor is not None:
            where += " AND (ts_rank(m.search_tsv, q.tsq), m.id) < (CAST(:crank AS real), :cid_)"
            params.update(crank=cursor[0], cid_=cursor[1])
    else:
        order, outer_order = "id DESC", "page.id DESC"
        if cursor is not None:
            where += " AND m.id < :cid_"
            params["cid_"] = cursor[1]
    # Only constant fragments are joined into the SQL; every value is a bound parameter.
    sql = f"""
        WITH q AS (SELECT websearch_to_tsquery('{TS_CONFIG}', :q) AS tsq),
        page AS (
            SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.created_at, m.edited_at, m.body,
                   ts_rank(m.search_tsv, q.tsq) AS rank
            FROM messages m CROSS JOIN q
            WHERE m.search_tsv @@ q.tsq AND {_SCOPE}{where}
            ORDER BY {order}
            LIMIT :limit
        )
        SELECT page.*, {_SENDER_COLS},
               ts_headline('{TS_CONFIG}', translate(page.body, E'\\x02\\x03', ''), q.tsq, :opts) AS headline
        FROM page CROSS JOIN q LEFT JOIN users u ON u.id = page.sender_id
        ORDER BY {outer_order}
    """  # noqa: S608
    params["opts"] = _HEADLINE_OPTS
    return list((await conn.execute(text(sql), params)).mappings())


def cjk_predicate(needle: str) -> str:
    """For a needle with CJK characters, the trigram index's own predicate, to AND into the query.

    It is implied by the ILIKE (a body containing the needle contains its CJK characters), and
    written out as a constant so that the planner can prove the partial index applies.
    """
    return f" AND m.body ~ '{CJK_CLASS}'" if CJK_RE.search(needle) else ""


def substring_query(
    *, user_id: int, needle: str, cursor: int | None, limit: int, **filters: Any
) -> tuple[str, dict[str, Any]]:
    """The SQL of ``search_substring`` and its parameters."""
    where, params = _filters(**filters)
    where += cjk_predicate(needle)
    params.update(me=user_id, pat=f"%{_escape_like(needle)}%", limit=limit)
    if cursor is not None:
        where += " AND m.id < :cid_"
        params["cid_"] = cursor
    sql = f"""
        SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.created_at, m.edited_at, m.body,
               NULL::real AS rank, {_SENDER_COLS}
        FROM messages m LEFT JOIN users u ON u.id = m.sender_id
        WHERE m.body ILIKE :pat ESCAPE '\\' AND {_SCOPE}{where}
        ORDER BY m.id DESC
        LIMIT :limit
    """  # noqa: S608
    return sql, params


async def search_substring(
    conn: AsyncConnection, *, user_id: int, needle: str, cursor: int | None, limit: int, **filters: Any
) -> list[RowMapping]:
    """Case-insensitive substring match, for CJK text and fragments of words. Where pg_trgm
    exists, a partial trigram GIN index over messages with CJK text serves a needle containing
    CJK; other needles (and every needle on the embedded PostgreSQL) scan the searcher's
    conversations, newest first, until the page is full."""
    sql, params = substring_query(user_id=user_id, needle=needle, cursor=cursor, limit=limit, **filters)
    return list((await conn.execute(text(sql), params)).mappings())


async def trigram_index_present(conn: AsyncConnection) -> bool:
    stmt = text("SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'ix_messages_body_trgm_cjk')")
    return bool((await conn.execute(stmt)).scalar())


# --- people -------------------------------------------------------------------------------------

USER_COLS = (users.c.id, users.c.handle, users.c.display_name, users.c.is_bot)


async def user_by_email(conn: AsyncConnection, *, email: str) -> list[RowMapping]:
    stmt = select(*USER_COLS).where(users.c.email == email.lower(), users.c.is_active)
    return list((await conn.execute(stmt)).mappings())


def _escape_like(value: str) -> str:
    """Wildcards taken literally (every LIKE here says ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(value: str) -> str:
    return _escape_like(value) + "%"


async def user_by_wallet(conn: AsyncConnection, *, address: str) -> list[RowMapping]:
    """The account a wallet is linked to (addresses are stored in lower case; one account each)."""
    stmt = (
        select(*USER_COLS)
        .join(wallets, wallets.c.user_id == users.c.id)
        .where(wallets.c.address == address.lower(), users.c.is_active)
    )
    return list((await conn.execute(stmt)).mappings())


async def users_by_handle_prefix(conn: AsyncConnection, *, prefix: str, limit: int) -> list[RowMapping]:
    stmt = (
        select(*USER_COLS)
        .where(users.c.handle.like(_like_prefix(prefix.lower()), escape="\\"), users.c.is_active)
        .order_by(func.length(users.c.handle), users.c.handle)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())


async def users_by_name(conn: AsyncConnection, *, query: str, limit: int) -> list[RowMapping]:
    """Display name containing the words, or handle starting with them; handle matches first."""
    escaped = _escape_like(query)
    handle_match = users.c.handle.like(_like_prefix(query.lower()), escape="\\")
    stmt = (
        select(*USER_COLS)
        .where(or_(users.c.display_name.ilike(f"%{escaped}%", escape="\\"), handle_match), users.c.is_active)
        .order_by(case((handle_match, 0), else_=1), users.c.display_name, users.c.id)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings())
