"""WebSocket fuzzing against a real node process: random and mutated frames, huge and binary
frames, floods and half-open connections. The node must answer every bad frame with an error
frame (the socket stays open), close only where the protocol says so, keep serving everyone
else, and log no unhandled exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.helpers import User, Ws, create_conversation, is_event, send_http

from .conftest import LiveNode

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FRAME_TYPES = ["auth", "send", "typing", "presence", "read", "resume", "ping", "pong", "event", "", "SEND"]


def valid_frames(conversation_id: int) -> list[dict[str, Any]]:
    return [
        {"type": "send", "conversation_id": conversation_id, "client_msg_id": uuid.uuid4().hex, "body": "fuzz"},
        {"type": "typing", "conversation_id": conversation_id},
        {"type": "presence", "status": "away"},
        {"type": "read", "conversation_id": conversation_id, "seq": 1},
        {"type": "resume", "since": {str(conversation_id): 0}},
        {"type": "ping", "ref": "r"},
    ]


@st.composite
def mutated_frames(draw: st.DrawFn, conversation_id: int) -> str | bytes:
    base = draw(st.sampled_from(valid_frames(conversation_id)))
    frame: dict[str, Any] = dict(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        action = draw(st.sampled_from(["replace", "drop", "add", "retype"]))
        keys = sorted(frame)
        if action == "replace" and keys:
            frame[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
        elif action == "drop" and keys:
            frame.pop(draw(st.sampled_from(keys)))
        elif action == "add":
            frame[draw(st.text(max_size=12))] = draw(JSON_VALUES)
        else:
            frame["type"] = draw(st.sampled_from(FRAME_TYPES))
    # json, not orjson: integers past 64 bits and infinities are part of the fuzz.
    return json.dumps(frame)


def raw_frames() -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        JSON_VALUES.map(json.dumps),
        st.sampled_from(["{", "[]", "null", '{"type":', '{"type":"send"}', "\x00", '"ping"', "1e999999"]),
    )


@pytest.fixture(scope="module")
async def room(live_node: LiveNode, live_api: httpx.AsyncClient, live_users: list[User]) -> dict[str, Any]:
    fuzzer, observer, _ = live_users
    conversation = await create_conversation(live_api, fuzzer, "group", [observer], name="ws fuzz")
    holder: dict[str, Any] = {"node": live_node, "fuzzer": fuzzer, "observer": observer, "cid": conversation["id"]}
    holder["ws"] = await Ws.open(live_node.ws_url, fuzzer)
    yield holder
    with contextlib.suppress(Exception):
        await holder["ws"].close()


async def still_answers(ws: Ws) -> None:
    """A ping after the fuzzed frame: its pong proves the socket is open and the frame was handled."""
    ref = uuid.uuid4().hex[:8]
    await ws.send({"type": "ping", "ref": ref})
    await ws.expect(lambda f: f.get("type") == "pong" and f.get("ref") == ref, timeout=5)
    ws.buffer.clear()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
async def test_random_and_mutated_frames_keep_the_socket_open(room: dict[str, Any], data: st.DataObject) -> None:
    frame = data.draw(st.one_of(raw_frames(), mutated_frames(room["cid"])))
    ws: Ws = room["ws"]
    try:
        await ws.send(frame)
        await still_answers(ws)
    except ConnectionClosed as exc:  # pragma: no cover - a failure, reported with its close code
        room["ws"] = await Ws.open(room["node"].ws_url, room["fuzzer"])
        pytest.fail(f"the node closed the socket ({exc.rcvd}) after the frame {frame!r}")


async def test_an_oversized_frame_closes_with_1009_and_others_go_on(
    room: dict[str, Any], live_api: httpx.AsyncClient
) -> None:
    node: LiveNode = room["node"]
    victim = await Ws.open(node.ws_url, room["fuzzer"])
    observer = await Ws.open(node.ws_url, room["observer"])
    with contextlib.suppress(ConnectionClosed):
        await victim.send("x" * (4 * 1024 * 1024))
    with pytest.raises(ConnectionClosed) as closed:
        await victim.expect("never", timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    r = await send_http(live_api, room["fuzzer"], room["cid"], "after the oversized frame")
    assert r.status_code == 201, r.text
    await observer.expect(is_event("message.created", body="after the oversized frame"))
    await observer.close()


async def test_a_flood_does_not_stop_the_node(room: dict[str, Any], live_api: httpx.AsyncClient) -> None:
    node: LiveNode = room["node"]
    flooder = await Ws.open(node.ws_url, room["fuzzer"])
    observer = await Ws.open(node.ws_url, room["observer"])
    junk = [json.dumps({"type": "typing", "conversation_id": room["cid"]}), "not json", '{"type":"ping"}', "{}"]
    # Written without reading a single answer: the node must bound what it queues for us.
    with contextlib.suppress(ConnectionClosed):
        for i in range(3000):
            await flooder.conn.send(junk[i % len(junk)])
    r = await send_http(live_api, room["fuzzer"], room["cid"], "after the flood")
    assert r.status_code == 201, r.text
    await observer.expect(is_event("message.created", body="after the flood"), timeout=10)
    await observer.close()
    with contextlib.suppress(Exception):
        await flooder.close()


def _half_open(port: int, stage: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if stage == "partial-request":
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
    elif stage == "partial-frame":
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: tipline.v1\r\n\r\n"
        )
        # A masked text frame header announcing 1,000 bytes, followed by only 3 of them.
        s.sendall(bytes([0x81, 0x80 | 126]) + struct.pack("!H", 1000) + b"\x00\x00\x00\x00abc")
    return s


async def test_half_open_connections_do_not_block_anyone(room: dict[str, Any], live_api: httpx.AsyncClient) -> None:
    node: LiveNode = room["node"]
    port = int(node.base_url.rsplit(":", 1)[1])
    stalled = [_half_open(port, stage) for stage in ("connect-only", "partial-request", "partial-frame") * 20]
    try:
        observer = await Ws.open(node.ws_url, room["observer"])
        r = await send_http(live_api, room["fuzzer"], room["cid"], "with half-open sockets around")
        assert r.status_code == 201, r.text
        await observer.expect(is_event("message.created", body="with half-open sockets around"))
        assert (await live_api.get("/readyz")).status_code == 200
        await observer.close()
    finally:
        for s in stalled:
            # Vanish without a FIN: SO_LINGER 0 sends a reset, as a dropped mobile link would look.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    await asyncio.sleep(0.2)
    assert (await live_api.get("/readyz")).status_code == 200


async def test_no_unhandled_exception_in_the_node_log(room: dict[str, Any]) -> None:
    node: LiveNode = room["node"]
    await still_answers(room["ws"])
    text = node.log_text()
    assert node.alive()
    for marker in ("Traceback", "Exception in ASGI application", "Unhandled", "Task exception was never retrieved"):
        assert marker not in text, text[-4000:]
