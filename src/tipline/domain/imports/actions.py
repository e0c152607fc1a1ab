"""Import actions: bring a Slack or Mattermost export in, and write a Mattermost export out.
The only code that writes imported users, conversations, messages, reactions and attachments.
See docs/subsystems/import.md.

An import never goes through the live send path and publishes nothing: messages are written
in batches (COPY) with their original time and author, reactions and attachments with them,
and no event, notification or push is made for them. Connected clients learn of the new seqs
as of any change they missed: at their next ``ready`` / ``resume`` or at the next live event
(a gap in seq makes them resume, or reload past the replay limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import secrets
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import filetype
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.accounts.actions import normalize_email
from tipline.domain.imports import repository as repo
from tipline.domain.imports.mattermost import MattermostWriter, reaction_out
from tipline.domain.imports.schemas import (
    MAX_BODY,
    MAX_DISPLAY_NAME,
    MAX_FILENAME,
    MAX_NAME,
    MAX_TOPIC,
    FileSkipped,
    ImportConversation,
    ImportFile,
    ImportFormatError,
    ImportMessage,
    ImportRunOut,
    ImportUser,
    Source,
    Summary,
    client_msg_id,
)
from tipline.domain.media.actions import max_bytes
from tipline.domain.media.processing import SNIFF_BYTES, Sniffed, normalize_type, process_image, sniff
from tipline.domain.moderation.access import require_server_admin
from tipline.domain.threads import repository as threads_repo
from tipline.errors import Conflict, DomainError, Invalid, NotFound
from tipline.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 5000
# Connections a batch is written on at once, each with its own conversations. COPY's work per row
# (the search vector, five indexes, the key checks) is one PostgreSQL backend's: on one connection
# the database used a single core while the parser waited for it.
LANES = 2
# Messages parsed between two yields to the writer: about 1.5 ms of parsing, so a round trip of the
# writer waits at most that long for the loop, and the yields cost under 1 % of the parse.
YIELD_EVERY = 50
EMOJI_RE = re.compile(r"^[^\s\x00-\x1f\ufffd]{1,32}$")
_HANDLE_CHARS = re.compile(r"[^a-z0-9_]+")
_NOBODY: frozenset[int] = frozenset()
_SURROGATE = re.compile("[\ud800-\udfff]")

Progress = Callable[[int, int], None]


class Export(Protocol):
    """A parsed export. ``validate`` reads all of it and raises ImportFormatError before anything
    is written; the rest may then be called in order."""

    source: Source

    def validate(self) -> None: ...

    def users(self) -> list[ImportUser]: ...

    def conversations(self) -> list[ImportConversation]: ...

    def message_count(self) -> int: ...

    def messages(self, handles: Mapping[str, str], summary: Summary) -> Iterator[ImportMessage]:
        """In an order where each conversation's messages come oldest first, a thread's root
        before its replies. ``handles`` maps user keys to their Tipline handle (for mentions)."""
        ...

    def close(self) -> None: ...


class SimulatedCrash(RuntimeError):
    """Raised by the ``crash_after_batches`` test hook after that many batches have committed."""


# --- names -------------------------------------------------------------------------------------


def clean_text(value: str, limit: int | None = None) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogates (both become U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Decoded JSON joins valid pairs, so any surrogate left is alone: one U+FFFD each.
        value = _SURROGATE.sub("\ufffd", value)
    return value if limit is None else value[:limit]


def handle_base(wish: str) -> str:
    """A handle from a source username: ASCII letters, digits and underscores, 3 to 32 of them."""
    ascii_only = unicodedata.normalize("NFKD", wish).encode("ascii", "ignore").decode().lower()
    base = _HANDLE_CHARS.sub("_", ascii_only).strip("_")[:32]
    if len(base) < 3:
        base = (base + "_user")[:32].strip("_") if base else "user"
    return base if len(base) >= 3 else "user"


def filename_of(name: str) -> str:
    """The last path component only, printable, never empty."""
    base = clean_text(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip() or "file"
    return base[:MAX_FILENAME]


# --- the run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    """A message ready to write, before its id and seq are known."""

    cid: int
    sid: int
    cmid: str
    body: str
    created_at: datetime
    edited_at: datetime | None
    mention_ids: list[int]
    parent_key: str | None
    thread_only: bool  # a reply not shown in the conversation's timeline (unless its root is missing)
    key: str
    remember: bool  # a thread root: later replies look its id up
    reactions: list[tuple[int, str, datetime]]
    files: list[ImportFile]


@dataclass
class _Run:
    rt: Runtime
    export: Export
    summary: Summary
    progress: Progress | None
    run_id: int
    users: dict[str, int] = field(default_factory=dict)
    conversations: dict[str, int] = field(default_factory=dict)
    created_conversations: set[int] = field(default_factory=set)  # by this run: no message of ours yet
    members: dict[int, set[int]] = field(default_factory=dict)
    roots: dict[str, int] = field(default_factory=dict)  # thread root key -> message id
    seen: set[str] = field(default_factory=set)  # client_msg_ids of this run
    joined_directs: set[int] = field(default_factory=set)  # DMs that existed before this run
    written: Counter[int] = field(default_factory=Counter)  # messages this run wrote, by conversation
    batches: int = 0


async def do_import(
    rt: Runtime,
    *,
    export: Export,
    file_name: str = "export",
    progress: Progress | None = None,
    batch_size: int = BATCH,
    crash_after_batches: int | None = None,
) -> Summary:
    """Import an export (docs/subsystems/import.md). Validates it all first (a malformed or unsafe
    export raises ImportFormatError and nothing is written), then users, conversations and, in
    batches of ``batch_size`` (each one transaction), messages with their reactions and files.
    Idempotent and resumable: what a previous run committed is found and skipped.

    The run is recorded in ``import_runs`` (the admin console's Imports view): started, its counts
    after each stage and each batch, and how it ended (done, or failed with the error)."""
    summary = Summary()
    async with rt.engine.begin() as conn:
        run_id = await repo.insert_run(conn, source=export.source, file_name=filename_of(file_name))
    try:
        await asyncio.to_thread(export.validate)
        # What validation keeps (a million-entry order of messages, say) lives until the end: out
        # of the collector's sight, full collections stay as cheap as for a small heap.
        gc.collect()
        gc.freeze()
        try:
            await _import(
                rt,
                export=export,
                summary=summary,
                progress=progress,
                run_id=run_id,
                batch_size=batch_size,
                crash_after_batches=crash_after_batches,
            )
        finally:
            gc.unfreeze()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await _end_run(rt, run_id, summary, error=run_error(exc))
        raise
    await _end_run(rt, run_id, summary, error=None)
    return summary


def run_error(exc: BaseException) -> str:
    """What a failed run shows: an export's or the domain's own message; for anything else only
    its kind and first line (a database error's text can quote what it was writing)."""
    if isinstance(exc, ImportFormatError):
        return str(exc)
    if isinstance(exc, DomainError):
        return exc.message
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


async def _end_run(rt: Runtime, run_id: int, summary: Summary, *, error: str | None) -> None:
    values: dict[str, Any] = {"counts": summary.as_dict(), "finished_at": datetime.now(UTC)}
    if error is None:
        values |= {"state": "done", "processed": repo.RUN_TOTAL}
    else:
        values |= {"state": "failed", "last_error": error}
    async with rt.engine.begin() as conn:
        await repo.update_run(conn, run_id=run_id, values=values)


async def list_runs(rt: Runtime, *, caller_id: int, limit: int = 100) -> list[ImportRunOut]:
    """Import runs, newest first: server admins only (403 ``not_a_server_admin``)."""
    async with rt.engine.connect() as conn:
        await require_server_admin(conn, user_id=caller_id)
        rows = await repo.list_runs(conn, limit=limit)
    return [ImportRunOut.model_validate(dict(r)) for r in rows]


async def get_run(rt: Runtime, *, caller_id: int, run_id: int) -> ImportRunOut:
    """One import run: server admins only; 404 ``import_not_found`` for an unknown id."""
    async with rt.engine.connect() as conn:
        await require_server_admin(conn, user_id=caller_id)
        row = await repo.get_run(conn, run_id=run_id)
    if row is None:
        raise NotFound("import run not found", code="import_not_found")
    return ImportRunOut.model_validate(dict(row))


async def _record(run: _Run, **values: Any) -> None:
    """The run's counts so far (and ``values``), in a transaction of their own."""
    async with run.rt.engine.begin() as conn:
        await repo.update_run(conn, run_id=run.run_id, values={"counts": run.summary.as_dict(), **values})


async def _import(
    rt: Runtime,
    *,
    export: Export,
    summary: Summary,
    progress: Progress | None,
    run_id: int,
    batch_size: int,
    crash_after_batches: int | None,
) -> None:
    async with rt.engine.connect() as lock_conn:
        if not await repo.try_lock(lock_conn):
            raise Conflict("another import is running on this database", code="import_running")
        await lock_conn.commit()
        try:
            run = _Run(rt=rt, export=export, summary=summary, progress=progress, run_id=run_id)
            async with rt.engine.begin() as conn:
                await repo.fail_abandoned_runs(conn, except_id=run_id)
                await repo.update_run(conn, run_id=run_id, values={"total": export.message_count()})
            await _import_users(run)
            await _record(run)
            await _import_conversations(run)
            await _record(run)
            await _import_messages(run, batch_size=batch_size, crash_after_batches=crash_after_batches)
            async with rt.engine.begin() as conn:
                # Not in a DM the two already had: what they had not read there stays unread.
                ours = set(run.conversations.values()) - run.joined_directs
                await repo.mark_history_read(conn, conversation_ids=sorted(ours))
            await _rebuild_threads(run)
        finally:
            await repo.unlock(lock_conn)
            await lock_conn.commit()


async def _import_users(run: _Run) -> None:
    source = run.export.source
    async with run.rt.engine.begin() as conn:
        mapped = await repo.mapping(conn, source=source, kind="user")
        # A mapping whose user was deleted since is stale: the user is matched or made again.
        alive = await repo.existing_user_ids(conn, user_ids=sorted(set(mapped.values())))
    mapped = {k: v for k, v in mapped.items() if v in alive}
    todo = [u for u in run.export.users() if u.key not in mapped]
    run.summary.matched["users"] += len(mapped)
    for start in range(0, len(todo), 500):
        chunk = todo[start : start + 500]
        async with run.rt.engine.begin() as conn:
            emails = {u.key: e for u in chunk if u.email and (e := normalize_email(u.email))}
            by_email = await repo.user_ids_by_email(conn, emails=sorted(set(emails.values())))
            for user in chunk:
                email = emails.get(user.key)
                if email is not None and email in by_email:
                    target = by_email[email]
                    run.summary.matched["users"] += 1
                else:
                    target = await _create_user(conn, user, email)
                    if email is not None:
                        by_email[email] = target  # two source users with one address: one account
                    run.summary.created["users"] += 1
                await repo.add_mapping(conn, source=source, kind="user", key=user.key, target_id=target)
                mapped[user.key] = target
    run.users = mapped


async def _create_user(conn: AsyncConnection, user: ImportUser, email: str | None) -> int:
    base = handle_base(user.handle)
    display = clean_text(user.display_name).strip()[:MAX_DISPLAY_NAME] or base
    for attempt in range(20):
        handle = base if attempt == 0 else f"{base[:27]}_{secrets.token_hex(2)}"
        user_id = await repo.insert_user(conn, email=email, handle=handle, display_name=display, active=user.active)
        if user_id is not None:
            return user_id
        if email is not None and (found := await repo.user_ids_by_email(conn, emails=[email])):
            return found[email]
    raise Conflict(f"no free handle for {user.handle!r}", code="handle_taken")


async def _import_conversations(run: _Run) -> None:
    source = run.export.source
    async with run.rt.engine.begin() as conn:
        mapped = await repo.mapping(conn, source=source, kind="conversation")
        alive = await repo.existing_conversation_ids(conn, conversation_ids=sorted(set(mapped.values())))
    mapped = {k: v for k, v in mapped.items() if v in alive}
    run.summary.matched["conversations"] += len(mapped)
    items = run.export.conversations()
    for start in range(0, len(items), 200):
        async with run.rt.engine.begin() as conn:
            for conv in items[start : start + 200]:
                member_ids = sorted({run.users[k] for k in conv.member_keys if k in run.users})
                cid = mapped.get(conv.key)
                if cid is None:
                    cid = await _create_conversation(run, conn, conv, member_ids)
                    if cid is None:
                        continue
                    await repo.add_mapping(conn, source=source, kind="conversation", key=conv.key, target_id=cid)
                    mapped[conv.key] = cid
                creator = run.users.get(conv.creator_key) if conv.creator_key else None
                owner = creator if creator in member_ids else None
                if owner is None and conv.kind in ("group", "private") and member_ids:
                    owner = member_ids[0]  # someone can manage it; the creator may have left
                await repo.add_members(
                    conn,
                    rows=[
                        {
                            "conversation_id": cid,
                            "user_id": uid,
                            "role": "owner" if uid == owner else "member",
                            "joined_seq": 0,
                            "last_read_seq": 0,
                        }
                        for uid in member_ids
                    ],
                )
    run.conversations = mapped
    async with run.rt.engine.connect() as conn:
        run.members = await repo.member_ids(conn, conversation_ids=sorted(set(mapped.values())))


async def _create_conversation(
    run: _Run, conn: AsyncConnection, conv: ImportConversation, member_ids: list[int]
) -> int | None:
    direct_key = None
    if conv.kind == "direct":
        if len(member_ids) != 2:
            reason = "direct message with oneself" if len(member_ids) == 1 else "direct message without two members"
            run.summary.skip(f"conversation: {reason}")
            return None
        direct_key = f"{member_ids[0]}:{member_ids[1]}"
        existing = await repo.direct_by_key(conn, direct_key=direct_key)
        if existing is not None:
            # The two already talk here: the history joins their conversation.
            run.summary.matched["conversations"] += 1
            run.joined_directs.add(existing)
            return existing
    values: dict[str, Any] = {
        "kind": conv.kind,
        "name": "" if conv.kind == "direct" else (clean_text(conv.name).strip()[:MAX_NAME] or "imported"),
        "topic": clean_text(conv.topic).strip()[:MAX_TOPIC],
        "created_by": run.users.get(conv.creator_key) if conv.creator_key else None,
        "direct_key": direct_key,
    }
    if conv.created_at is not None:
        values["created_at"] = conv.created_at
    if conv.archived:
        values["archived_at"] = datetime.now(UTC)
    cid = await repo.insert_conversation(conn, values=values)
    run.created_conversations.add(cid)
    run.summary.created["conversations"] += 1
    return cid


# --- messages ----------------------------------------------------------------------------------


def _prepare(run: _Run, msg: ImportMessage) -> _Prepared | None:
    cid = run.conversations.get(msg.conversation_key)
    if cid is None:
        run.summary.skip("message: its conversation was not imported")
        return None
    sid = run.users.get(msg.author_key)
    if sid is None:
        run.summary.skip("message: its author is not in the export")
        return None
    body = clean_text(msg.body)
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY]
        run.summary.notes["message cut to 100,000 characters"] += 1
    if not body.strip() and not msg.files:
        run.summary.skip("message: empty (no text, no file)")
        return None
    conv_members = run.members.get(cid, _NOBODY)
    mentions = (
        sorted({m for k in msg.mention_keys if (m := run.users.get(k)) is not None and m in conv_members})
        if msg.mention_keys
        else []
    )
    reactions: dict[tuple[int, str], datetime] = {}
    for r in msg.reactions:
        uid = run.users.get(r.user_key)
        emoji = clean_text(r.emoji)
        if uid is None:
            run.summary.skip("reaction: its user is not in the export")
        elif not EMOJI_RE.fullmatch(emoji):
            run.summary.skip("reaction: not an emoji Tipline can store (1 to 32 characters, no spaces)")
        else:
            reactions.setdefault((uid, emoji), r.created_at)
    cmid = client_msg_id(run.export.source, msg.key)
    if cmid in run.seen:
        # The same source key twice (a Mattermost post repeated line for line): one message.
        run.summary.skip("message: repeats another message of the export")
        return None
    run.seen.add(cmid)
    if len(msg.files) > run.rt.settings.media_max_attachments:
        run.summary.skip(
            "file: more than MEDIA_MAX_ATTACHMENTS on one message",
            len(msg.files) - run.rt.settings.media_max_attachments,
        )
    return _Prepared(
        cid=cid,
        sid=sid,
        cmid=cmid,
        body=body,
        created_at=msg.created_at,
        edited_at=msg.edited_at,
        mention_ids=mentions,
        parent_key=msg.parent_key,
        thread_only=msg.parent_key is not None and not msg.broadcast,
        key=msg.key,
        remember=msg.parent_key is None,
        reactions=[(u, e, at) for (u, e), at in reactions.items()],
        files=msg.files[: run.rt.settings.media_max_attachments],
    )


async def _import_messages(run: _Run, *, batch_size: int, crash_after_batches: int | None) -> None:
    total = run.export.message_count()
    handles: dict[str, str] = {}
    async with run.rt.engine.connect() as conn:
        by_id = await repo.handles_of(conn, user_ids=sorted(set(run.users.values())))
    handles = {k: by_id[v] for k, v in run.users.items() if v in by_id}
    # The parser prepares the next batch while PostgreSQL writes this one (one batch ahead).
    queue: asyncio.Queue[tuple[list[_Prepared], int] | None] = asyncio.Queue(maxsize=1)

    async def writer() -> None:
        while (item := await queue.get()) is not None:
            batch, read = item
            await _write_parts(run, split_by_conversation(batch, LANES))
            run.batches += 1
            await _record(run, processed=read)
            if crash_after_batches is not None and run.batches >= crash_after_batches:
                raise SimulatedCrash(f"stopped after {run.batches} batches")

    task = asyncio.create_task(writer())
    try:
        batch: list[_Prepared] = []
        for n, msg in enumerate(run.export.messages(handles, run.summary), 1):
            prepared = _prepare(run, msg)
            if prepared is not None:
                batch.append(prepared)
            if len(batch) >= batch_size:
                await _put(queue, (batch, n), task)
                batch = []
                if run.progress is not None:
                    run.progress(n, total)
            elif n % YIELD_EVERY == 0:
                # Let the writer go on: each of its round trips to PostgreSQL (there are several per
                # batch) resumes only when the parser yields, and PostgreSQL idles until then.
                await asyncio.sleep(0)
                if task.done():
                    break
        if batch and not task.done():
            await _put(queue, (batch, total), task)
        if not task.done():
            await _put(queue, None, task)
        await task
        if run.progress is not None:
            run.progress(total, total)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _put(
    queue: asyncio.Queue[tuple[list[_Prepared], int] | None],
    item: tuple[list[_Prepared], int] | None,
    task: asyncio.Task[None],
) -> None:
    """Queue a batch, or surface the writer's failure instead of waiting on a dead writer."""
    put = asyncio.ensure_future(queue.put(item))
    await asyncio.wait({put, task}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        put.cancel()
        task.result()  # raises the writer's exception


def split_by_conversation(batch: list[_Prepared], lanes: int) -> list[list[_Prepared]]:
    """At most ``lanes`` parts of a batch, each conversation's messages whole and in order in one
    part (its seqs are taken in order, and a reply finds its root in the same part), the largest
    conversations first into the part with the fewest messages so far."""
    by_cid: dict[int, list[_Prepared]] = {}
    for p in batch:
        by_cid.setdefault(p.cid, []).append(p)
    parts: list[list[_Prepared]] = [[] for _ in range(lanes)]
    for group in sorted(by_cid.values(), key=len, reverse=True):
        min(parts, key=len).extend(group)
    return [part for part in parts if part]


async def _write_parts(run: _Run, parts: list[list[_Prepared]]) -> None:
    """Write the parts of one batch at once, each in its own transaction. Their conversations are
    disjoint, so they never wait on each other's row locks; what committed before a failure is
    found and skipped by the next run, as after a crash."""
    await _at_once([_write_batch(run, part) for part in parts])


async def _rebuild_threads(run: _Run) -> None:
    """Imported replies were written by COPY, past the send path's summaries and follows: rebuild
    them, the conversations shared out over LANES connections by the messages this run wrote
    (each group its own transaction; a run that stops here rebuilds them all again next time)."""
    groups: list[list[int]] = [[] for _ in range(LANES)]
    weight = [0] * LANES
    for cid in sorted(set(run.conversations.values()), key=lambda c: -run.written[c]):
        lane = weight.index(min(weight))
        groups[lane].append(cid)
        weight[lane] += run.written[cid]

    async def rebuild(cids: list[int]) -> None:
        async with run.rt.engine.begin() as conn:
            await threads_repo.rebuild(conn, conversation_ids=sorted(cids))

    await _at_once([rebuild(group) for group in groups if group])


async def _at_once(work: list[Coroutine[Any, Any, None]]) -> None:
    """Run them all concurrently; if one fails, stop the others and raise its error."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _write_batch(run: _Run, batch: list[_Prepared]) -> None:
    # What earlier runs committed is skipped; conversations this run created hold nothing of it.
    keys = [(p.cid, p.sid, p.cmid) for p in batch if p.cid not in run.created_conversations]
    existing: dict[str, int] = {}
    if keys:
        async with run.rt.engine.connect() as conn:
            existing = await repo.existing_messages(conn, keys=keys)
    fresh: list[_Prepared] = []
    for p in batch:
        found = existing.get(p.cmid)
        if found is None:
            fresh.append(p)
            continue
        run.summary.matched["replies" if p.parent_key else "messages"] += 1
        if p.remember:
            run.roots[p.key] = found
    if not fresh:
        return
    # Objects first: a crash before the commit leaves unreferenced objects, never rows
    # pointing at missing ones.
    upload_rows = await _store_files(run, fresh)
    async with run.rt.engine.begin() as conn:
        last = await repo.lock_conversations(conn, conversation_ids=sorted({p.cid for p in fresh}))
        ids = await repo.next_message_ids(conn, n=len(fresh))
        records: list[tuple[Any, ...]] = []
        reactions: list[tuple[Any, ...]] = []
        advanced: dict[int, tuple[int, datetime]] = {}
        local: dict[str, int] = {}
        for p, mid in zip(fresh, ids, strict=True):
            seq = last[p.cid] + 1
            last[p.cid] = seq
            prev_at = advanced.get(p.cid, (0, p.created_at))[1]
            advanced[p.cid] = (seq, max(prev_at, p.created_at))
            parent = None
            if p.parent_key is not None:
                parent = local.get(p.parent_key) or run.roots.get(p.parent_key)
                if parent is None:
                    run.summary.notes["reply whose thread root is not in the export: imported as a message"] += 1
            if p.remember:
                local[p.key] = mid
            thread_only = p.thread_only and parent is not None
            records.append(
                (mid, p.cid, seq, p.sid, p.cmid, p.body, parent, thread_only, p.mention_ids, p.created_at, p.edited_at)
            )
            reactions.extend((mid, uid, emoji, at) for uid, emoji, at in p.reactions)
            for row in upload_rows.get(p.cmid, []):
                row["message_id"] = mid
        await repo.copy_messages(conn, records=records)
        await repo.copy_reactions(conn, records=reactions)
        await repo.insert_uploads(conn, rows=[row for rows in upload_rows.values() for row in rows])
        await repo.advance_conversations(conn, last=advanced)
    run.roots.update(local)
    for p in fresh:
        run.written[p.cid] += 1
        run.summary.created["replies" if p.parent_key else "messages"] += 1
        run.summary.created["reactions"] += len(p.reactions)
    run.summary.created["files"] += sum(len(rows) for rows in upload_rows.values())


async def _store_files(run: _Run, fresh: list[_Prepared]) -> dict[str, list[dict[str, Any]]]:
    """Store each attachment through the media backend, checked and cleaned as an upload is;
    the upload rows to insert with their messages, by client_msg_id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p in fresh:
        for position, f in enumerate(p.files):
            try:
                row = await _store_file(run, p, f, position)
            except FileSkipped as exc:
                run.summary.skip(f"file: {exc}")
                continue
            out.setdefault(p.cmid, []).append(row)
    return out


def _file_type(head: bytes, exported_type: str | None) -> tuple[str, Sniffed]:
    """The declared type and what the bytes are. The bytes decide, as for uploads; the export's
    word counts only when they cannot."""
    guess = filetype.guess(head)
    if guess is not None:
        declared = normalize_type(guess.mime)
    else:
        declared = normalize_type(exported_type or "") or "application/octet-stream"
    try:
        return declared, sniff(head, declared)
    except Invalid:  # declared as media but the bytes are not: kept as a plain file
        return "application/octet-stream", sniff(head, "application/octet-stream")


async def _store_file(run: _Run, p: _Prepared, f: ImportFile, position: int) -> dict[str, Any]:
    rt = run.rt
    data = await asyncio.to_thread(f.read)
    declared, found = _file_type(data[:SNIFF_BYTES], f.content_type)
    limit = max_bytes(rt, found.kind)
    if len(data) > limit:
        raise FileSkipped(f"larger than the {found.kind} limit ({limit} bytes)")
    upload_id = uuid.uuid4()
    key = f"att/{p.cid}/{upload_id.hex}"
    object_key = f"{key}.{uuid.uuid4().hex}"
    row: dict[str, Any] = {
        "id": upload_id,
        "owner_id": p.sid,
        "purpose": "attachment",
        "conversation_id": p.cid,
        "position": position,
        "key": key,
        "object_key": object_key,
        "filename": filename_of(f.name),
        "declared_type": declared,
        "declared_size": len(data),
        "status": "ready",
        "content_type": found.content_type,
        "size": len(data),
        "kind": found.kind,
        "completed_at": p.created_at,
        "created_at": p.created_at,
        "thumb_key": None,
        "width": None,
        "height": None,
        "thumb_width": None,
        "thumb_height": None,
    }
    if found.kind == "image":
        try:
            image = await asyncio.to_thread(
                process_image,
                data,
                found.content_type,
                thumb_px=rt.settings.media_thumbnail_px,
                max_pixels=rt.settings.media_max_image_pixels,
            )
        except Invalid as exc:
            raise FileSkipped(f"image refused ({exc.message})") from exc
        data = image.data
        row |= {
            "size": len(data),
            "width": image.width,
            "height": image.height,
            "thumb_key": f"{object_key}.thumb",
            "thumb_width": image.thumb_width,
            "thumb_height": image.thumb_height,
        }
        await rt.objects.put(row["thumb_key"], image.thumb, content_type="image/webp")
    await rt.objects.put(object_key, data, content_type=found.content_type)
    return row


# --- export ------------------------------------------------------------------------------------


@dataclass
class ExportSummary:
    users: int = 0
    channels: int = 0
    direct_channels: int = 0
    posts: int = 0
    replies: int = 0
    reactions: int = 0
    attachments: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"users: {self.users}",
            f"channels: {self.channels}",
            f"direct channels: {self.direct_channels}",
            f"posts: {self.posts} (and {self.replies} replies)",
            f"reactions: {self.reactions}",
            f"attachments: {self.attachments}",
        ]
        out += [f"skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        return out


_SLUG = re.compile(r"[^a-z0-9_-]+")


def _channel_slug(name: str, cid: int) -> str:
    """Mattermost channel names are lower-case letters, digits, '-' and '_'; the id keeps them unique."""
    base = _SLUG.sub("-", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()).strip("-")
    return f"{base[:50] or 'channel'}-{cid}"


async def do_export_mattermost(
    rt: Runtime,
    *,
    out_path: Path,
    data_dir: Path | None = None,
    team: str = "tipline",
    progress: Progress | None = None,
) -> ExportSummary:
    """Write every user, conversation and live message in Mattermost's bulk-import format, with
    attachments under ``data_dir`` (default: ``<out>.data/`` beside the file). Deleted messages
    are left out; replies are nested under their thread's root, as the format wants."""
    data_dir = data_dir or out_path.with_name(out_path.name + ".data")
    summary = ExportSummary()
    async with rt.engine.connect() as conn:
        people = await repo.all_users(conn)
        convs = await repo.all_conversations(conn)
        member_rows = await repo.all_members(conn)
    handle = {u["id"]: u["handle"] for u in people}
    members: dict[int, list[tuple[int, str]]] = {}
    for m in member_rows:
        members.setdefault(m["conversation_id"], []).append((m["user_id"], m["role"]))
    channel_name = {c["id"]: _channel_slug(c["name"], c["id"]) for c in convs if c["kind"] in ("public", "private")}
    total = len(convs)
    tmp = out_path.with_name(out_path.name + ".partial")
    with tmp.open("wb") as fh:
        w = MattermostWriter(fh, base_dir=out_path.parent.resolve(), data_dir=data_dir.resolve())
        w.line("version", 1)
        w.line("team", {"name": team, "display_name": team, "type": "O"})
        _write_channels(w, summary, convs, channel_name, team=team)
        _write_users(w, summary, people, members, channel_name, team=team)
        for done, c in enumerate(convs, 1):
            channel = channel_name.get(c["id"])
            if c["kind"] in ("direct", "group"):
                names = sorted(handle[uid] for uid, _ in members.get(c["id"], []) if uid in handle)
                if len(names) < 2:
                    reason = "conversation with fewer than two members left"
                    summary.skipped[reason] = summary.skipped.get(reason, 0) + 1
                    continue
                w.line("direct_channel", {"members": names, "header": c["topic"]})
                summary.direct_channels += 1
                await _export_posts(rt, w, summary, c["id"], handle, direct=names, team=team, channel=None)
            else:
                await _export_posts(rt, w, summary, c["id"], handle, direct=None, team=team, channel=channel)
            if progress is not None:
                progress(done, total)
    tmp.replace(out_path)
    return summary


def _write_channels(
    w: MattermostWriter, summary: ExportSummary, convs: list[Any], channel_name: dict[int, str], *, team: str
) -> None:
    for c in convs:
        if c["id"] in channel_name:
            w.line(
                "channel",
                {
                    "team": team,
                    "name": channel_name[c["id"]],
                    "display_name": c["name"] or channel_name[c["id"]],
                    "type": "O" if c["kind"] == "public" else "P",
                    "purpose": c["topic"],
                },
            )
            summary.channels += 1


def _write_users(
    w: MattermostWriter,
    summary: ExportSummary,
    people: list[Any],
    members: dict[int, list[tuple[int, str]]],
    channel_name: dict[int, str],
    *,
    team: str,
) -> None:
    """One ``user`` line each, with the channels they belong to (admins as channel admins)."""
    channels_of: dict[int, list[dict[str, str]]] = {}
    for cid, rows in members.items():
        if cid in channel_name:
            for uid, role in rows:
                roles = "channel_admin channel_user" if role in ("owner", "admin") else "channel_user"
                channels_of.setdefault(uid, []).append({"name": channel_name[cid], "roles": roles})
    for u in people:
        user: dict[str, Any] = {
            "username": u["handle"],
            "nickname": u["display_name"],
            "roles": "system_user",
            "teams": [{"name": team, "roles": "team_user", "channels": channels_of.get(u["id"], [])}],
        }
        if u["email"]:
            user["email"] = u["email"]
        if not u["is_active"]:
            user["delete_at"] = 1
        w.line("user", user)
        summary.users += 1


async def _post(
    rt: Runtime, w: MattermostWriter, r: Any, handle: dict[int, str], reacts: list[Any], files: list[Any]
) -> dict[str, Any]:
    """One message as a Mattermost post: its text, times, reactions and attachments."""
    item: dict[str, Any] = {
        "user": handle[r["sender_id"]],
        "message": r["body"],
        "create_at": int(r["created_at"].timestamp() * 1000),
    }
    if r["edited_at"] is not None:
        item["edit_at"] = int(r["edited_at"].timestamp() * 1000)
    item["reactions"] = [
        reaction_out(x["emoji"], handle[x["user_id"]], x["created_at"]) for x in reacts if x["user_id"] in handle
    ]
    attachments = []
    for f in files:
        if f["object_key"] is not None:
            data = await rt.objects.read(f["object_key"])
            attachments.append(w.attachment(str(f["id"]), f["filename"], data))
    item["attachments"] = attachments
    return item


async def _export_posts(
    rt: Runtime,
    w: MattermostWriter,
    summary: ExportSummary,
    cid: int,
    handle: dict[int, str],
    *,
    direct: list[str] | None,
    team: str,
    channel: str | None,
) -> None:
    async with rt.engine.connect() as conn:
        rows = await repo.conversation_messages(conn, conversation_id=cid)
        ids = [r["id"] for r in rows]
        reacts = await repo.reactions_of(conn, message_ids=ids)
        files = await repo.uploads_of(conn, message_ids=ids)
    by_id = {r["id"]: r for r in rows}

    def root_of(row: Any) -> int:
        seen = 0
        while row["reply_to_id"] is not None and row["reply_to_id"] in by_id and seen < 1000:
            row = by_id[row["reply_to_id"]]
            seen += 1
        return int(row["id"])

    posts: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    for r in rows:
        if r["sender_id"] not in handle:
            summary.skipped["message whose author is gone"] = summary.skipped.get("message whose author is gone", 0) + 1
            continue
        item = await _post(rt, w, r, handle, reacts.get(r["id"], []), files.get(r["id"], []))
        summary.reactions += len(item["reactions"])
        summary.attachments += len(item["attachments"])
        root = root_of(r)
        if root != r["id"] and root in posts:
            posts[root].setdefault("replies", []).append(item)
            summary.replies += 1
        else:
            posts[r["id"]] = item
            order.append(r["id"])
    for mid in order:
        post = posts[mid]
        if direct is not None:
            w.line("direct_post", {"channel_members": direct, **post})
        else:
            w.line("post", {"team": team, "channel": channel, **post})
        summary.posts += 1
