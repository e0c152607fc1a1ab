"""Read receipts: live read positions in small conversations, coalesced; a count in large ones;
a setting to send none (docs/subsystems/messages.md, Read receipts)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import Ws, create_conversation, send_http, signup


async def _read(api: httpx.AsyncClient, user_headers: dict[str, str], cid: int, seq: int) -> int:
    r = await api.post(f"/conversations/{cid}/read", headers=user_headers, json={"seq": seq})
    assert r.status_code == 200, r.text
    return int(r.json()["seq"])


def _reads(frames: list[dict[str, object]], user_id: int) -> list[object]:
    return [f["seq"] for f in frames if f.get("type") == "read" and f.get("user_id") == user_id]


async def test_small_groups_see_positions_live_and_in_the_summary(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    seq = (await send_http(api, alice, cid, "did you see this?")).json()["seq"]
    ws = await Ws.open(server.ws_url, alice)
    try:
        await _read(api, bob.headers, cid, seq)
        frame = await ws.expect(lambda f: f.get("type") == "read" and f.get("user_id") == bob.id)
        assert frame == {"type": "read", "conversation_id": cid, "user_id": bob.id, "seq": seq}
    finally:
        await ws.close()
    out = (await api.get(f"/conversations/{cid}/receipts", headers=alice.headers)).json()
    assert out["member_count"] == 3 and out["max_members"] == 20
    assert out["last_message_seq"] == seq and out["seen_count"] == 1
    positions = {p["user_id"]: p["seq"] for p in out["positions"]}
    assert positions[bob.id] == seq and positions[carol.id] < seq  # carol has not read it


async def test_positions_are_coalesced_per_member(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    seqs = [(await send_http(api, alice, cid, f"m{i}")).json()["seq"] for i in range(6)]
    ws = await Ws.open(server.ws_url, alice)
    try:
        for s in seqs:  # a reader scrolling: six moves in well under a second
            await _read(api, bob.headers, cid, s)
        frames = await ws.collect(within=1.6)
    finally:
        await ws.close()
    got = _reads(frames, bob.id)
    # At most one event per interval (the first at once, the rest folded into one at its end),
    # and the newest position is the last word.
    assert 1 <= len(got) <= 2 and got[-1] == seqs[-1] and got == sorted(got), got


async def test_a_member_who_sends_no_receipts_is_not_shown(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    assert (await api.get("/me/read-receipts", headers=bob.headers)).json() == {"send_read_receipts": True}
    r = await api.put("/me/read-receipts", headers=bob.headers, json={"send_read_receipts": False})
    assert r.status_code == 200 and r.json() == {"send_read_receipts": False}
    assert (await api.get("/me/read-receipts", headers=bob.headers)).json() == {"send_read_receipts": False}
    seq = (await send_http(api, alice, cid, "hello")).json()["seq"]
    wa, wb = await Ws.open(server.ws_url, alice), await Ws.open(server.ws_url, bob)
    try:
        await _read(api, bob.headers, cid, seq)
        # Bob's own tabs still learn it (unread counts); Alice does not.
        mine = await wb.expect(lambda f: f.get("type") == "read")
        assert mine["user_id"] == bob.id and mine["seq"] == seq
        assert _reads(await wa.collect(within=0.5), bob.id) == []
    finally:
        await wa.close()
        await wb.close()
    convs = (await api.get("/conversations", headers=bob.headers)).json()["conversations"]
    assert next(c for c in convs if c["id"] == cid)["unread"] == 0
    out = (await api.get(f"/conversations/{cid}/receipts", headers=alice.headers)).json()
    assert bob.id not in {p["user_id"] for p in out["positions"]} and out["seen_count"] == 0
    seen_by_alice = (await api.get(f"/conversations/{cid}/members", headers=alice.headers)).json()["members"]
    assert next(m for m in seen_by_alice if m["user"]["id"] == bob.id)["last_read_seq"] == 0
    seen_by_bob = (await api.get(f"/conversations/{cid}/members", headers=bob.headers)).json()["members"]
    assert next(m for m in seen_by_bob if m["user"]["id"] == bob.id)["last_read_seq"] == seq
    # Turned back on: shown again.
    await api.put("/me/read-receipts", headers=bob.headers, json={"send_read_receipts": True})
    out = (await api.get(f"/conversations/{cid}/receipts", headers=alice.headers)).json()
    assert {p["user_id"]: p["seq"] for p in out["positions"]}[bob.id] == seq and out["seen_count"] == 1


async def test_large_conversations_get_a_count_and_no_live_positions(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.settings, "read_receipts_max_members", 2)
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "public", [bob, carol]))["id"]
    seq = (await send_http(api, alice, cid, "announcement")).json()["seq"]
    ws = await Ws.open(server.ws_url, alice)
    try:
        await _read(api, bob.headers, cid, seq)
        await _read(api, carol.headers, cid, seq)
        assert [f for f in await ws.collect(within=0.5) if f.get("type") == "read"] == []
    finally:
        await ws.close()
    out = (await api.get(f"/conversations/{cid}/receipts", headers=alice.headers)).json()
    assert out["positions"] == [] and out["seen_count"] == 2 and out["max_members"] == 2


async def test_receipts_are_for_members_only(api: httpx.AsyncClient) -> None:
    alice, outsider = await signup(api), await signup(api)
    private = (await create_conversation(api, alice, "private"))["id"]
    public = (await create_conversation(api, alice, "public"))["id"]
    assert (await api.get(f"/conversations/{private}/receipts", headers=outsider.headers)).status_code == 404
    r = await api.get(f"/conversations/{public}/receipts", headers=outsider.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_a_member"
    assert (await api.get(f"/conversations/{public}/receipts")).status_code == 401
    assert (await api.get("/me/read-receipts")).status_code == 401
    bad = await api.put("/me/read-receipts", headers=alice.headers, json={"send_read_receipts": "maybe", "x": 1})
    assert bad.status_code == 422
    empty = (await api.get(f"/conversations/{private}/receipts", headers=alice.headers)).json()
    assert empty["last_message_seq"] is None and empty["seen_count"] == 0
