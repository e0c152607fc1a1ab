"""Pinned messages: who may pin, the pinned list, live events, access checks
(docs/subsystems/messages.md, Pinned messages)."""

from __future__ import annotations

import httpx

from tests.conftest import Server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup


async def test_members_pin_and_unpin_in_a_group_and_see_it_live(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    first = (await send_http(api, alice, cid, "the plan")).json()["message_id"]
    second = (await send_http(api, bob, cid, "the date")).json()["message_id"]
    ws = await Ws.open(server.ws_url, alice)
    try:
        r = await api.put(f"/messages/{first}/pin", headers=bob.headers)  # a plain member, in a group
        assert r.status_code == 200, r.text
        assert r.json()["message"]["id"] == first and r.json()["pinned_by"] == bob.id
        event = await ws.expect(is_event("message.pinned"))
        assert (
            event["conversation_id"] == cid and event["data"]["message_id"] == first and event["data"]["by"] == bob.id
        )
        assert isinstance(event["seq"], int)
        again = await api.put(f"/messages/{first}/pin", headers=alice.headers)
        assert again.status_code == 409 and again.json()["code"] == "already_pinned"
        assert (await api.put(f"/messages/{second}/pin", headers=alice.headers)).status_code == 200

        pins = (await api.get(f"/conversations/{cid}/pins", headers=bob.headers)).json()["pins"]
        assert [p["message"]["id"] for p in pins] == [second, first]  # newest pin first
        assert pins[1]["message"]["body"] == "the plan"

        assert (await api.delete(f"/messages/{first}/pin", headers=alice.headers)).status_code == 204
        gone = await ws.expect(is_event("message.unpinned"))
        assert gone["data"] == {"message_id": first, "by": alice.id}
        r = await api.delete(f"/messages/{first}/pin", headers=alice.headers)
        assert r.status_code == 404 and r.json()["code"] == "not_pinned"
    finally:
        await ws.close()
    # Pins replay on resume like any durable event, and show as a system line in history.
    lines = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()["system_lines"]
    assert [line["data"]["message_id"] for line in lines if line["event"] == "message.pinned"] == [first, second]


async def test_in_channels_only_owners_and_admins_pin(api: httpx.AsyncClient) -> None:
    owner, member = await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "public", [member]))["id"]
    mid = (await send_http(api, member, cid, "pin me")).json()["message_id"]
    r = await api.put(f"/messages/{mid}/pin", headers=member.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_an_admin"
    assert (await api.put(f"/messages/{mid}/pin", headers=owner.headers)).status_code == 200
    assert (await api.delete(f"/messages/{mid}/pin", headers=member.headers)).status_code == 403
    # Members read the list.
    assert len((await api.get(f"/conversations/{cid}/pins", headers=member.headers)).json()["pins"]) == 1


async def test_outsiders_neither_read_nor_pin(api: httpx.AsyncClient) -> None:
    owner, member, outsider = await signup(api), await signup(api), await signup(api)
    private = (await create_conversation(api, owner, "private", [member]))["id"]
    public = (await create_conversation(api, owner, "public", [member]))["id"]
    hidden = (await send_http(api, owner, private, "private words")).json()["message_id"]
    visible = (await send_http(api, owner, public, "public words")).json()["message_id"]
    assert (await api.get(f"/conversations/{private}/pins", headers=outsider.headers)).status_code == 404
    # A public channel's pins are for its members: join first.
    r = await api.get(f"/conversations/{public}/pins", headers=outsider.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_a_member"
    for mid in (hidden, visible):
        assert (await api.put(f"/messages/{mid}/pin", headers=outsider.headers)).status_code == 404
        assert (await api.delete(f"/messages/{mid}/pin", headers=outsider.headers)).status_code == 404
    assert (await api.put("/messages/999999999/pin", headers=owner.headers)).status_code == 404
    assert (await api.get(f"/conversations/{public}/pins")).status_code == 401


async def test_deleted_messages_leave_the_list_and_archived_conversations_freeze(api: httpx.AsyncClient) -> None:
    owner, member = await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [member]))["id"]
    mid = (await send_http(api, member, cid, "soon gone")).json()["message_id"]
    keep = (await send_http(api, member, cid, "stays")).json()["message_id"]
    assert (await api.put(f"/messages/{mid}/pin", headers=owner.headers)).status_code == 200
    assert (await api.put(f"/messages/{keep}/pin", headers=owner.headers)).status_code == 200
    assert (await api.delete(f"/messages/{mid}", headers=member.headers)).status_code == 200
    pins = (await api.get(f"/conversations/{cid}/pins", headers=owner.headers)).json()["pins"]
    assert [p["message"]["id"] for p in pins] == [keep]
    r = await api.put(f"/messages/{mid}/pin", headers=owner.headers)
    assert r.status_code == 404 and r.json()["code"] == "message_deleted"
    assert (await api.post(f"/conversations/{cid}/archive", headers=owner.headers)).status_code == 200
    r = await api.delete(f"/messages/{keep}/pin", headers=owner.headers)
    assert r.status_code == 409 and r.json()["code"] == "conversation_archived"
