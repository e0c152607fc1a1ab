"""Conversations over HTTP: kinds, roles, invite/join/leave/remove, rename, topic, archive."""

from __future__ import annotations

import httpx

from tests.helpers import create_conversation, send_http, signup


async def test_direct_is_one_per_pair(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    first = await api.post("/conversations/direct", headers=alice.headers, json={"user_id": bob.id})
    again = await api.post("/conversations/direct", headers=bob.headers, json={"user_id": alice.id})
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["kind"] == "direct" and first.json()["peer"]["id"] == bob.id
    assert again.json()["peer"]["id"] == alice.id
    assert first.json()["member_count"] == 2
    self_dm = await api.post("/conversations/direct", headers=alice.headers, json={"user_id": alice.id})
    assert self_dm.status_code == 422
    missing = await api.post("/conversations/direct", headers=alice.headers, json={"user_id": 999999})
    assert missing.status_code == 404


async def test_direct_cannot_be_managed(api: httpx.AsyncClient) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    dm = (await api.post("/conversations/direct", headers=alice.headers, json={"user_id": bob.id})).json()
    r = await api.post(f"/conversations/{dm['id']}/members", headers=alice.headers, json={"user_id": carol.id})
    assert r.status_code == 409 and r.json()["code"] == "direct_conversation"
    assert (await api.patch(f"/conversations/{dm['id']}", headers=alice.headers, json={"name": "x"})).status_code == 409
    assert (await api.post(f"/conversations/{dm['id']}/leave", headers=alice.headers)).status_code == 409


async def test_group_lifecycle_and_roles(api: httpx.AsyncClient) -> None:
    owner, admin, member, outsider = [await signup(api) for _ in range(4)]
    conv = await create_conversation(api, owner, "group", [admin, member], name="Team")
    cid = conv["id"]
    assert conv["role"] == "owner" and conv["member_count"] == 3

    # Owner promotes; only owners change roles.
    r = await api.patch(f"/conversations/{cid}/members/{admin.id}", headers=owner.headers, json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await api.patch(f"/conversations/{cid}/members/{member.id}", headers=admin.headers, json={"role": "admin"})
    assert r.status_code == 403

    # Admin renames and sets the topic; a member cannot.
    r = await api.patch(f"/conversations/{cid}", headers=admin.headers, json={"name": "Team B", "topic": "launch"})
    assert r.status_code == 200 and r.json()["name"] == "Team B" and r.json()["topic"] == "launch"
    assert (await api.patch(f"/conversations/{cid}", headers=member.headers, json={"name": "no"})).status_code == 403

    # Admin invites; a member cannot.
    r = await api.post(f"/conversations/{cid}/members", headers=member.headers, json={"user_id": outsider.id})
    assert r.status_code == 403
    r = await api.post(f"/conversations/{cid}/members", headers=admin.headers, json={"user_id": outsider.id})
    assert r.status_code == 201 and r.json()["user"]["id"] == outsider.id and r.json()["role"] == "member"
    r = await api.post(f"/conversations/{cid}/members", headers=admin.headers, json={"user_id": outsider.id})
    assert r.status_code == 409

    # Admins remove members but not other admins or owners.
    assert (await api.delete(f"/conversations/{cid}/members/{owner.id}", headers=admin.headers)).status_code == 403
    assert (await api.delete(f"/conversations/{cid}/members/{outsider.id}", headers=admin.headers)).status_code == 204
    assert (await api.get(f"/conversations/{cid}", headers=outsider.headers)).status_code == 404

    members = (await api.get(f"/conversations/{cid}/members", headers=member.headers)).json()["members"]
    assert {(m["user"]["id"], m["role"]) for m in members} == {
        (owner.id, "owner"),
        (admin.id, "admin"),
        (member.id, "member"),
    }

    # A member leaves; the last owner leaving hands ownership to the longest-standing admin.
    assert (await api.post(f"/conversations/{cid}/leave", headers=member.headers)).status_code == 204
    assert (await api.post(f"/conversations/{cid}/leave", headers=owner.headers)).status_code == 204
    members = (await api.get(f"/conversations/{cid}/members", headers=admin.headers)).json()["members"]
    assert [(m["user"]["id"], m["role"]) for m in members] == [(admin.id, "owner")]


async def test_last_owner_cannot_demote_themself(api: httpx.AsyncClient) -> None:
    owner, other = await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [other]))["id"]
    r = await api.patch(f"/conversations/{cid}/members/{owner.id}", headers=owner.headers, json={"role": "member"})
    assert r.status_code == 409 and r.json()["code"] == "last_owner"


async def test_public_channels_are_listed_and_joinable(api: httpx.AsyncClient) -> None:
    owner, visitor = await signup(api), await signup(api)
    pub = await create_conversation(api, owner, "public", name="general")
    priv = await create_conversation(api, owner, "private", name="secret-plans")
    listed = (await api.get("/conversations/public", headers=visitor.headers)).json()["conversations"]
    assert [c["id"] for c in listed] == [pub["id"]]
    assert listed[0]["role"] is None and listed[0]["member_count"] == 1
    found = (await api.get("/conversations/public", params={"q": "GEN"}, headers=visitor.headers)).json()
    assert [c["id"] for c in found["conversations"]] == [pub["id"]]
    none = (await api.get("/conversations/public", params={"q": "%"}, headers=visitor.headers)).json()
    assert none["conversations"] == []

    # Visible before joining, but messages need membership.
    assert (await api.get(f"/conversations/{pub['id']}", headers=visitor.headers)).status_code == 200
    r = await api.get(f"/conversations/{pub['id']}/messages", headers=visitor.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_a_member"
    r = await api.post(f"/conversations/{pub['id']}/join", headers=visitor.headers)
    assert r.status_code == 200 and r.json()["role"] == "member"
    listed = (await api.get("/conversations/public", headers=visitor.headers)).json()["conversations"]
    assert listed[0]["role"] == "member"  # the directory shows what the caller joined
    assert (await api.get(f"/conversations/{pub['id']}/messages", headers=visitor.headers)).status_code == 200

    # A private channel is invite-only and invisible to outsiders.
    assert (await api.post(f"/conversations/{priv['id']}/join", headers=visitor.headers)).status_code == 404
    assert (await api.get(f"/conversations/{priv['id']}", headers=visitor.headers)).status_code == 404


async def test_archive_makes_read_only(api: httpx.AsyncClient) -> None:
    owner, member = await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "private", [member]))["id"]
    assert (await send_http(api, member, cid, "before")).status_code == 201
    assert (await api.post(f"/conversations/{cid}/archive", headers=member.headers)).status_code == 403
    r = await api.post(f"/conversations/{cid}/archive", headers=owner.headers)
    assert r.status_code == 200 and r.json()["archived"] is True
    r = await send_http(api, member, cid, "after")
    assert r.status_code == 409 and r.json()["code"] == "conversation_archived"
    history = (await api.get(f"/conversations/{cid}/messages", headers=member.headers)).json()["messages"]
    assert [m["body"] for m in history] == ["before"]
    assert (await api.post(f"/conversations/{cid}/unarchive", headers=owner.headers)).json()["archived"] is False
    assert (await send_http(api, member, cid, "again")).status_code == 201


async def test_conversation_list_sorted_by_activity_with_unread(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    first = await create_conversation(api, alice, "group", [bob], name="first")
    second = await create_conversation(api, alice, "group", [bob], name="second")
    await send_http(api, alice, first["id"], "hello @" + bob.handle)
    await send_http(api, alice, first["id"], "are you there?")
    convs = (await api.get("/conversations", headers=bob.headers)).json()["conversations"]
    assert [c["id"] for c in convs] == [first["id"], second["id"]]
    assert convs[0]["unread"] == 2 and convs[1]["unread"] == 0
    assert convs[0]["last_message"]["body"] == "are you there?"
    # The sender has nothing unread in their own conversation.
    mine = (await api.get("/conversations", headers=alice.headers)).json()["conversations"]
    assert mine[0]["unread"] == 0
    await send_http(api, alice, second["id"], "newer")
    convs = (await api.get("/conversations", headers=bob.headers)).json()["conversations"]
    assert [c["id"] for c in convs] == [second["id"], first["id"]]
