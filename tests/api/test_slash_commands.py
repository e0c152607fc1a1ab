"""Slash commands over HTTP: registration by administrators, a signed request to a real local
endpoint, ephemeral and in-channel answers (docs/subsystems/integrations.md)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.test_tokens import admin
from tests.conftest import Server
from tests.helpers import User, create_conversation, signup
from tests.integration_endpoint import Endpoint, run_endpoint
from tipline.domain.integrations.signing import verify


@pytest.fixture
async def endpoint(server: Server, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(server.rt.settings, "outbound_allow", ["127.0.0.1"])
    async with run_endpoint() as ep:
        yield ep


async def register(api: httpx.AsyncClient, boss: User, endpoint: Endpoint, name: str = "weather") -> dict[str, Any]:
    r = await api.post(
        "/commands",
        headers=boss.headers,
        json={"name": f"/{name}", "url": endpoint.url(f"/{name}"), "description": "Forecast", "usage_hint": "[city]"},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_only_administrators_register_commands_and_everyone_lists_them(
    api: httpx.AsyncClient, server: Server, endpoint: Endpoint
) -> None:
    boss, ann = await admin(api, server), await signup(api)
    r = await api.post("/commands", headers=ann.headers, json={"name": "x", "url": endpoint.url("/x")})
    assert r.status_code == 403 and r.json()["code"] == "not_server_admin"
    cmd = await register(api, boss, endpoint)
    assert cmd["name"] == "weather" and cmd["secret"].startswith("tls_") and cmd["bot"]["is_bot"]
    again = await api.post("/commands", headers=boss.headers, json={"name": "Weather", "url": endpoint.url("/w")})
    assert again.status_code == 409 and again.json()["code"] == "command_taken"
    bad = await api.post("/commands", headers=boss.headers, json={"name": "no spaces", "url": "ftp://x"})
    assert bad.status_code == 422

    (seen,) = (await api.get("/commands", headers=ann.headers)).json()
    assert seen["name"] == "weather" and seen["usage_hint"] == "[city]" and seen["url"] is None
    (full,) = (await api.get("/commands", headers=boss.headers)).json()
    assert full["url"] == endpoint.url("/weather") and "secret" not in full

    assert (await api.delete(f"/commands/{cmd['id']}", headers=ann.headers)).status_code == 403
    rotated = (await api.post(f"/commands/{cmd['id']}/rotate", headers=boss.headers)).json()
    assert rotated["secret"] != cmd["secret"]
    assert (await api.delete(f"/commands/{cmd['id']}", headers=boss.headers)).status_code == 204
    assert (await api.get("/commands", headers=ann.headers)).json() == []


async def test_an_ephemeral_answer_goes_to_the_caller_only(
    api: httpx.AsyncClient, server: Server, endpoint: Endpoint
) -> None:
    boss, ann = await admin(api, server), await signup(api)
    cmd = await register(api, boss, endpoint)
    conv = await create_conversation(api, ann)
    endpoint.answer("/weather", body={"response_type": "ephemeral", "text": "Sunny in *Paris*"})
    r = await api.post(
        f"/conversations/{conv['id']}/commands", headers=ann.headers, json={"command": "/weather", "text": "Paris"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"response_type": "ephemeral", "text": "Sunny in *Paris*", "message": None}

    (got,) = endpoint.received
    assert verify(
        cmd["secret"],
        timestamp=got.headers["x-tipline-timestamp"],
        signature_header=got.headers["x-tipline-signature"],
        body=got.body,
    )
    assert abs(int(got.headers["x-tipline-timestamp"]) - time.time()) < 30
    data = got.json()
    assert data["command"] == "/weather" and data["text"] == "Paris"
    assert data["user_id"] == ann.id and data["conversation_id"] == conv["id"]
    # Nothing was posted.
    history = (await api.get(f"/conversations/{conv['id']}/messages", headers=ann.headers)).json()["messages"]
    assert history == []


async def test_an_in_channel_answer_is_posted_as_the_commands_bot(
    api: httpx.AsyncClient, server: Server, endpoint: Endpoint
) -> None:
    boss, ann, bob = await admin(api, server), await signup(api), await signup(api)
    cmd = await register(api, boss, endpoint, "roll")
    conv = await create_conversation(api, ann, members=[bob])
    endpoint.answer("/roll", body={"response_type": "in_channel", "text": "rolled 4"})
    r = await api.post(f"/conversations/{conv['id']}/commands", headers=bob.headers, json={"command": "roll"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["response_type"] == "in_channel" and result["message"]["seq"] >= 1
    history = (await api.get(f"/conversations/{conv['id']}/messages", headers=ann.headers)).json()["messages"]
    (posted,) = [m for m in history if m["sender_id"] == cmd["bot"]["id"]]
    assert posted["body"] == "rolled 4" and posted["id"] == result["message"]["message_id"]
    # A plain-text answer is ephemeral text.
    endpoint.answer("/roll", body=b"just text", headers={"content-type": "text/plain"})
    r = await api.post(f"/conversations/{conv['id']}/commands", headers=bob.headers, json={"command": "roll"})
    assert r.json()["text"] == "just text" and r.json()["response_type"] == "ephemeral"


async def test_failures_reach_the_caller_and_the_administrators(
    api: httpx.AsyncClient, server: Server, endpoint: Endpoint
) -> None:
    boss, ann = await admin(api, server), await signup(api)
    await register(api, boss, endpoint, "broken")
    conv = await create_conversation(api, ann)
    endpoint.answer("/broken", status=500, body={"oops": True})
    r = await api.post(f"/conversations/{conv['id']}/commands", headers=ann.headers, json={"command": "broken"})
    assert r.status_code == 502 and r.json()["code"] == "integration_failed"
    assert "HTTP 500" in r.json()["detail"]
    (full,) = (await api.get("/commands", headers=boss.headers)).json()
    assert full["failure_count"] == 1 and full["last_status"] == 500 and "HTTP 500" in full["last_error"]

    missing = await api.post(f"/conversations/{conv['id']}/commands", headers=ann.headers, json={"command": "nope"})
    assert missing.status_code == 404 and missing.json()["code"] == "command_not_found"
    stranger = await signup(api)
    r = await api.post(f"/conversations/{conv['id']}/commands", headers=stranger.headers, json={"command": "broken"})
    assert r.status_code == 404
