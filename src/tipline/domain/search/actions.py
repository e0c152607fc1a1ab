"""Search reads: messages the caller can read, people, public channels.
See docs/subsystems/search.md."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.schemas import UserOut
from tipline.domain.conversations.actions import list_public_channels
from tipline.domain.conversations.schemas import ConversationOut
from tipline.domain.search import repository as repo
from tipline.domain.search.schemas import Fragment, MessageHit, MessageSearchOut, Mode, Sort, UserSearchOut
from tipline.errors import Invalid
from tipline.runtime import Runtime

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WALLET_RE = re.compile(r"0x[0-9a-fA-F]{40}")
SNIPPET_BEFORE = 60
SNIPPET_AFTER = 140


def _encode_cursor(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode_cursor(cursor: str, *, mode: str, sort: str) -> tuple[float | None, int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["m"] != mode or data["s"] != sort:
            raise ValueError("cursor from a different search")
        rank = data.get("r")
        last_id = int(data["i"])
        if rank is not None:
            rank = float(rank)
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise Invalid("this cursor is not valid for this search; start again without it", code="bad_cursor") from exc
    return rank, last_id


def headline_fragments(headline: str, body: str | None = None) -> list[Fragment]:
    """ts_headline's output (matches between control marks) as plain-text pieces, with "…" where
    the window leaves out the start or the end of ``body``."""
    parts: list[Fragment] = []
    if body is not None:
        shown = headline.replace(repo.START, "").replace(repo.STOP, "").strip()
        whole = body.replace(repo.START, "").replace(repo.STOP, "").strip()
        if shown and shown != whole:
            head, tail = not whole.startswith(shown), not whole.endswith(shown)
            headline = ("… " if head else "") + headline.strip() + (" …" if tail else "")
    for chunk in re.split(f"({repo.START}[^{repo.STOP}]*{repo.STOP})", headline):
        if not chunk:
            continue
        if chunk.startswith(repo.START):
            parts.append(Fragment(text=chunk[1:-1], match=True))
        else:
            parts.append(Fragment(text=chunk, match=False))
    return parts


def substring_fragments(body: str, needle: str) -> list[Fragment]:
    """A window around the first occurrence, every occurrence in it marked."""
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    first = pattern.search(body)
    if first is None:  # case folding in PostgreSQL and Python can differ for a few letters
        return [Fragment(text=body[: SNIPPET_BEFORE + SNIPPET_AFTER], match=False)]
    start = max(0, first.start() - SNIPPET_BEFORE)
    end = min(len(body), first.end() + SNIPPET_AFTER)
    window = body[start:end]
    parts: list[Fragment] = []
    if start > 0:
        parts.append(Fragment(text="…", match=False))
    pos = 0
    for m in pattern.finditer(window):
        if m.start() > pos:
            parts.append(Fragment(text=window[pos : m.start()], match=False))
        parts.append(Fragment(text=m.group(), match=True))
        pos = m.end()
    if pos < len(window):
        parts.append(Fragment(text=window[pos:], match=False))
    if end < len(body):
        parts.append(Fragment(text="…", match=False))
    return parts


def _hit(row: RowMapping, highlight: list[Fragment]) -> MessageHit:
    sender = None
    if row["sender_id"] is not None and row["sender_handle"] is not None:
        sender = UserOut(
            id=row["sender_id"],
            handle=row["sender_handle"],
            display_name=row["sender_display_name"],
            is_bot=row["sender_is_bot"],
        )
    return MessageHit(
        id=row["id"],
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        sender_id=row["sender_id"],
        sender=sender,
        created_at=row["created_at"],
        edited_at=row["edited_at"],
        body=row["body"],
        rank=None if row["rank"] is None else float(row["rank"]),
        highlight=highlight,
    )


async def search_messages(
    rt: Runtime,
    *,
    user_id: int,
    query: str,
    mode: Mode = "auto",
    sort: Sort = "relevance",
    conversation_id: int | None = None,
    sender_id: int | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    has_attachment: bool | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> MessageSearchOut:
    """Messages the caller may read that match, with highlights, a page at a time."""
    query = query.strip()
    if not query:
        raise Invalid("type something to search for", code="query_empty")
    if after is not None and before is not None and after >= before:
        raise Invalid("`after` must be earlier than `before`", code="bad_date_range")
    filters = {
        "conversation_id": conversation_id,
        "sender_id": sender_id,
        "after": after,
        "before": before,
        "has_attachment": has_attachment,
    }
    async with rt.engine.connect() as conn:
        chosen = await _choose_mode(conn, mode, query)
        if chosen == "substring":
            sort = "recent"
        position = None if cursor is None else _decode_cursor(cursor, mode=chosen, sort=sort)
        if chosen == "words":
            rows = await repo.search_words(
                conn, user_id=user_id, query=query, sort=sort, cursor=position, limit=limit + 1, **filters
            )
            hits = [_hit(r, headline_fragments(r["headline"], r["body"])) for r in rows[:limit]]
        else:
            rows = await repo.search_substring(
                conn,
                user_id=user_id,
                needle=query,
                cursor=None if position is None else position[1],
                limit=limit + 1,
                **filters,
            )
            hits = [_hit(r, substring_fragments(r["body"], query)) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        rank = float(last["rank"]) if chosen == "words" and sort == "relevance" else None
        next_cursor = _encode_cursor({"m": chosen, "s": sort, "r": rank, "i": last["id"]})
    return MessageSearchOut(
        mode="words" if chosen == "words" else "substring", sort=sort, hits=hits, next_cursor=next_cursor
    )


async def _choose_mode(conn: AsyncConnection, mode: Mode, query: str) -> Mode:
    if mode != "auto":
        return mode
    # Scripts written without spaces between words: the English text-search parser sees a whole
    # run as one token, so these queries go to substring search.
    if repo.CJK_RE.search(query):
        return "substring"
    if not await repo.query_has_lexemes(conn, query=query):
        return "substring"  # only stop words ("the", "to be"): look for the text itself
    return "words"


async def search_users(rt: Runtime, *, user_id: int, query: str, limit: int = 20) -> UserSearchOut:
    """People by exact email (never a partial one: an address is private), by @handle prefix,
    by linked wallet address (exact), or by display name. Deactivated accounts are not found."""
    query = query.strip()
    if not query:
        raise Invalid("type something to search for", code="query_empty")
    async with rt.engine.connect() as conn:
        if EMAIL_RE.match(query):
            rows, matched = await repo.user_by_email(conn, email=query), "email"
        elif WALLET_RE.fullmatch(query):
            rows, matched = await repo.user_by_wallet(conn, address=query), "wallet"
        elif query.startswith("@"):
            rows, matched = await repo.users_by_handle_prefix(conn, prefix=query[1:], limit=limit), "handle"
        else:
            rows, matched = await repo.users_by_name(conn, query=query, limit=limit), "name"
    return UserSearchOut(
        users=[
            UserOut(id=r["id"], handle=r["handle"], display_name=r["display_name"], is_bot=r["is_bot"]) for r in rows
        ],
        matched_by=matched,
    )


async def search_channels(rt: Runtime, *, user_id: int, query: str, limit: int, offset: int) -> list[ConversationOut]:
    """The public channel directory, by name or topic."""
    return await list_public_channels(rt, user_id=user_id, query=query.strip() or None, limit=limit, offset=offset)
