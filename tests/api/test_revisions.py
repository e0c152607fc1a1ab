"""Edit history: every edit keeps the version it replaced, readable by members only, and
deleting a message deletes its revisions (docs/subsystems/messages.md, Edit history)."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import Server
from tests.helpers import create_conversation, send_http, signup


async def test_edits_keep_earlier_versions_in_order(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    mid = (await send_http(api, alice, cid, "first")).json()["message_id"]
    unedited = await api.get(f"/messages/{mid}/revisions", headers=bob.headers)
    assert unedited.status_code == 200
    assert unedited.json()["revisions"] == [] and unedited.json()["edited_at"] is None

    for body in ("second", "third"):
        r = await api.patch(f"/messages/{mid}", headers=alice.headers, json={"body": body})
        assert r.status_code == 200
    r = await api.get(f"/messages/{mid}/revisions", headers=bob.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["message_id"] == mid and out["body"] == "third" and out["edited_at"] is not None
    assert [v["body"] for v in out["revisions"]] == ["first", "second"]
    first, second = out["revisions"]
    # Each version's life: written, then replaced by the next one.
    assert first["written_at"] < first["replaced_at"] == second["written_at"] < second["replaced_at"]
    assert second["replaced_at"] == out["edited_at"]

    # A refused edit (not the author) keeps nothing.
    assert (await api.patch(f"/messages/{mid}", headers=bob.headers, json={"body": "hijack"})).status_code == 403
    assert len((await api.get(f"/messages/{mid}/revisions", headers=alice.headers)).json()["revisions"]) == 2


async def test_only_members_read_revisions(api: httpx.AsyncClient) -> None:
    alice, bob, outsider = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "public", [bob]))["id"]
    mid = (await send_http(api, alice, cid, "v1")).json()["message_id"]
    await api.patch(f"/messages/{mid}", headers=alice.headers, json={"body": "v2"})
    # Not a member, even of a public channel: as if the message did not exist.
    r = await api.get(f"/messages/{mid}/revisions", headers=outsider.headers)
    assert r.status_code == 404 and r.json()["code"] == "message_not_found"
    assert (await api.get("/messages/999999999/revisions", headers=alice.headers)).status_code == 404
    assert (await api.get(f"/messages/{mid}/revisions")).status_code == 401
    assert (await api.get("/messages/0/revisions", headers=alice.headers)).status_code == 422
    # A member who left loses access.
    assert (await api.post(f"/conversations/{cid}/leave", headers=bob.headers)).status_code == 204
    assert (await api.get(f"/messages/{mid}/revisions", headers=bob.headers)).status_code == 404


async def test_blocked_authors_revisions_are_hidden(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    mid = (await send_http(api, alice, cid, "secret v1")).json()["message_id"]
    await api.patch(f"/messages/{mid}", headers=alice.headers, json={"body": "secret v2"})
    assert (await api.put(f"/me/blocks/{alice.id}", headers=bob.headers)).status_code == 200
    out = (await api.get(f"/messages/{mid}/revisions", headers=bob.headers)).json()
    assert out["body"] == "" and out["revisions"] == []


async def test_deleting_a_message_deletes_its_revisions(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    mid = (await send_http(api, alice, cid, "old words")).json()["message_id"]
    await api.patch(f"/messages/{mid}", headers=alice.headers, json={"body": "new words"})
    assert (await api.delete(f"/messages/{mid}", headers=alice.headers)).status_code == 200
    r = await api.get(f"/messages/{mid}/revisions", headers=bob.headers)
    assert r.status_code == 404 and r.json()["code"] == "message_deleted"
    conn = await asyncpg.connect(server.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM message_revisions WHERE message_id = $1", mid) == 0
    finally:
        await conn.close()
