"""Logs are JSON lines with request and connection ids, and never carry secrets or message bodies."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.conftest import Server
from tests.helpers import PASSWORD, Ws, capture_logs, create_conversation, is_event, send_http, signup
from tipline.logs import redact


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    with capture_logs() as out:
        yield out


async def test_sign_in_and_send_log_no_secrets_or_bodies(
    api: httpx.AsyncClient, server: Server, captured: io.StringIO
) -> None:
    alice, bob = await signup(api), await signup(api)
    r = await api.post("/auth/signin", json={"email": alice.email, "password": PASSWORD})
    assert r.status_code == 200
    pair = r.json()
    r = await api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    refreshed = r.json()
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    secret_body = f"the launch code is {uuid.uuid4().hex}"
    ws_body = f"whisper {uuid.uuid4().hex}"
    ws = await Ws.open(server.ws_url, bob)
    try:
        assert (await send_http(api, alice, cid, secret_body)).status_code == 201
        await ws.send({"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex, "body": ws_body})
        await ws.expect(is_event("message.created"))
        # A failed sign-in with a token-looking Authorization header is logged too, but not the header.
        await api.get("/me", headers={"Authorization": "Bearer not-a-real-token-but-secret"})
    finally:
        await ws.close()
    await server.rt.batcher.drain()
    text = captured.getvalue()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert lines, "nothing was logged"
    forbidden = [
        PASSWORD,
        pair["access_token"],
        pair["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        alice.token,
        bob.token,
        secret_body,
        ws_body,
        "not-a-real-token-but-secret",
    ]
    for value in forbidden:
        assert value not in text
    # Every HTTP request has its access line with a request id and the route template.
    access = [line for line in lines if line["logger"] == "tipline.access"]
    signin = [line for line in access if line["msg"] == "POST /auth/signin 200"]
    assert len(signin) == 1 and len(signin[0]["request_id"]) == 32
    assert len({line["request_id"] for line in access}) == len(access)
    # Socket lines carry the connection id.
    opened = [line for line in lines if line["msg"] == "websocket open"]
    assert opened and all(len(line["connection_id"]) == 12 for line in opened)


async def test_request_id_is_echoed_and_kept_when_sane(api: httpx.AsyncClient, captured: io.StringIO) -> None:
    r = await api.get("/healthz", headers={"X-Request-ID": "lb-abc-123"})
    assert r.headers["x-request-id"] == "lb-abc-123"
    r = await api.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces" and len(r.headers["x-request-id"]) == 32
    ids = [orjson.loads(line).get("request_id") for line in captured.getvalue().splitlines()]
    assert "lb-abc-123" in ids


def test_redaction_masks_token_shapes() -> None:
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    line = redact(f"auth failed: Authorization: Bearer abcdefgh12345678 token={jwt_like} code=xyz&state=1")
    assert "abcdefgh12345678" not in line and jwt_like not in line and "xyz" not in line
    assert "Bearer [redacted]" in line
