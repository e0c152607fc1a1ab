"""System lines: membership and conversation changes come back with history and resume,
interleaved with the messages by seq (docs/subsystems/conversations.md, System lines)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup


def _timeline(page: dict[str, Any]) -> list[tuple[int, str]]:
    items = [(m["seq"], "message:" + m["body"]) for m in page["messages"]]
    items += [(e["seq"], e["event"]) for e in page["system_lines"]]
    return sorted(items)


async def _history(api: httpx.AsyncClient, headers: dict[str, str], cid: int, **query: Any) -> dict[str, Any]:
    r = await api.get(f"/conversations/{cid}/messages", headers=headers, params=query)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def test_history_interleaves_system_lines_by_seq(api: httpx.AsyncClient) -> None:
    owner, bob, carol = await signup(api), await signup(api), await signup(api)
    conv = await create_conversation(api, owner, "public", [bob], name="Launch")
    cid = conv["id"]
    assert (await send_http(api, owner, cid, "hello")).status_code == 201
    r = await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": carol.id})
    assert r.status_code == 201
    assert (
        await api.patch(f"/conversations/{cid}", headers=owner.headers, json={"name": "Launch 2"})
    ).status_code == 200
    assert (
        await api.patch(f"/conversations/{cid}", headers=owner.headers, json={"topic": "ship it"})
    ).status_code == 200
    assert (await send_http(api, bob, cid, "middle")).status_code == 201
    r = await api.patch(f"/conversations/{cid}", headers=owner.headers, json={"kind": "private"})
    assert r.status_code == 200 and r.json()["kind"] == "private"
    assert (await api.delete(f"/conversations/{cid}/members/{carol.id}", headers=owner.headers)).status_code == 204
    assert (await api.post(f"/conversations/{cid}/leave", headers=bob.headers)).status_code == 204
    assert (await send_http(api, owner, cid, "last")).status_code == 201

    page = await _history(api, owner.headers, cid)
    assert [kind for _, kind in _timeline(page)] == [
        "member.joined",  # owner
        "member.joined",  # bob, added by owner
        "message:hello",
        "member.joined",  # carol
        "conversation.updated",
        "conversation.updated",
        "message:middle",
        "conversation.updated",
        "member.removed",
        "member.left",
        "message:last",
    ]
    seqs = [s for s, _ in _timeline(page)]
    assert seqs == list(range(1, len(seqs) + 1)), "every seq is a message or a line: nothing missing"
    lines = {e["seq"]: e for e in page["system_lines"]}
    joined = [e for e in page["system_lines"] if e["event"] == "member.joined"]
    assert joined[1]["data"]["user"]["id"] == bob.id and joined[1]["data"]["by"] == owner.id
    updates = [e["data"] for e in lines.values() if e["event"] == "conversation.updated"]
    assert [u["changed"] for u in updates] == [["name"], ["topic"], ["kind"]]
    assert updates[0]["name"] == "Launch 2" and updates[1]["topic"] == "ship it" and updates[2]["kind"] == "private"
    removed = next(e["data"] for e in page["system_lines"] if e["event"] == "member.removed")
    assert removed["user"]["id"] == carol.id and removed["user"]["display_name"] == carol.handle.title()
    assert removed["by"] == owner.id


async def test_older_pages_carry_their_own_lines(api: httpx.AsyncClient) -> None:
    owner, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [bob]))["id"]
    for i in range(3):
        assert (await send_http(api, owner, cid, f"m{i}")).status_code == 201
    assert (
        await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": carol.id})
    ).status_code == 201
    for i in range(3, 6):
        assert (await send_http(api, owner, cid, f"m{i}")).status_code == 201

    # seqs: 1-2 joined, 3-5 m0-m2, 6 carol joined, 7-9 m3-m5
    latest = await _history(api, owner.headers, cid, limit=2)
    assert latest["has_more"] is True
    assert [k for _, k in _timeline(latest)] == ["message:m4", "message:m5"]
    older = await _history(api, owner.headers, cid, limit=2, before=latest["messages"][0]["seq"])
    assert [k for _, k in _timeline(older)] == ["message:m2", "member.joined", "message:m3"]
    older = await _history(api, owner.headers, cid, limit=2, before=older["messages"][0]["seq"])
    # The oldest page also carries what came before its first message.
    assert older["has_more"] is False
    assert [k for _, k in _timeline(older)] == ["member.joined", "member.joined", "message:m0", "message:m1"]
    # Paging forward with `after` finds the same line once.
    forward = await _history(api, owner.headers, cid, limit=2, after=3)
    assert [k for _, k in _timeline(forward)] == ["message:m1", "message:m2"]
    forward = await _history(api, owner.headers, cid, limit=2, after=5)
    assert [k for _, k in _timeline(forward)] == ["member.joined", "message:m3", "message:m4"]


async def test_a_page_without_events_has_no_lines(api: httpx.AsyncClient) -> None:
    owner, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [bob]))["id"]
    for i in range(4):
        assert (await send_http(api, owner, cid, f"m{i}")).status_code == 201
    page = await _history(api, owner.headers, cid, limit=2)
    assert page["system_lines"] == []


async def test_resume_replays_lines_in_order_and_outsiders_see_nothing(api: httpx.AsyncClient, server: Server) -> None:
    owner, bob, carol, outsider = [await signup(api) for _ in range(4)]
    cid = (await create_conversation(api, owner, "private", [bob]))["id"]
    since = (await _history(api, bob.headers, cid))["system_lines"][-1]["seq"]
    assert (await send_http(api, owner, cid, "before")).status_code == 201
    assert (
        await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": carol.id})
    ).status_code == 201
    assert (await api.patch(f"/conversations/{cid}", headers=owner.headers, json={"topic": "t"})).status_code == 200
    replay = (await api.get(f"/conversations/{cid}/events", headers=bob.headers, params={"since": since})).json()
    assert [e["event"] for e in replay["events"]] == ["message.created", "member.joined", "conversation.updated"]
    assert [e["seq"] for e in replay["events"]] == [since + 1, since + 2, since + 3]

    ws = await Ws.open(server.ws_url, bob)
    try:
        await ws.send({"type": "resume", "since": {str(cid): since}})
        frame = await ws.expect(is_event("conversation.updated"))
        assert frame["data"]["changed"] == ["topic"]
    finally:
        await ws.close()

    assert (await api.get(f"/conversations/{cid}/messages", headers=outsider.headers)).status_code == 404
    # A group is not a channel: it cannot be made public.
    group = (await create_conversation(api, owner, "group", [bob]))["id"]
    r = await api.patch(f"/conversations/{group}", headers=owner.headers, json={"kind": "public"})
    assert r.status_code == 409 and r.json()["code"] == "not_a_channel"
    r = await api.patch(f"/conversations/{cid}", headers=bob.headers, json={"kind": "public"})
    assert r.status_code == 403
    r = await api.patch(f"/conversations/{cid}", headers=owner.headers, json={"kind": "direct"})
    assert r.status_code == 422


async def test_lines_come_with_pages_from_the_message_cache(database_url: str) -> None:
    from tests.bus.redis_helpers import REDIS_URL, delete_prefixed, unique_prefix
    from tests.conftest import start_server
    from tipline.backends.cache import stats

    prefix = unique_prefix()
    try:
        async with (
            start_server(database_url, redis_url=REDIS_URL, bus_channel_prefix=prefix) as srv,
            httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
        ):
            owner, bob, carol = await signup(api), await signup(api), await signup(api)
            cid = (await create_conversation(api, owner, "group", [bob]))["id"]
            assert (await send_http(api, owner, cid, "one")).status_code == 201
            r = await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": carol.id})
            assert r.status_code == 201
            assert (await send_http(api, owner, cid, "two")).status_code == 201
            await _history(api, bob.headers, cid)  # fills the cache if cold
            hits = stats.hits
            page = await _history(api, bob.headers, cid)
            assert stats.hits > hits, "the page should come from the cache"
            assert [k for _, k in _timeline(page)] == [
                "member.joined",
                "member.joined",
                "message:one",
                "member.joined",
                "message:two",
            ]
    finally:
        await delete_prefixed(prefix)
