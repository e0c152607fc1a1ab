"""Bad frames over the WebSocket: each gets an ``error`` frame, stores nothing, and the socket
stays open and keeps working; only a frame over the size limit (1009) or one that is not
UTF-8 (1007, the WebSocket protocol's own rule) ends it, and the server stays healthy.

Since every bad frame must leave the database as it was, the tests share one scene built once
for the module: this module replaces conftest's per-test TRUNCATE by one at the end of the
module (``http`` below).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import Server, reset_database
from tests.helpers import User, Ws, create_conversation, send_http, signup
from tipline.domain.tables import __all__ as TABLES

GHOST = 2**62  # a valid id that names nothing
DIGEST = "SELECT " + ", ".join(
    f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t)" for table in TABLES
)


@dataclass
class Scene:
    me: User
    cid: int
    mid: int
    their_cid: int  # a private channel of someone else's
    their_mid: int


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Replaces conftest's per-test TRUNCATE for this module; ``http`` truncates once at its end."""


@pytest.fixture(scope="module")
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client
    await reset_database(server.database_url, server)


@pytest.fixture(scope="module")
async def scene(http: httpx.AsyncClient) -> Scene:
    me, other = await signup(http), await signup(http)
    cid = (await create_conversation(http, me, "group", [other]))["id"]
    mid = (await send_http(http, me, cid, "hello")).json()["message_id"]
    their_cid = (await create_conversation(http, other, "private"))["id"]
    their_mid = (await send_http(http, other, their_cid, "private note")).json()["message_id"]
    return Scene(me, cid, mid, their_cid, their_mid)


@pytest.fixture(scope="module")
async def db(server: Server) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(server.database_url)
    yield conn
    await conn.close()


async def digest(server: Server, db: asyncpg.Connection) -> Any:
    await server.node.batcher.drain()
    return await db.fetchrow(DIGEST)


@pytest.fixture
async def ws(server: Server, http: httpx.AsyncClient, scene: Scene) -> AsyncIterator[Ws]:
    sock = await Ws.open(server.ws_url, scene.me)
    yield sock
    await sock.close()
    assert (await http.get("/healthz")).status_code == 200


def send(s: Scene, **changes: Any) -> dict[str, Any]:
    """A valid send frame, changed; a change to ``...`` removes the field."""
    frame = {"type": "send", "conversation_id": s.cid, "client_msg_id": uuid.uuid4().hex, "body": "hi", "ref": "bad"}
    frame.update(changes)
    return {k: v for k, v in frame.items() if v is not ...}


def frame(kind: str, s: Scene, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ref": "bad", **{k: v for k, v in fields.items() if v is not ...}}


Make = Callable[[Scene], "str | bytes | dict[str, Any]"]
INVALID = "invalid_frame"
BAD_FRAMES: list[tuple[str, Make, str]] = [
    # Not JSON, or not a JSON object.
    ("invalid_json", lambda s: "{", "invalid_json"),
    ("trailing_garbage", lambda s: '{"type": "ping"} and more', "invalid_json"),
    ("plain_text", lambda s: "hello", "invalid_json"),
    ("empty_text", lambda s: "", "invalid_json"),
    ("single_quotes", lambda s: "{'type': 'ping'}", "invalid_json"),
    ("nan", lambda s: '{"type": "read", "conversation_id": NaN, "seq": 0}', "invalid_json"),
    ("nested_too_deep", lambda s: "[" * 10_000 + "]" * 10_000, "invalid_json"),
    (
        "lone_surrogate_escape",
        lambda s: orjson.dumps(send(s, body="@")).decode().replace("@", "\\ud800"),
        "invalid_json",
    ),
    ("array", lambda s: "[]", INVALID),
    ("array_of_frames", lambda s: '[{"type": "ping"}]', INVALID),
    ("string", lambda s: '"ping"', INVALID),
    ("number", lambda s: "42", INVALID),
    ("null", lambda s: "null", INVALID),
    ("true", lambda s: "true", INVALID),
    # The frame type.
    ("no_type", lambda s: {"ref": "bad"}, "unknown_frame_type"),
    ("unknown_type", lambda s: frame("nope", s), "unknown_frame_type"),
    ("type_upper_case", lambda s: frame("SEND", s), "unknown_frame_type"),
    ("type_null", lambda s: {"type": None, "ref": "bad"}, "unknown_frame_type"),
    ("type_number", lambda s: {"type": 5, "ref": "bad"}, "unknown_frame_type"),
    ("type_list", lambda s: {"type": ["send"], "ref": "bad"}, "unknown_frame_type"),
    ("type_object", lambda s: {"type": {"send": 1}, "ref": "bad"}, "unknown_frame_type"),
    ("server_frame_type", lambda s: frame("ack", s), "unknown_frame_type"),
    # send: missing fields, wrong types, out of range, extra fields.
    ("send_no_body", lambda s: send(s, body=...), INVALID),
    ("send_no_client_msg_id", lambda s: send(s, client_msg_id=...), INVALID),
    ("send_no_conversation", lambda s: send(s, conversation_id=...), INVALID),
    ("send_conversation_text", lambda s: send(s, conversation_id="abc"), INVALID),
    ("send_conversation_float", lambda s: send(s, conversation_id=1.5), INVALID),
    ("send_conversation_negative", lambda s: send(s, conversation_id=-1), INVALID),
    ("send_conversation_zero", lambda s: send(s, conversation_id=0), INVALID),
    ("send_conversation_over_bigint", lambda s: send(s, conversation_id=2**63), INVALID),
    (
        "send_conversation_2e70",
        lambda s: f'{{"type": "send", "conversation_id": {2**70}, "client_msg_id": "k", "body": "b"}}',
        INVALID,
    ),
    ("send_conversation_list", lambda s: send(s, conversation_id=[s.cid]), INVALID),
    ("send_body_number", lambda s: send(s, body=123), INVALID),
    ("send_body_null", lambda s: send(s, body=None), INVALID),
    ("send_body_object", lambda s: send(s, body={"text": "hi"}), INVALID),
    ("send_body_nul", lambda s: send(s, body="a\x00b"), INVALID),
    ("send_body_empty", lambda s: send(s, body=""), "body_empty"),
    ("send_body_blank", lambda s: send(s, body=" \n\t "), "body_empty"),
    ("send_body_4001", lambda s: send(s, body="x" * 4001), "body_too_long"),
    ("send_body_4001_astral", lambda s: send(s, body="😀" * 4001), "body_too_long"),
    ("send_client_msg_id_empty", lambda s: send(s, client_msg_id=""), INVALID),
    ("send_client_msg_id_space", lambda s: send(s, client_msg_id="a b"), INVALID),
    ("send_client_msg_id_65", lambda s: send(s, client_msg_id="k" * 65), INVALID),
    ("send_client_msg_id_nul", lambda s: send(s, client_msg_id="k\x00"), INVALID),
    ("send_client_msg_id_number", lambda s: send(s, client_msg_id=7), INVALID),
    ("send_reply_to_text", lambda s: send(s, reply_to="x"), INVALID),
    ("send_reply_to_negative", lambda s: send(s, reply_to=-5), INVALID),
    ("send_reply_to_over_bigint", lambda s: send(s, reply_to=2**63), INVALID),
    ("send_extra_field", lambda s: send(s, sender_id=1), INVALID),
    ("send_ref_number", lambda s: send(s, ref=5), INVALID),
    ("send_ref_65", lambda s: send(s, ref="r" * 65), INVALID),
    # send: ids that name nothing, or someone else's things.
    ("send_to_nowhere", lambda s: send(s, conversation_id=GHOST), "not_found"),
    ("send_to_theirs", lambda s: send(s, conversation_id=s.their_cid), "not_found"),
    ("send_reply_to_nowhere", lambda s: send(s, reply_to=GHOST), "reply_not_found"),
    ("send_reply_to_theirs", lambda s: send(s, reply_to=s.their_mid), "reply_not_found"),
    # typing, read, resume, presence, auth.
    ("typing_no_conversation", lambda s: frame("typing", s), INVALID),
    ("typing_conversation_text", lambda s: frame("typing", s, conversation_id="x"), INVALID),
    ("typing_nowhere", lambda s: frame("typing", s, conversation_id=GHOST), "not_found"),
    ("typing_theirs", lambda s: frame("typing", s, conversation_id=s.their_cid), "not_found"),
    ("read_no_seq", lambda s: frame("read", s, conversation_id=s.cid), INVALID),
    ("read_seq_negative", lambda s: frame("read", s, conversation_id=s.cid, seq=-1), INVALID),
    ("read_seq_text", lambda s: frame("read", s, conversation_id=s.cid, seq="one"), INVALID),
    ("read_seq_over_bigint", lambda s: frame("read", s, conversation_id=s.cid, seq=2**63), INVALID),
    ("read_nowhere", lambda s: frame("read", s, conversation_id=GHOST, seq=1), "not_found"),
    ("read_theirs", lambda s: frame("read", s, conversation_id=s.their_cid, seq=1), "not_found"),
    ("resume_no_since", lambda s: frame("resume", s), INVALID),
    ("resume_since_list", lambda s: frame("resume", s, since=[s.cid]), INVALID),
    ("resume_since_null", lambda s: frame("resume", s, since=None), INVALID),
    ("resume_key_text", lambda s: frame("resume", s, since={"abc": 0}), INVALID),
    ("resume_key_negative", lambda s: frame("resume", s, since={"-1": 0}), INVALID),
    ("resume_key_over_bigint", lambda s: frame("resume", s, since={str(2**63): 0}), INVALID),
    ("resume_seq_negative", lambda s: frame("resume", s, since={str(s.cid): -1}), INVALID),
    ("resume_seq_text", lambda s: frame("resume", s, since={str(s.cid): "zero"}), INVALID),
    ("resume_1001_conversations", lambda s: frame("resume", s, since={str(i): 0 for i in range(1, 1002)}), INVALID),
    ("resume_nowhere", lambda s: frame("resume", s, since={str(GHOST): 0}), "not_found"),
    ("resume_theirs", lambda s: frame("resume", s, since={str(s.their_cid): 0}), "not_found"),
    ("presence_bad_status", lambda s: frame("presence", s, status="busy"), INVALID),
    ("presence_no_status", lambda s: frame("presence", s), INVALID),
    ("ping_extra_field", lambda s: frame("ping", s, extra=1), INVALID),
    ("auth_again", lambda s: frame("auth", s, token="x"), "already_authenticated"),
    # Binary frames.
    ("binary_garbage", lambda s: b"\x00\xff\xfe", "binary_not_supported"),
    ("binary_json", lambda s: b'{"type": "ping"}', "binary_not_supported"),
]


@pytest.mark.parametrize(("bad", "code"), [pytest.param(m, c, id=name) for name, m, c in BAD_FRAMES])
async def test_a_bad_frame_gets_an_error_and_the_socket_goes_on(
    server: Server, http: httpx.AsyncClient, db: asyncpg.Connection, scene: Scene, ws: Ws, bad: Make, code: str
) -> None:
    before = await digest(server, db)
    await ws.send(bad(scene))
    error = await ws.expect("error")
    assert error["code"] == code, error
    # Still open, and nothing was stored.
    await ws.send({"type": "ping", "ref": "after"})
    await ws.expect(lambda f: f.get("type") == "pong" and f.get("ref") == "after")
    assert not [f for f in ws.buffer if f.get("type") == "ack"]
    assert await digest(server, db) == before
    # Still working: a valid send is acked and stored.
    await ws.send(send(scene, ref="good", body="after a bad frame"))
    ack = await ws.expect("ack")
    assert ack["ref"] == "good" and ack["conversation_id"] == scene.cid
    r = await http.get(f"/messages/{ack['message_id']}", headers=scene.me.headers)
    assert r.status_code == 200 and r.json()["body"] == "after a bad frame"


async def test_many_bad_frames_in_a_row(server: Server, db: asyncpg.Connection, scene: Scene, ws: Ws) -> None:
    before = await digest(server, db)
    burst = [bad(scene) for _, bad, _ in BAD_FRAMES * 3]
    for bad in burst:
        await ws.send(bad)
    await ws.send({"type": "ping", "ref": "end"})
    await ws.expect(lambda f: f.get("type") == "pong" and f.get("ref") == "end", timeout=15)
    # One error frame for each bad frame (those that go through the send batcher come later).
    errors: list[dict[str, Any]] = []
    for _ in range(50):
        errors += [f for f in await ws.collect(0.1) if f.get("type") == "error"]
        if len(errors) >= len(burst):
            break
    assert len(errors) == len(burst)
    assert await digest(server, db) == before
    await ws.send(send(scene, ref="good"))
    assert (await ws.expect("ack"))["ref"] == "good"


async def closed_with(ws: Ws) -> int | None:
    await asyncio.wait_for(ws.conn.wait_closed(), 5)
    return ws.conn.close_code


@pytest.mark.parametrize("how", ["plain_text", "json_with_a_long_body"])
async def test_a_frame_over_the_limit_closes_with_1009(
    server: Server, http: httpx.AsyncClient, db: asyncpg.Connection, scene: Scene, ws: Ws, how: str
) -> None:
    limit = server.rt.settings.ws_max_frame_bytes
    before = await digest(server, db)
    if how == "plain_text":
        await ws.send("x" * (limit + 1))
    else:
        frame = orjson.dumps(send(scene, body=""))
        await ws.send(orjson.dumps(send(scene, body="x" * (limit + 1 - len(frame)))).decode())
    assert await closed_with(ws) == 1009
    assert await digest(server, db) == before
    assert (await http.get("/healthz")).status_code == 200
    again = await Ws.open(server.ws_url, scene.me)
    try:
        await again.send(send(scene, ref="good"))
        assert (await again.expect("ack"))["ref"] == "good"
    finally:
        await again.close()


async def test_a_frame_of_exactly_the_limit_is_read(server: Server, scene: Scene, ws: Ws) -> None:
    limit = server.rt.settings.ws_max_frame_bytes
    frame = orjson.dumps(send(scene, body=""))
    text = orjson.dumps(send(scene, body="x" * (limit - len(frame)))).decode()
    assert len(text.encode()) == limit
    await ws.send(text)
    assert (await ws.expect("error"))["code"] == "body_too_long"
    await ws.send({"type": "ping", "ref": "after"})
    await ws.expect("pong")


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(
    server: Server, http: httpx.AsyncClient, db: asyncpg.Connection, scene: Scene, ws: Ws
) -> None:
    before = await digest(server, db)
    raw = orjson.dumps(send(scene, body="@")).replace(b"@", b"\xed\xa0\x80")  # "\ud800" as if it were UTF-8
    await ws.conn.send(raw, text=True)
    assert await closed_with(ws) == 1007
    assert await digest(server, db) == before
    assert (await http.get("/healthz")).status_code == 200


FIRST_FRAMES: list[tuple[str, str | bytes | dict[str, Any], str]] = [
    ("invalid_json", "{", "invalid_json"),
    ("binary", b"\x00\x01", "invalid_json"),
    ("array", "[]", "invalid_frame"),
    ("ping_before_auth", {"type": "ping"}, "auth_required"),
    ("send_before_auth", {"type": "send", "conversation_id": 1, "client_msg_id": "k", "body": "b"}, "auth_required"),
    ("auth_without_token", {"type": "auth"}, "invalid_frame"),
    ("auth_empty_token", {"type": "auth", "token": ""}, "invalid_frame"),
    ("auth_token_number", {"type": "auth", "token": 5}, "invalid_frame"),
    ("auth_garbage_token", {"type": "auth", "token": "not.a.token"}, "invalid_token"),
    ("auth_token_with_nul", {"type": "auth", "token": "a\x00b"}, "invalid_token"),
    ("auth_extra_field", {"type": "auth", "token": "x", "user_id": 1}, "invalid_frame"),
    ("auth_token_4097", {"type": "auth", "token": "t" * 4097}, "invalid_frame"),
]


@pytest.mark.parametrize(("first", "code"), [pytest.param(f, c, id=name) for name, f, c in FIRST_FRAMES])
async def test_a_bad_first_frame_is_refused_with_4001(
    server: Server, http: httpx.AsyncClient, first: str | bytes | dict[str, Any], code: str
) -> None:
    ws = await Ws.open(server.ws_url, None)
    try:
        await ws.send(first)
        assert (await ws.expect("error"))["code"] == code
        assert await closed_with(ws) == 4001
    finally:
        await ws.close()
    assert (await http.get("/healthz")).status_code == 200
