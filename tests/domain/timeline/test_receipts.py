"""The read-position coalescer on its own: timing and topics, with the in-memory bus."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import orjson

from tipline.bus.base import topic_conversation, topic_user
from tipline.domain.timeline.receipts import publish_read
from tipline.runtime import Runtime


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], float]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        loop = asyncio.get_running_loop()
        body = payload.removeprefix(b"E")
        self.sent.append((topic, orjson.loads(body), loop.time()))


class FakeRuntime:
    """What the coalescer uses of a Runtime: its settings and its bus."""

    def __init__(self, interval: float, bus: Recorder) -> None:
        self.settings = SimpleNamespace(read_receipts_interval_s=interval)
        self.bus = bus


def runtime(interval: float) -> tuple[Runtime, Recorder]:
    bus = Recorder()
    return cast(Runtime, FakeRuntime(interval, bus)), bus


async def test_first_move_goes_out_at_once_and_the_rest_fold_into_one() -> None:
    rt, bus = runtime(0.3)
    start = asyncio.get_running_loop().time()
    for seq in (3, 4, 5, 6):
        await publish_read(rt, user_id=1, conversation_id=9, seq=seq, private=False)
    assert [(t, f["seq"]) for t, f, _ in bus.sent] == [(topic_conversation(9), 3)]
    await asyncio.sleep(0.45)
    assert [f["seq"] for _, f, _ in bus.sent] == [3, 6]
    assert bus.sent[1][2] - start >= 0.29
    # Another member or conversation has its own slot.
    await publish_read(rt, user_id=2, conversation_id=9, seq=6, private=False)
    await publish_read(rt, user_id=1, conversation_id=8, seq=1, private=False)
    assert [(f["user_id"], f["conversation_id"], f["seq"]) for _, f, _ in bus.sent[2:]] == [(2, 9, 6), (1, 8, 1)]


async def test_private_positions_go_to_the_readers_own_sockets() -> None:
    rt, bus = runtime(0.0)
    await publish_read(rt, user_id=5, conversation_id=9, seq=2, private=True)
    assert [t for t, _, _ in bus.sent] == [topic_user(5)]
    assert bus.sent[0][1] == {"type": "read", "conversation_id": 9, "user_id": 5, "seq": 2}
