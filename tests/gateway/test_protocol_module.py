"""The WebSocket protocol lives in one module (tipline.protocol), and everything that
restates it is checked against it: the web client's generated constants, docs/protocol.md, and
(in tests/helpers.py, for every frame any test socket receives) the server frames themselves.
The web client's frame types are generated from /openapi.json (tests/test_generated_client.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tipline.protocol import (
    CLIENT_FRAME_TYPES,
    EVENT_NAMES,
    SERVER_FRAME,
    SERVER_FRAME_TYPES,
    Close,
    frame_schemas,
    web_constants_ts,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()


def test_the_web_clients_constants_are_generated_from_the_module() -> None:
    committed = (ROOT / "web" / "src" / "realtime" / "protocol.gen.ts").read_text()
    assert committed == web_constants_ts(), "run `cd web && npm run gen:api` and commit the result"


def test_protocol_md_has_a_section_for_every_frame_in_both_directions() -> None:
    client = DOC[DOC.index("## Client frames") : DOC.index("## Server frames")]
    server = DOC[DOC.index("## Server frames") : DOC.index("## Events")]
    for kind in CLIENT_FRAME_TYPES:
        if kind != "auth":  # described under "Authenticate"
            assert f"### `{kind}`" in client, kind
    assert "`auth`" in DOC[DOC.index("### 2. Authenticate") : DOC.index("### 3. `ready`")]
    for kind in SERVER_FRAME_TYPES:
        if kind != "ready":  # described under "Connecting"
            assert f"### `{kind}`" in server, kind
    assert "### 3. `ready`" in DOC


def test_protocol_md_lists_every_event_and_close_code() -> None:
    events = DOC[DOC.index("## Events") : DOC.index("## seq, gaps and resume")]
    for name in EVENT_NAMES:
        assert f"| `{name}` |" in events, name
    listed = set(re.findall(r"^\| `?(\w+)`? \|", DOC[DOC.index("## Close codes") :], re.M))
    for name, code in vars(Close).items():
        if isinstance(code, int):
            assert str(code) in listed, f"close code {code} ({name}) is not in docs/protocol.md"


def test_every_frame_schema_is_published_and_refers_only_to_published_schemas() -> None:
    schemas = frame_schemas()
    assert {"ClientFrame", "ServerFrame", "ReadyFrameOut", "SyncFrameOut", "TipEventData"} <= set(schemas)
    refs = set(re.findall(r"#/components/schemas/(\w+)", str(schemas)))
    # What the frames borrow from the HTTP API must exist there (the OpenAPI document holds both).
    assert refs - set(schemas) == {"MessageOut", "PreviewOut", "TotalOut"}


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "pong", "ref": None, "extra": 1},  # a field the protocol does not define
        {"type": "event", "event": "message.exploded", "conversation_id": 1, "seq": 2, "data": {}},
        {"type": "event", "event": "member.left", "conversation_id": 1, "seq": None, "data": {"user_id": 1, "by": 1}},
        {"type": "batch", "frames": [{"type": "batch", "frames": []}]},  # batches are never nested
        {"type": "sync", "conversations": [{"id": 1}]},
    ],
)
def test_the_frame_check_refuses_what_the_protocol_does_not_define(frame: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SERVER_FRAME.validate_python(frame)
