"""The hub's local fan-out, unit-tested with the in-memory bus and fake sockets.

Each delivery test runs twice: writing through ASGI ``send_text`` (any server), and writing
encoded frames straight to the transport (``wire``, Tipline's uvicorn protocol), where the
fake parses what it was written as WebSocket frames.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator

import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tipline.bus.base import topic_conversation, topic_user
from tipline.bus.envelope import encode_control, encode_event, encode_sender_event, event_frame
from tipline.bus.memory import MemoryBus
from tipline.gateway.hub import BATCH_MAX_FRAMES, Connection, Hub
from tipline.gateway.wire import text_frame


def parse_frames(data: bytes) -> list[Frame]:
    """Server-to-client frames, parsed by the WebSocket library (it rejects a malformed one)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[Frame] = []

    def run(gen: Generator[None, None, object]) -> object:
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            return stop.value

    while not run(reader.at_eof()):
        frame = run(Frame.parse(reader.read_exact, mask=False))
        assert isinstance(frame, Frame)
        frames.append(frame)
    return frames


class FakeSocket:
    """Records what a socket was sent; ``block`` cleared means the client stopped reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.raw: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.block = asyncio.Event()
        self.block.set()

    # the ASGI path
    async def send_text(self, text: str) -> None:
        await self.block.wait()
        self.sent.append(text)

    # the wire path
    def writable(self) -> bool | None:
        return None if self.closed is not None else self.block.is_set()

    def write(self, frame: bytes) -> None:
        assert self.block.is_set(), "written while paused"
        self.raw.append(frame)
        for parsed in parse_frames(frame):
            assert parsed.opcode is Opcode.TEXT and parsed.fin
            self.sent.append(parsed.data.decode())

    async def wait_writable(self) -> None:
        await self.block.wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def frames(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for text in self.sent:
            frame = orjson.loads(text)
            out.extend(frame["frames"] if frame["type"] == "batch" else [frame])
        return [f for f in out if f["type"] != "ready"]


@pytest.fixture(params=["asgi", "wire"])
def wire(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "wire")


async def make(
    hub: Hub, user_id: int, conversations: list[int], max_queue: int = 100, *, wire: bool = False
) -> tuple[Connection, FakeSocket]:
    sock = FakeSocket()
    conn = Connection(
        user_id=user_id,
        session_id=uuid.uuid4(),
        send_text=sock.send_text,
        closer=sock.close,
        max_queue=max_queue,
        flusher=hub.flusher,
        wire=sock if wire else None,
    )
    hub.register(conn, conversations)
    conn.start('{"type":"ready"}')
    return conn, sock


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_events_reach_subscribers_once_and_coalesce(wire: bool) -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    _, a = await make(hub, 1, [10], wire=wire)
    _, b = await make(hub, 2, [10, 11], wire=wire)
    _, c = await make(hub, 3, [11], wire=wire)
    items = [
        (topic_conversation(10), encode_event(event_frame("message.created", 10, seq, {"n": seq})))
        for seq in range(1, 6)
    ]
    await bus.publish_many(items)
    await settle()
    assert [f["seq"] for f in a.frames()] == [1, 2, 3, 4, 5]
    assert len(a.sent) == 1  # ready and five events, one write
    assert [f["seq"] for f in b.frames()] == [1, 2, 3, 4, 5]
    assert c.frames() == []


async def test_batches_are_capped(wire: bool) -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    _, a = await make(hub, 1, [10], max_queue=10_000, wire=wire)
    n = BATCH_MAX_FRAMES * 2 + 5
    await bus.publish_many([(topic_conversation(10), encode_event(event_frame("x", 10, i, {}))) for i in range(n)])
    for _ in range(20):
        await asyncio.sleep(0)
    assert [f["seq"] for f in a.frames()] == list(range(n))
    assert len(a.sent) == 3


async def test_bus_interest_follows_local_sockets() -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    conn, _ = await make(hub, 1, [10])
    assert bus._topics == {topic_user(1), topic_conversation(10)}
    hub.unregister(conn)
    assert bus._topics == set()


async def test_control_subscribe_unsubscribe_and_revoke(wire: bool) -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    conn, sock = await make(hub, 1, [], wire=wire)
    other, other_sock = await make(hub, 2, [10], wire=wire)
    await bus.publish(
        topic_user(1),
        encode_control(
            {
                "op": "subscribe",
                "conversation_id": 10,
                "user_id": 1,
                "frame": event_frame("conversation.joined", 10, None, {}),
            }
        ),
    )
    assert 10 in conn.conversations
    await bus.publish(
        topic_conversation(10),
        encode_control(
            {
                "op": "unsubscribe",
                "conversation_id": 10,
                "user_id": 1,
                "frame": event_frame("member.removed", 10, 7, {"user_id": 1}),
            }
        ),
    )
    await bus.publish(topic_conversation(10), encode_event(event_frame("message.created", 10, 8, {})))
    await settle()
    assert [f.get("event") for f in sock.frames()] == ["conversation.joined", "member.removed"]
    assert [f.get("seq") for f in other_sock.frames()] == [7, 8]
    await bus.publish(
        topic_user(2), encode_control({"op": "revoke_session", "user_id": 2, "session_id": str(other.session_id)})
    )
    await settle()
    assert other_sock.closed is not None and other_sock.closed[0] == 4001
    assert sock.closed is None


async def test_slow_consumer_closed_only_when_writes_are_stuck(wire: bool) -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    conn, sock = await make(hub, 1, [10], max_queue=5, wire=wire)
    # A burst larger than the queue limit is fine while the socket keeps up.
    await bus.publish_many([(topic_conversation(10), encode_event(event_frame("x", 10, i, {}))) for i in range(20)])
    await settle()
    assert sock.closed is None and len(sock.frames()) == 20
    sock.block.clear()  # the client stops reading: writes hang
    await bus.publish(topic_conversation(10), encode_event(event_frame("x", 10, 21, {})))
    await settle()
    assert conn.sending
    for i in range(6):
        await bus.publish(topic_conversation(10), encode_event(event_frame("x", 10, 22 + i, {})))
    await settle()
    assert sock.closed is not None and sock.closed[0] == 4008


async def test_a_paused_socket_gets_everything_in_order_once_it_reads_again(wire: bool) -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    conn, sock = await make(hub, 1, [10], max_queue=1000, wire=wire)
    await settle()
    sock.block.clear()
    for i in range(50):
        await bus.publish(topic_conversation(10), encode_event(event_frame("x", 10, i, {})))
        await asyncio.sleep(0)
    assert conn.sending and conn.task is not None
    sock.block.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert [f["seq"] for f in sock.frames()] == list(range(50))
    assert conn.task is None and not conn.sending and sock.closed is None


def test_text_frames_parse_at_every_length_class() -> None:
    for n in (0, 1, 125, 126, 65535, 65536, 200_000):
        payload = b"x" * n
        (frame,) = parse_frames(text_frame(payload))
        assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


async def test_sockets_sent_the_same_events_share_one_encoded_frame() -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    _, a = await make(hub, 1, [10], wire=True)
    _, b = await make(hub, 2, [10], wire=True)
    _, c = await make(hub, 3, [10], wire=True)
    await settle()
    await bus.publish_many(
        [(topic_conversation(10), encode_event(event_frame("x", 10, seq, {}))) for seq in range(1, 4)]
    )
    await settle()
    assert a.raw[-1] is b.raw[-1] is c.raw[-1]
    assert [f["seq"] for f in c.frames()] == [1, 2, 3]
    # One socket with an extra frame of its own gets its own write; the others still share.
    conn_a = next(iter(hub.connections_of(1)))
    conn_a.push(b'{"type":"pong","ref":"p"}')
    await bus.publish(topic_conversation(10), encode_event(event_frame("x", 10, 4, {})))
    await settle()
    assert a.raw[-1] is not b.raw[-1] and b.raw[-1] is c.raw[-1]
    assert [f.get("ref") or f.get("seq") for f in a.frames()][-2:] == ["p", 4]


async def test_hidden_sender_is_masked_for_the_blocker_only(wire: bool) -> None:
    bus = MemoryBus()
    hub = Hub(bus)
    await bus.start(hub.handle)
    blocker, a = await make(hub, 1, [10], wire=wire)
    _, b = await make(hub, 2, [10], wire=wire)
    blocker.hidden = frozenset({7})
    frame = event_frame("message.created", 10, 1, {"body": "hello", "mention_ids": [2]})
    await bus.publish(topic_conversation(10), encode_sender_event(7, frame))
    await settle()
    assert a.frames()[0]["data"] == {"body": "", "mention_ids": [], "hidden": True}
    assert b.frames()[0]["data"] == {"body": "hello", "mention_ids": [2]}
    assert a.frames()[0]["seq"] == b.frames()[0]["seq"] == 1
