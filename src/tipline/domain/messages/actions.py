"""Message actions: send (through the group-commit batcher), edit, delete, react, history and
replay. The only code that writes messages and reactions. See docs/subsystems/messages.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import RowMapping, func
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, encode_sender_event, event_frame
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import access_member, require_not_archived
from tipline.domain.messages import repository as repo
from tipline.domain.messages.access import (
    access_message,
    require_author,
    require_author_or_manager,
    require_not_deleted,
)
from tipline.domain.messages.schemas import (
    Ack,
    HistoryPage,
    MessageOut,
    ReplayOut,
    mentioned_handles,
    message_dict,
)
from tipline.domain.moderation.access import hidden_senders, unblocked_mentions
from tipline.errors import Conflict, Invalid, Unavailable
from tipline.runtime import Runtime

MAX_EMOJI_PER_MESSAGE = 50


def check_body(rt: Runtime, body: str) -> str:
    if not body.strip():
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


async def do_send_message(
    rt: Runtime, *, user_id: int, conversation_id: int, client_msg_id: str, body: str, reply_to: int | None
) -> Ack:
    """Send a message; returns once it has committed. Idempotent per ``client_msg_id``.

    The batcher groups concurrent sends into one transaction (group commit); each caller still
    gets its own ack or error, and nothing is acknowledged before its commit.
    """
    check_body(rt, body)
    check_accepting(rt)
    return await rt.batcher.submit(
        user_id=user_id, conversation_id=conversation_id, client_msg_id=client_msg_id, body=body, reply_to=reply_to
    )


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
        await _durable(uow, conversation_id=cid, event="message.edited", data=data, sender_id=user_id)
        return await _out(uow.conn, row)


async def do_delete_message(rt: Runtime, *, user_id: int, message_id: int) -> MessageOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_author_or_manager(access, user_id)
        require_not_deleted(access)
        cid = access.message["conversation_id"]
        await repo.delete_reactions(uow.conn, message_id=message_id)
        # A tombstone: the row (and its seq) stays so history and replay keep their shape.
        row = await repo.update_message(
            uow.conn, message_id=message_id, values={"body": "", "mention_ids": [], "deleted_at": func.now()}
        )
        data = {"id": message_id, "deleted_at": row["deleted_at"], "by": user_id}
        await _durable(uow, conversation_id=cid, event="message.deleted", data=data)
        return await _out(uow.conn, row)


async def do_react(rt: Runtime, *, user_id: int, message_id: int, emoji: str, add: bool) -> MessageOut:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_not_deleted(access)
        require_not_archived(access.conversation)
        cid = access.message["conversation_id"]
        if add:
            if await repo.distinct_emoji_count(uow.conn, message_id=message_id) >= MAX_EMOJI_PER_MESSAGE:
                raise Conflict("this message has too many different reactions", code="too_many_reactions")
            changed = await repo.add_reaction(uow.conn, message_id=message_id, user_id=user_id, emoji=emoji)
        else:
            changed = await repo.remove_reaction(uow.conn, message_id=message_id, user_id=user_id, emoji=emoji)
        if changed:
            count = await repo.reaction_count(uow.conn, message_id=message_id, emoji=emoji)
            data = {"message_id": message_id, "emoji": emoji, "user_id": user_id, "count": count}
            await _durable(uow, conversation_id=cid, event="reaction.added" if add else "reaction.removed", data=data)
        return await _out(uow.conn, access.message)


async def _durable(
    uow: UnitOfWork, *, conversation_id: int, event: str, data: dict[str, Any], sender_id: int | None = None
) -> None:
    seq = await conv_repo.append_event(uow.conn, conversation_id=conversation_id, event=event, data=_jsonable(data))
    frame = event_frame(event, conversation_id, seq, data)
    # An event carrying someone's words is tagged with them, for people who blocked them.
    payload = encode_event(frame) if sender_id is None else encode_sender_event(sender_id, frame)
    uow.outbox.add(topic_conversation(conversation_id), payload)


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
    return [
        message_dict(
            r, reactions=reacts.get(r["id"]), reply_count=counts.get(r["id"], 0), hidden=r["sender_id"] in hidden
        )
        for r in rows
    ]


async def _out(conn: AsyncConnection, row: RowMapping, *, hidden: frozenset[int] = frozenset()) -> MessageOut:
    fresh = await repo.message(conn, message_id=row["id"])
    assert fresh is not None
    return MessageOut(**(await _decorate(conn, [fresh], hidden=hidden))[0])


def _unless_hidden(event: RowMapping, hidden: frozenset[int]) -> dict[str, Any]:
    """An edit's words, unless its author is someone the reader blocked."""
    data: dict[str, Any] = event["data"]
    if event["event"] == "message.edited" and data.get("sender_id") in hidden:
        return {**data, "body": "", "mention_ids": [], "hidden": True}
    return data


# --- reads ------------------------------------------------------------------------------------


async def get_message(rt: Runtime, *, user_id: int, message_id: int) -> MessageOut:
    async with rt.engine.connect() as conn:
        access = await access_message(conn, user_id=user_id, message_id=message_id)
        return await _out(conn, access.message, hidden=await hidden_senders(conn, viewer_id=user_id))


async def get_history(
    rt: Runtime, *, user_id: int, conversation_id: int, before: int | None, after: int | None, limit: int
) -> HistoryPage:
    limit = max(1, min(limit, rt.settings.history_page_max))
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        rows = await repo.history(conn, conversation_id=conversation_id, before=before, after=after, limit=limit + 1)
        has_more = len(rows) > limit
        if has_more:
            # One extra row was read to know whether another page exists; drop it on the far side.
            rows = rows[:limit] if after is not None else rows[1:]
        hidden = await hidden_senders(conn, viewer_id=user_id)
        return HistoryPage(
            messages=[MessageOut(**m) for m in await _decorate(conn, rows, hidden=hidden)], has_more=has_more
        )


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
    membership changes themselves, so a client applying them in order converges.
    """
    async with rt.engine.connect() as conn:
        access = await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        last_seq = int(access.conversation["last_seq"])
        since = min(max(since, 0), last_seq)
        if last_seq - since > rt.settings.replay_limit:
            return ReplayOut(conversation_id=conversation_id, last_seq=last_seq, reload=True, events=[])
        limit = rt.settings.replay_limit
        msgs = await repo.messages_since(conn, conversation_id=conversation_id, since=since, limit=limit)
        hidden = await hidden_senders(conn, viewer_id=user_id)
        decorated = await _decorate(conn, msgs, hidden=hidden)
        others = await conv_repo.events_since(conn, conversation_id=conversation_id, since=since, limit=limit)
    frames = [event_frame("message.created", conversation_id, m["seq"], m) for m in decorated]
    frames += [event_frame(e["event"], conversation_id, e["seq"], _unless_hidden(e, hidden)) for e in others]
    frames.sort(key=lambda f: f["seq"])
    # Both sources are read in one snapshot-free pass; trim to what is known to be complete.
    frames = [f for f in frames if f["seq"] <= last_seq]
    return ReplayOut(conversation_id=conversation_id, last_seq=last_seq, reload=False, events=frames)
