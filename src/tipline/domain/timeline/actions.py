"""Timeline actions: pin and unpin (the only code that writes pins), read-receipt settings, and
the reads of edit history, pins and read positions. See docs/subsystems/messages.md (Edit
history, Pinned messages, Read receipts) and docs/subsystems/conversations.md (System lines).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, event_frame
from tipline.bus.on_commit import Outbox, unit_of_work
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import access_member, require_not_archived
from tipline.domain.messages.access import access_message, require_not_deleted
from tipline.domain.messages.schemas import MessageOut, masked, message_dict
from tipline.domain.moderation.access import hidden_senders
from tipline.domain.timeline import repository as repo
from tipline.domain.timeline.access import require_may_pin
from tipline.domain.timeline.schemas import (
    PinOut,
    PinsOut,
    ReadPosition,
    ReceiptSettings,
    ReceiptsOut,
    RevisionOut,
    RevisionsOut,
)
from tipline.errors import Conflict, NotFound
from tipline.runtime import Runtime

# Pins a conversation keeps at most.
MAX_PINS = 100
# Earlier versions of one message returned at most (the oldest first).
MAX_REVISIONS = 500


async def get_revisions(rt: Runtime, *, user_id: int, message_id: int) -> RevisionsOut:
    """A message's earlier versions, for current members of its conversation."""
    async with rt.engine.connect() as conn:
        access = await access_message(conn, user_id=user_id, message_id=message_id)
        require_not_deleted(access)
        msg = access.message
        if msg["sender_id"] in await hidden_senders(conn, viewer_id=user_id):
            # Someone the reader blocked: no words, as everywhere else (docs/subsystems/moderation.md).
            return RevisionsOut(message_id=message_id, body="", edited_at=msg["edited_at"], revisions=[])
        rows = await repo.revisions(conn, message_id=message_id, limit=MAX_REVISIONS)
    return RevisionsOut(
        message_id=message_id,
        body=msg["body"],
        edited_at=msg["edited_at"],
        revisions=[RevisionOut(body=r["body"], written_at=r["written_at"], replaced_at=r["replaced_at"]) for r in rows],
    )


async def _pin_event(
    conn: AsyncConnection, outbox: Outbox, *, conversation_id: int, event: str, data: dict[str, Any]
) -> None:
    seq = await conv_repo.append_event(conn, conversation_id=conversation_id, event=event, data=data)
    outbox.add(topic_conversation(conversation_id), encode_event(event_frame(event, conversation_id, seq, data)))


async def do_pin(rt: Runtime, *, user_id: int, message_id: int) -> PinOut:
    """Pin a message in its conversation; members see ``message.pinned`` live."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_not_deleted(access)
        require_not_archived(access.conversation)
        require_may_pin(access.conversation)
        cid = int(access.message["conversation_id"])
        if await repo.pin_count(uow.conn, conversation_id=cid) >= MAX_PINS:
            raise Conflict(f"a conversation keeps at most {MAX_PINS} pins: unpin one first", code="too_many_pins")
        row = await repo.add_pin(uow.conn, conversation_id=cid, message_id=message_id, user_id=user_id)
        if row is None:
            raise Conflict("this message is pinned already", code="already_pinned")
        data = {"message_id": message_id, "by": user_id, "pinned_at": row["pinned_at"].isoformat()}
        await _pin_event(uow.conn, uow.outbox, conversation_id=cid, event="message.pinned", data=data)
        return PinOut(message=MessageOut(**message_dict(access.message)), pinned_by=user_id, pinned_at=row["pinned_at"])


async def do_unpin(rt: Runtime, *, user_id: int, message_id: int) -> None:
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_message(uow.conn, user_id=user_id, message_id=message_id, lock_conversation=True)
        require_not_archived(access.conversation)
        require_may_pin(access.conversation)
        cid = int(access.message["conversation_id"])
        if not await repo.remove_pin(uow.conn, conversation_id=cid, message_id=message_id):
            raise NotFound("this message is not pinned", code="not_pinned")
        data = {"message_id": message_id, "by": user_id}
        await _pin_event(uow.conn, uow.outbox, conversation_id=cid, event="message.unpinned", data=data)


async def list_pins(rt: Runtime, *, user_id: int, conversation_id: int) -> PinsOut:
    """A conversation's pinned messages, the newest pin first (members only)."""
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        rows = await repo.list_pins(conn, conversation_id=conversation_id)
        hidden = await hidden_senders(conn, viewer_id=user_id)
    out = []
    for r in rows:
        m = message_dict(r)
        out.append(
            PinOut(
                message=MessageOut(**(masked(m) if m["sender_id"] in hidden else m)),
                pinned_by=r["pinned_by"],
                pinned_at=r["pinned_at"],
            )
        )
    return PinsOut(pins=out)


async def get_receipts(rt: Runtime, *, user_id: int, conversation_id: int) -> ReceiptsOut:
    """Read positions of the members who send receipts (small conversations), and how many
    have seen the last message (any size)."""
    cap = rt.settings.read_receipts_max_members
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        count = await conv_repo.member_count(conn, conversation_id=conversation_id)
        last = await repo.last_message(conn, conversation_id=conversation_id)
        seen = 0
        if last is not None:
            seen = await repo.seen_count(
                conn, conversation_id=conversation_id, seq=last["seq"], sender_id=last["sender_id"]
            )
        rows = await repo.read_positions(conn, conversation_id=conversation_id) if count <= cap else []
    return ReceiptsOut(
        conversation_id=conversation_id,
        member_count=count,
        max_members=cap,
        last_message_seq=None if last is None else last["seq"],
        seen_count=seen,
        positions=[ReadPosition(user_id=r["user_id"], seq=r["last_read_seq"]) for r in rows],
    )


async def get_receipt_settings(rt: Runtime, *, user_id: int) -> ReceiptSettings:
    async with rt.engine.connect() as conn:
        return ReceiptSettings(send_read_receipts=not await repo.receipts_off(conn, user_id=user_id))


async def do_set_receipt_settings(rt: Runtime, *, user_id: int, settings: ReceiptSettings) -> ReceiptSettings:
    """Turn my read receipts on or off. Off: others no longer see my read positions (my own
    unread counts keep working: the positions are still stored)."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        await repo.set_receipts_off(uow.conn, user_id=user_id, off=not settings.send_read_receipts)
    return settings
