"""Read-position events, coalesced: at most one per member per conversation per
``READ_RECEIPTS_INTERVAL_S`` on this node, carrying the newest position (docs/subsystems/messages.md,
Read receipts).

A reader scrolling through a busy conversation moves their marker many times a second; each
move is stored at once (unread counts use it), but others need only the latest position. The
first move in a quiet period goes out immediately; later ones within the interval are folded
into one event sent when it ends. Nothing here is on the send path.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field

from tipline.bus.base import topic_conversation, topic_user
from tipline.bus.envelope import encode_event
from tipline.runtime import Runtime


@dataclass
class _Slot:
    sent_at: float = 0.0
    pending: int | None = None
    private: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


# Per runtime (a test process builds many): (user, conversation) -> what was last sent and what waits.
_runtimes: dict[int, tuple[weakref.ref[Runtime], dict[tuple[int, int], _Slot]]] = {}


def _slots_of(rt: Runtime) -> dict[tuple[int, int], _Slot]:
    held = _runtimes.get(id(rt))
    if held is None or held[0]() is not rt:
        # A new runtime (maybe at a dead one's address): nothing was sent from it yet.
        held = (weakref.ref(rt), {})
        _runtimes[id(rt)] = held
        for key in [k for k, (ref, _) in _runtimes.items() if ref() is None]:
            del _runtimes[key]
    return held[1]


async def publish_read(rt: Runtime, *, user_id: int, conversation_id: int, seq: int, private: bool) -> None:
    """Tell the conversation (or, when ``private``, only the reader's own sockets) how far the
    reader has read, now or at the end of the current interval."""
    slots = _slots_of(rt)
    slot = slots.setdefault((user_id, conversation_id), _Slot())
    slot.private = private
    wait = slot.sent_at + rt.settings.read_receipts_interval_s - time.monotonic()
    if wait <= 0 and slot.task is None:
        await _send(rt, slot, user_id=user_id, conversation_id=conversation_id, seq=seq)
        return
    slot.pending = max(seq, slot.pending or 0)
    if slot.task is None:
        slot.task = asyncio.create_task(_later(rt, slot, user_id, conversation_id, max(wait, 0.0)))


async def _later(rt: Runtime, slot: _Slot, user_id: int, conversation_id: int, wait: float) -> None:
    await asyncio.sleep(wait)
    slot.task = None
    if slot.pending is not None:
        seq, slot.pending = slot.pending, None
        await _send(rt, slot, user_id=user_id, conversation_id=conversation_id, seq=seq)


async def _send(rt: Runtime, slot: _Slot, *, user_id: int, conversation_id: int, seq: int) -> None:
    slot.sent_at = time.monotonic()
    slots = _slots_of(rt)
    if len(slots) > 100_000:
        _prune(slots)
    frame = {"type": "read", "conversation_id": conversation_id, "user_id": user_id, "seq": seq}
    topic = topic_user(user_id) if slot.private else topic_conversation(conversation_id)
    await rt.bus.publish(topic, encode_event(frame))


def _prune(slots: dict[tuple[int, int], _Slot]) -> None:
    """Forget slots idle for a minute (their next event goes out at once, as it should)."""
    old = time.monotonic() - 60
    for key in [k for k, s in slots.items() if s.task is None and s.sent_at < old]:
        del slots[key]
