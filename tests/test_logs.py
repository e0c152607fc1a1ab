"""Logs are JSON lines with request and connection ids, and never carry secrets or message bodies."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Server
from tests.helpers import PASSWORD, Ws, capture_logs, create_conversation, is_event, send_http, signup
from tipline.config import Settings
from tipline.logs import REQUEST_ID, DevFormatter, JsonFormatter, banner, choose_format, configure, redact


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
    await server.node.batcher.drain()
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


# --- `tipline dev` in a terminal: readable lines and a banner; JSON everywhere else ----------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _settings(monkeypatch: pytest.MonkeyPatch, **values: Any) -> Settings:
    for name in ("LOG_FORMAT", "HOST", "PORT", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    return Settings(_env_file=None, **values)


def test_dev_in_a_terminal_logs_readable_lines_and_json_stays_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    unset = _settings(monkeypatch)
    assert choose_format(unset, dev=True, stream=_Terminal()) == "dev"
    # Piped or redirected (a log collector, `| tee`), `tipline dev` keeps JSON; `serve` always does.
    assert choose_format(unset, dev=True, stream=io.StringIO()) == "json"
    assert choose_format(unset, dev=False, stream=_Terminal()) == "json"
    assert choose_format(unset, dev=False, stream=io.StringIO()) == "json"
    # A LOG_FORMAT the operator set wins, in a terminal too.
    assert choose_format(_settings(monkeypatch, log_format="json"), dev=True, stream=_Terminal()) == "json"
    assert choose_format(_settings(monkeypatch, log_format="text"), dev=False, stream=io.StringIO()) == "text"
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert choose_format(Settings(_env_file=None), dev=True, stream=_Terminal()) == "json"


def test_dev_in_a_real_pseudo_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    primary, secondary = os.openpty()
    try:
        with os.fdopen(secondary, "w", closefd=False) as tty:
            assert choose_format(_settings(monkeypatch), dev=True, stream=tty) == "dev"
    finally:
        os.close(primary)
        os.close(secondary)


def test_configure_installs_the_chosen_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        monkeypatch.setattr(sys, "stderr", _Terminal())
        assert configure(_settings(monkeypatch), dev=True) == "dev"
        assert isinstance(root.handlers[0].formatter, DevFormatter)
        monkeypatch.setattr(sys, "stderr", io.StringIO())
        assert configure(_settings(monkeypatch), dev=True) == "json"
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_dev_lines_are_short_readable_and_redacted() -> None:
    record = logging.LogRecord(
        "tipline.gateway.endpoint", logging.WARNING, __file__, 1, "refused %s", ("Bearer abcdefgh12345678",), None
    )
    token = REQUEST_ID.set("r1")
    try:
        line = DevFormatter(colour=False).format(record)
    finally:
        REQUEST_ID.reset(token)
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING gateway\.endpoint\s+refused Bearer \[redacted\]  \[req=r1\]", line)
    assert "abcdefgh12345678" not in line and not line.startswith("{")
    coloured = DevFormatter().format(record)
    assert coloured.startswith("\x1b[33m") and coloured.endswith("\x1b[0m")


def test_banner_names_the_address_to_open(monkeypatch: pytest.MonkeyPatch) -> None:
    text = banner(_settings(monkeypatch), data=".tipline (embedded PostgreSQL)")
    lines = text.strip().splitlines()
    assert "Tipline is running" in lines[1]
    assert re.search(r"^\s+Open\s+http://127\.0\.0\.1:8000$", text, re.M)
    assert re.search(r"^\s+API docs\s+http://127\.0\.0\.1:8000/docs$", text, re.M)
    assert re.search(r"^\s+Data\s+\.tipline \(embedded PostgreSQL\)$", text, re.M)
    assert "Ctrl-C" in text
    # Listening on every interface: open it on this machine's loopback address, on the real port.
    assert "Open      http://127.0.0.1:9001" in banner(_settings(monkeypatch, host="0.0.0.0", port=9001))
    # A PUBLIC_URL the operator set is where people open it.
    custom = banner(_settings(monkeypatch, public_url="https://chat.example.test/"))
    assert "https://chat.example.test\n" in custom and "https://chat.example.test/docs" in custom


def test_personal_access_tokens_are_redacted_wherever_they_appear() -> None:
    token = "tlp_" + "Ab3-_x" * 7
    for line in (
        f"GET /me?access_token={token} 401",
        f"subprotocols ['tipline.v1', 'tipline.auth.{token}']",
        f"Authorization: Bearer {token}",
        f"ValueError: bad token {token}!",
    ):
        assert token not in redact(line) and token[4:] not in redact(line), line
