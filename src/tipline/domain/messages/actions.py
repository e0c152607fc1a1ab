"""Message actions: send (through the group-commit batcher), edit, delete, react, history and
replay. The only code that writes messages and reactions. See docs/subsystems/messages.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from sqlalchemy import RowMapping, func
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.backends import cache as mcache
from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, encode_sender_event, event_frame
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.accounts.tokens import AccessClaims
from tipline.domain.admin.audit import record_audit
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import require_not_archived
from tipline.domain.media import repository as media_repo
from tipline.domain.media.actions import purge_uploads
from tipline.domain.media.schemas import attachment_dict
from tipline.domain.messages import repository as repo
from tipline.domain.messages.access import (
    access_message,
    access_reader,
    access_session_reader,
    require_author,
    require_author_or_manager,
    require_not_deleted,
)
from tipline.domain.messages.routing import SendRouter
from tipline.domain.messages.schemas import (
    Ack,
    HistoryPage,
    MessageOut,
    Page,
    ReplayOut,
    SendRequest,
    masked,
    mentioned_handles,
    message_dict,
)
from tipline.domain.moderation.access import hidden_senders, unblocked_mentions
from tipline.domain.previews import repository as previews_repo
from tipline.domain.previews.schemas import preview_dict
from tipline.domain.serversettings.repository import emoji_exists
from tipline.domain.serversettings.schemas import CUSTOM_EMOJI  # a reaction naming one: it must exist
from tipline.domain.threads import repository as threads_repo
from tipline.domain.threads import views as thread_views
from tipline.domain.threads.schemas import thread_updated_frames
from tipline.domain.timeline import repository as timeline_repo
from tipline.domain.timeline.spans import system_line_span
from tipline.domain.tips.actions import message_tip_totals
from tipline.errors import Conflict, Invalid, NotFound, Unavailable
from tipline.metrics import CACHE_HITS, CACHE_MISSES
from tipline.runtime import Runtime
from tipline.storage.db import read_connection

log = logging.getLogger(__name__)
MAX_EMOJI_PER_MESSAGE = 50
# Logged events that carry a sender's words, masked in replay for readers who blocked them.
SENDERS_WORDS = frozenset({"message.edited", "preview.added", "preview.removed"})
# System lines a history page carries at most (the newest of its span).
MAX_SYSTEM_LINES = 500
T = TypeVar("T")


def check_body(rt: Runtime, body: str, *, attachments: int = 0) -> str:
    if attachments > rt.settings.media_max_attachments:
        raise Invalid(
            f"a message has at most {rt.settings.media_max_attachments} attachments (this one has {attachments})",
            code="too_many_attachments",
        )
    if not body.strip() and not attachments:
        raise Invalid("a message cannot be empty", code="body_empty")
    if len(body) > rt.settings.message_max_chars:
        raise Invalid(
            f"a message is at most {rt.settings.message_max_chars} characters (this one has {len(body)})",
            code="body_too_long",
        )
    return body


def check_accepting(rt: Runtime) -> None:
    if not rt.accepting_sends:
        raise Unavailable("this server is restarting; send again (same client_msg_id) after reconnecting")


async def do_send_message(rt: Runtime, sends: SendRouter, request: SendRequest, *, ip: str) -> asyncio.Future[Ack]:
    """Check a send and queue it for its group commit; the future is its ack (or error).

    Both transports call this. It returns once the send is queued, not committed, so a socket
    can take its next frame at once and pipelined sends still commit in the order sent; the
    future resolves after the commit. Idempotent per ``client_msg_id``; the session, membership
    and every other rule are checked again in the commit's transaction (send_rules.py).
    See docs/subsystems/messages.md.
    """
    check_body(rt, request.body, attachments=len(request.attachment_ids))
    if request.thread_only and request.reply_to is None:
        raise Invalid("a thread-only reply needs reply_to (the thread's root)", code="thread_root_missing")
    check_accepting(rt)
    await rt.limits.check("send_per_user", str(request.user_id))
    await rt.limits.check("send_per_ip", ip)
    return sends.submit(request)


async def _mentions(conn: AsyncConnection, *, conversation_id: int, sender_id: int, body: str) -> list[int]:
    handles = mentioned_handles(body)
    if not handles:
        return []
    found = await repo.resolve_mentions(conn, conversation_ids={conversation_id}, handles=handles)
    return await unblocked_mentions(conn, sender_id=sender_id, mention_ids=found.values())


async def do_edit_message(rt: Runtime, *, user_id: int, message_id: int, body: str) -> MessageOut:
    check_body(rt, body)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_author(access, user_id)
        require_not_deleted(access)
        require_not_archived(access.conversation)
        cid = access.message["conversation_id"]
        # The version this edit replaces stays readable to members (docs/subsystems/messages.md, Edit history).
        old = access.message
        await timeline_repo.add_revision(
            uow.conn, message_id=message_id, body=old["body"], written_at=old["edited_at"] or old["created_at"]
        )
        mention_ids = await _mentions(uow.conn, conversation_id=cid, sender_id=user_id, body=body)
        row = await repo.update_message(
            uow.conn, message_id=message_id, values={"body": body, "edited_at": func.now(), "mention_ids": mention_ids}
        )
        data = {
            "id": message_id,
            "sender_id": user_id,
            "body": body,
            "edited_at": row["edited_at"],
            "mention_ids": mention_ids,
        }
        seq = await _durable(uow, conversation_id=cid, event="message.edited", data=data, sender_id=user_id)
        return _cached_after_commit(rt, uow, await _out(uow.conn, row), seq=seq, event="message.edited", data=data)


async def do_delete_message(rt: Runtime, *, user_id: int, message_id: int, ip: str | None = None) -> MessageOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_author_or_manager(access, user_id)
        require_not_deleted(access)
        out, gone = await _tombstone(rt, uow, message=access.message, by=user_id)
        if access.message["sender_id"] != user_id:  # a manager's moderation (docs/subsystems/admin.md)
            await record_audit(
                uow.conn,
                actor_id=user_id,
                action="message.delete",
                target_type="message",
                target_id=str(message_id),
                ip=ip,
                details={"conversation_id": out.conversation_id, "sender_id": access.message["sender_id"]},
            )
    if gone:
        await purge_uploads(rt, upload_ids=gone)
    return out


async def _tombstone(rt: Runtime, uow: UnitOfWork, *, message: RowMapping, by: int) -> tuple[MessageOut, list[Any]]:
    message_id, cid = message["id"], message["conversation_id"]
    await repo.delete_reactions(uow.conn, message_id=message_id)
    # Its earlier versions and its pins go with its words.
    await timeline_repo.delete_revisions(uow.conn, message_id=message_id)
    await timeline_repo.delete_pins_of(uow.conn, message_id=message_id)
    # Its attachments go with it: rows now, objects once this has committed.
    gone = await media_repo.mark_message_uploads_deleted(uow.conn, message_id=message_id)
    # So do its link previews: rows now, their stored images once committed.
    preview_images = await previews_repo.delete_previews_of(uow.conn, message_id=message_id)
    if preview_images:

        async def purge_preview_images() -> None:
            try:
                await rt.objects.delete(preview_images)
            except Exception:
                log.exception("could not delete %d preview images", len(preview_images))

        uow.after_commit.append(purge_preview_images)
    # A tombstone: the row (and its seq) stays so history and replay keep their shape.
    row = await repo.update_message(
        uow.conn, message_id=message_id, values={"body": "", "mention_ids": [], "deleted_at": func.now()}
    )
    data = {"id": message_id, "deleted_at": row["deleted_at"], "by": by}
    seq = await _durable(uow, conversation_id=cid, event="message.deleted", data=data)
    if message["reply_to_id"] is not None:  # one reply fewer in its thread's summary
        summary = await threads_repo.reply_deleted(uow.conn, root_id=message["reply_to_id"])
        uow.outbox.items.extend(thread_updated_frames([summary] if summary is not None else []))
    return _cached_after_commit(rt, uow, await _out(uow.conn, row), seq=seq, event="message.deleted", data=data), gone


async def delete_message_in(rt: Runtime, uow: UnitOfWork, *, message_id: int, by: int) -> list[Any] | None:
    """Delete any message inside the caller's unit of work, membership not asked: for a server
    admin acting on a report, whose access the caller has checked (docs/subsystems/admin.md).
    None when the message was already deleted; else its uploads, to purge once committed
    (``purge_uploads``)."""
    msg = await repo.message(uow.conn, message_id=message_id)
    if msg is None:
        return None
    await conv_repo.conversation(uow.conn, conversation_id=msg["conversation_id"], for_update=True)
    # Re-read under the conversation's lock: a concurrent edit or delete may have committed.
    msg = await repo.message(uow.conn, message_id=message_id)
    if msg is None or msg["deleted_at"] is not None:
        return None
    _, gone = await _tombstone(rt, uow, message=msg, by=by)
    return gone


async def do_react(rt: Runtime, *, user_id: int, message_id: int, emoji: str, add: bool) -> MessageOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_not_deleted(access)
        require_not_archived(access.conversation)
        cid = access.message["conversation_id"]
        if add:
            if (custom := CUSTOM_EMOJI.fullmatch(emoji)) and not await _custom_reaction_ok(
                uow.conn, message_id=message_id, emoji=emoji, name=custom[1]
            ):
                raise NotFound(f"there is no custom emoji {emoji} on this server", code="emoji_not_found")
            if await repo.distinct_emoji_count(uow.conn, message_id=message_id) >= MAX_EMOJI_PER_MESSAGE:
                raise Conflict("this message has too many different reactions", code="too_many_reactions")
            changed = await repo.add_reaction(uow.conn, message_id=message_id, user_id=user_id, emoji=emoji)
        else:
            changed = await repo.remove_reaction(uow.conn, message_id=message_id, user_id=user_id, emoji=emoji)
        if not changed:
            return await _out(uow.conn, access.message)
        count = await repo.reaction_count(uow.conn, message_id=message_id, emoji=emoji)
        data = {"message_id": message_id, "emoji": emoji, "user_id": user_id, "count": count}
        event = "reaction.added" if add else "reaction.removed"
        seq = await _durable(uow, conversation_id=cid, event=event, data=data)
        return _cached_after_commit(rt, uow, await _out(uow.conn, access.message), seq=seq, event=event, data=data)


async def _custom_reaction_ok(conn: AsyncConnection, *, message_id: int, emoji: str, name: str) -> bool:
    """A ":name:" reaction names a custom emoji that exists, or joins one already on the message
    (imported reactions may name emoji this server does not have)."""
    if await emoji_exists(conn, name=name):
        return True
    return await repo.reaction_count(conn, message_id=message_id, emoji=emoji) > 0


async def _durable(
    uow: UnitOfWork, *, conversation_id: int, event: str, data: dict[str, Any], sender_id: int | None = None
) -> int:
    seq = await conv_repo.append_event(uow.conn, conversation_id=conversation_id, event=event, data=_jsonable(data))
    frame = event_frame(event, conversation_id, seq, data)
    # An event carrying someone's words is tagged with them, for people who blocked them.
    payload = encode_event(frame) if sender_id is None else encode_sender_event(sender_id, frame)
    uow.outbox.add(topic_conversation(conversation_id), payload)
    return seq


def _cached_after_commit(
    rt: Runtime, uow: UnitOfWork, out: MessageOut, *, seq: int, event: str, data: dict[str, Any]
) -> MessageOut:
    """Once committed, write the message's new state (read in the transaction, so exactly its
    state at ``seq``) and the event through to the recent-message cache."""
    if rt.cache is not None:
        entry = mcache.entry(out.model_dump(), seq)
        logged = mcache.Event(seq=seq, event=event, data=_jsonable(data))

        async def write() -> None:
            await mcache.write_through(rt.cache, out.conversation_id, seqs=[seq], entries=[entry], events=[logged])

        uow.after_commit.append(write)
    return out


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(orjson.dumps(data))
    return value


async def _decorate(
    conn: AsyncConnection, rows: Sequence[RowMapping], *, hidden: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Messages as a reader sees them; ``hidden``: senders the reader blocked."""
    ids = [r["id"] for r in rows]
    reacts = await repo.reactions_for(conn, message_ids=ids)
    counts = await repo.reply_counts(conn, message_ids=ids)
    tips = await message_tip_totals(conn, message_ids=ids)
    files = await media_repo.attachments_for(conn, message_ids=ids)
    links = await previews_repo.previews_for(conn, message_ids=ids)
    out = [
        message_dict(
            r,
            reactions=reacts.get(r["id"]),
            reply_count=counts.get(r["id"], 0),
            attachments=[attachment_dict(a) for a in files.get(r["id"], [])],
            hidden=r["sender_id"] in hidden,
            previews=[preview_dict(p) for p in links.get(r["id"], [])],
        )
        for r in rows
    ]
    for m in out:
        # Confirmed tips show on a message like reactions (docs/subsystems/tipping.md).
        m["tips"] = [t.model_dump() for t in tips.get(m["id"], [])]
    return out


async def decorated(
    conn: AsyncConnection, rows: Sequence[RowMapping], *, hidden: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Messages as a reader sees them (reactions, reply counts, tips, attachments), for other
    areas' reads of messages (threads)."""
    return await _decorate(conn, rows, hidden=hidden)


async def _out(conn: AsyncConnection, row: RowMapping, *, hidden: frozenset[int] = frozenset()) -> MessageOut:
    fresh = await repo.message(conn, message_id=row["id"])
    assert fresh is not None
    return MessageOut(**(await _decorate(conn, [fresh], hidden=hidden))[0])


def _frame_for_reader(frame: dict[str, Any], hidden: frozenset[int]) -> dict[str, Any]:
    """A replayed event as this reader may see it (cached and stored frames alike)."""
    if frame["event"] == "message.created":
        return {**frame, "data": _for_reader(frame["data"], hidden)}
    return {**frame, "data": _unless_hidden(frame, hidden)}


def _unless_hidden(event: Mapping[str, Any], hidden: frozenset[int]) -> dict[str, Any]:
    """An edit's words (or a link preview's), unless its author is someone the reader blocked."""
    data: dict[str, Any] = event["data"]
    if event["event"] in SENDERS_WORDS and data.get("sender_id") in hidden:
        return masked(data)
    return data


# --- reads ------------------------------------------------------------------------------------


async def get_message(rt: Runtime, *, user_id: int, message_id: int) -> MessageOut:
    async with rt.engine.connect() as conn:
        access = await access_message(conn, user_id=user_id, message_id=message_id)
        out = await _out(conn, access.message, hidden=await hidden_senders(conn, viewer_id=user_id))
    return MessageOut.model_validate((await thread_views.with_summaries(rt.engine, [out.model_dump()]))[0])


async def get_history(
    rt: Runtime, *, claims: AccessClaims, conversation_id: int, before: int | None, after: int | None, limit: int
) -> Page:
    """A page for the holder of ``claims``: their session is checked here, with their access."""
    limit = max(1, min(limit, rt.settings.history_page_max))
    # Reads only, each statement its own snapshot as under READ COMMITTED: no BEGIN/ROLLBACK.
    async with read_connection(rt.engine) as conn:
        # The cache and the page query keep one copy for everyone; the reader's blocks apply last.
        access, hidden = await access_session_reader(conn, claims=claims, conversation_id=conversation_id)
    last_seq = int(access.conversation["last_seq"])
    rows: Sequence[dict[str, Any] | bytes] | None = None
    if rt.cache is not None:
        # Nothing to mask for a reader who blocked no one: the entries go out as the cache holds them.
        rows = await _cached_page(
            rt, conversation_id, encoded=not hidden, last_seq=last_seq, before=before, after=after, limit=limit
        )
    if rows is None:
        async with read_connection(rt.engine) as conn:
            rows = await _history_rows(conn, conversation_id=conversation_id, before=before, after=after, limit=limit)
    has_more = len(rows) > limit
    if has_more:
        # One extra row was read to know whether another page exists; drop it on the far side.
        rows = rows[:limit] if after is not None else rows[1:]
    if hidden:
        rows = [_for_reader(_decoded(m), hidden) for m in rows]
    # Thread-only replies keep their seqs but stay out of the timeline (docs/subsystems/messages.md, Threads).
    kept, skip = thread_views.timeline_page(rows, has_more=has_more, before=before, after=after)
    rows = rows if skip is not None else kept
    # The membership and conversation changes between these messages (docs/subsystems/conversations.md).
    span = system_line_span(rows, before=before, after=after, has_more=has_more, last_seq=last_seq)
    lines: list[RowMapping] = []
    if span is not None:
        async with read_connection(rt.engine) as conn:
            lines = await timeline_repo.system_lines(
                conn, conversation_id=conversation_id, lo=span[0], hi=span[1], limit=MAX_SYSTEM_LINES
            )
    if skip is not None:
        # Nothing but thread-only replies: this range's lines, and the next page's messages.
        nxt = await get_history(
            rt, claims=claims, conversation_id=conversation_id, before=skip[0], after=skip[1], limit=limit
        )
        both = [*lines, *nxt.system_lines] if after is not None else [*nxt.system_lines, *lines]
        return Page(messages=nxt.messages, has_more=nxt.has_more, system_lines=both)
    return Page(messages=await thread_views.with_summaries(rt.engine, rows), has_more=has_more, system_lines=lines)


def _decoded(message: dict[str, Any] | bytes) -> dict[str, Any]:
    # Encoded entries are read only for a reader who hides no one (get_history).
    if isinstance(message, bytes):
        raise TypeError("an encoded cache entry cannot be shown to a reader with blocks")
    return message


def _for_reader(message: dict[str, Any], hidden: frozenset[int]) -> dict[str, Any]:
    return masked(message) if message["sender_id"] in hidden else message


async def _history_rows(
    conn: AsyncConnection, *, conversation_id: int, before: int | None, after: int | None, limit: int
) -> list[dict[str, Any]]:
    rows = await repo.history(conn, conversation_id=conversation_id, before=before, after=after, limit=limit + 1)
    return await _decorate(conn, rows)


# What a cache hit spares PostgreSQL: the page (or replay) query, reactions, reply counts, events.
_PAGE_QUERIES = 3
_REPLAY_QUERIES = 4


async def _cached_page(
    rt: Runtime,
    conversation_id: int,
    *,
    encoded: bool,
    last_seq: int,
    before: int | None,
    after: int | None,
    limit: int,
) -> Sequence[dict[str, Any] | bytes] | None:
    """A page from the cache: entries as stored (``encoded``) or decoded to be masked."""
    assert rt.cache is not None
    read_page = rt.cache.encoded_page if encoded else rt.cache.page

    def read() -> Awaitable[Sequence[dict[str, Any] | bytes] | mcache.Status]:
        return read_page(conversation_id, last_seq=last_seq, before=before, after=after, limit=limit)

    return await _from_cache(rt, conversation_id, read, saves=_PAGE_QUERIES)


async def _from_cache(
    rt: Runtime, conversation_id: int, read: Callable[[], Awaitable[T | mcache.Status]], *, saves: int
) -> T | None:
    """What ``read`` finds in the cache (refilling it once when it is behind), or None: read PostgreSQL."""
    for attempt in range(2):
        try:
            found = await read()
        except Exception as exc:
            mcache.stats.errors += 1
            mcache.log.warning("message cache read failed: %s", exc)
            break
        if not isinstance(found, str):
            if attempt == 0:
                mcache.stats.hits += 1
                mcache.stats.db_reads_saved += saves
                CACHE_HITS.inc()
            return found
        if attempt == 0:
            mcache.stats.misses += 1
            CACHE_MISSES.inc()
        if found == "outside" or not await fill_cache(rt, conversation_id):
            break
    return None


_filling: dict[tuple[int, int], asyncio.Task[bool]] = {}


async def fill_cache(rt: Runtime, conversation_id: int) -> bool:
    """Refill a conversation's window from one snapshot; concurrent misses share one fill."""
    key = (id(rt), conversation_id)
    task = _filling.get(key)
    if task is None:
        task = asyncio.create_task(_fill(rt, conversation_id))
        _filling[key] = task
        task.add_done_callback(lambda _: _filling.pop(key, None))
    try:
        return await asyncio.shield(task)
    except Exception as exc:
        mcache.stats.errors += 1
        mcache.log.warning("message cache fill failed: %s", exc)
        return False


async def _fill(rt: Runtime, conversation_id: int) -> bool:
    assert rt.cache is not None
    keep = rt.settings.message_cache_size
    cutoff = time.time() - rt.settings.message_cache_max_age_s
    async with rt.engine.connect() as conn:
        # One snapshot: the messages' state is exactly their state at last_seq (the version).
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            conv = await conv_repo.conversation(conn, conversation_id=conversation_id)
            if conv is None:
                return False
            version = int(conv["last_seq"])
            rows = await repo.history(
                conn, conversation_id=conversation_id, before=version + 1, after=None, limit=keep + 1
            )
            start = max(0, len(rows) - keep)
            while start < len(rows) and rows[start]["created_at"].timestamp() <= cutoff:
                start += 1
            lo = rows[start - 1]["seq"] + 1 if start else 1
            kept = await _decorate(conn, rows[start:])
            logged = await conv_repo.events_since(conn, conversation_id=conversation_id, since=lo - 1, limit=1_000_000)
    mcache.stats.fills += 1
    await rt.cache.fill(
        conversation_id,
        version=version,
        lo=lo,
        entries=[mcache.entry(m, version) for m in kept],
        events=[mcache.Event(seq=e["seq"], event=e["event"], data=e["data"]) for e in logged],
    )
    return True


async def get_replies(rt: Runtime, *, user_id: int, message_id: int, after: int | None = None) -> HistoryPage:
    """The thread under a message, oldest first; page on with ``after`` (the last seq seen)."""
    limit = rt.settings.history_page_max
    async with rt.engine.connect() as conn:
        await access_message(conn, user_id=user_id, message_id=message_id)
        rows = await repo.replies(conn, message_id=message_id, after=after, limit=limit + 1)
        hidden = await hidden_senders(conn, viewer_id=user_id)
        return HistoryPage(
            messages=[MessageOut(**m) for m in await _decorate(conn, rows[:limit], hidden=hidden)],
            has_more=len(rows) > limit,
        )


async def replay_since(rt: Runtime, *, user_id: int, conversation_id: int, since: int) -> ReplayOut:
    """Every durable event after ``since``, in seq order; or a reload signal when too far behind.

    Messages replay in their current state (an edited message shows its new body, a deleted
    one is a tombstone), followed in seq order by the edits, deletes, reactions and
    membership changes themselves, so a client applying them in order converges. Served from
    the recent-message cache when it holds everything after ``since``.
    """
    async with read_connection(rt.engine) as conn:
        access, hidden = await access_reader(conn, user_id=user_id, conversation_id=conversation_id)
        last_seq = int(access.conversation["last_seq"])
        since = min(max(since, 0), last_seq)
        if last_seq - since > rt.settings.replay_limit:
            return ReplayOut(conversation_id=conversation_id, last_seq=last_seq, reload=True, events=[])
        if rt.cache is None:
            frames = await _replay_frames(rt, conn, conversation_id=conversation_id, since=since)
    if rt.cache is not None:
        cached = await _cached_replay(rt, conversation_id, last_seq=last_seq, since=since)
        if cached is None:
            async with read_connection(rt.engine) as conn:
                frames = await _replay_frames(rt, conn, conversation_id=conversation_id, since=since)
        else:
            frames = cached
    frames = [_frame_for_reader(f, hidden) for f in frames]
    # Both sources are read in one snapshot-free pass; trim to what is known to be complete.
    frames = [f for f in frames if f["seq"] <= last_seq]
    return ReplayOut(conversation_id=conversation_id, last_seq=last_seq, reload=False, events=frames)


async def _replay_frames(
    rt: Runtime, conn: AsyncConnection, *, conversation_id: int, since: int
) -> list[dict[str, Any]]:
    limit = rt.settings.replay_limit
    msgs = await repo.messages_since(conn, conversation_id=conversation_id, since=since, limit=limit)
    decorated = await _decorate(conn, msgs)
    others = await conv_repo.events_since(conn, conversation_id=conversation_id, since=since, limit=limit)
    frames = [event_frame("message.created", conversation_id, m["seq"], m) for m in decorated]
    frames += [event_frame(e["event"], conversation_id, e["seq"], e["data"]) for e in others]
    frames.sort(key=lambda f: f["seq"])
    return frames


async def _cached_replay(
    rt: Runtime, conversation_id: int, *, last_seq: int, since: int
) -> list[dict[str, Any]] | None:
    assert rt.cache is not None
    cache = rt.cache

    def read() -> Awaitable[mcache.Hit | mcache.Status]:
        return cache.replay(conversation_id, last_seq=last_seq, since=since)

    found = await _from_cache(rt, conversation_id, read, saves=_REPLAY_QUERIES)
    if found is None:
        return None
    frames = [event_frame("message.created", conversation_id, m["seq"], m) for m in found.messages]
    frames += [event_frame(e.event, conversation_id, e.seq, e.data) for e in found.events]
    frames.sort(key=lambda f: f["seq"])
    return frames
