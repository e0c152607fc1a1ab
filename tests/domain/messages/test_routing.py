"""Send routing: a conversation's sends commit on its owner node, with failover.

The owner choice and the error encoding are checked as plain functions; everything else on two
real app nodes (uvicorn in this process) sharing one PostgreSQL database and one Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.bus.redis_helpers import REDIS_URL, delete_prefixed, unique_prefix
from tests.bus.test_redis_nodes import AppNode, send_frame, start_node, stop_node, until_subscribed
from tests.helpers import User, Ws, create_conversation, is_event, send_http, signup
from tipline.bus.base import topic_node
from tipline.bus.redis import RedisBus
from tipline.domain.messages.routing import error_dict, error_from_dict, owner_of
from tipline.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited

NODES = [f"node{i:02d}" for i in range(4)]


def test_every_node_picks_the_same_owner_and_a_leaving_node_moves_only_its_own() -> None:
    owners = {cid: owner_of(cid, NODES) for cid in range(1, 2001)}
    assert all(owner_of(cid, list(reversed(NODES))) == owners[cid] for cid in owners)
    counts = {node: sum(1 for o in owners.values() if o == node) for node in NODES}
    assert all(350 <= n <= 650 for n in counts.values()), counts
    rest = NODES[:2] + NODES[3:]
    for cid, owner in owners.items():
        if owner != NODES[2]:
            assert owner_of(cid, rest) == owner
        else:
            assert owner_of(cid, rest) in rest
    assert owner_of(1, []) is None


@pytest.mark.parametrize(
    "exc",
    [
        NotFound("no such conversation", code="conversation_not_found"),
        Forbidden("blocked", code="blocked"),
        Conflict("this conversation is archived", code="conversation_archived"),
        RateLimited("slow mode", retry_after=2.5),
        DomainError("odd", code="odd"),
    ],
)
def test_an_owners_error_is_the_same_error_at_the_origin(exc: DomainError) -> None:
    back = error_from_dict(error_dict(exc))
    assert type(back) is type(exc)
    assert (back.status, back.code, back.message) == (exc.status, exc.code, exc.message)
    if isinstance(exc, RateLimited):
        assert isinstance(back, RateLimited) and back.retry_after == exc.retry_after


# --- two nodes --------------------------------------------------------------------------------


@pytest.fixture
async def routed(database_url: str) -> AsyncIterator[tuple[AppNode, AppNode]]:
    prefix = unique_prefix()
    jwt_key = secrets.token_bytes(64)
    settings: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "bus_channel_prefix": prefix,
        "node_ttl_s": 0.6,
        "send_forward_timeout_s": 30.0,
        "send_routing_min_rate": 0,  # route every send; the threshold has its own test
    }
    a = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix), **settings)
    b = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix), **settings)
    try:
        async with asyncio.timeout(5):
            while len(a.node.router.live) < 2 or len(b.node.router.live) < 2:
                await asyncio.sleep(0.05)
        yield a, b
    finally:
        await stop_node(b)
        await stop_node(a)
        await delete_prefixed(prefix)


async def owned_by(node: AppNode, api: httpx.AsyncClient, creator: User, others: list[User]) -> int:
    """A new group whose sends ``node`` owns (about every second group, with two nodes)."""
    for _ in range(40):
        cid = int((await create_conversation(api, creator, "group", others))["id"])
        if owner_of(cid, node.node.router.live) == node.rt.node_id:
            return cid
    raise AssertionError("no group owned by that node in 40 tries")


async def chat(a: AppNode, b: AppNode) -> tuple[httpx.AsyncClient, User, User, int]:
    """alice (socket on A) and bob (socket on B) in a group that B owns."""
    api = httpx.AsyncClient(base_url=a.base_url, timeout=30)
    alice, bob = await signup(api), await signup(api)
    cid = await owned_by(b, api, alice, [bob])
    return api, alice, bob, cid


async def test_sends_through_any_node_commit_on_the_owner_in_order(routed: tuple[AppNode, AppNode]) -> None:
    a, b = routed
    api, alice, bob, cid = await chat(a, b)
    ws_alice, ws_bob = await Ws.open(a.ws_url, alice), await Ws.open(b.ws_url, bob)
    try:
        await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
        on_a, on_b = a.node.batcher.committed, b.node.batcher.committed
        frames = [send_frame(cid, f"m{i}") for i in range(30)]
        for frame in frames:
            await ws_alice.send(frame)  # pipelined: no wait for acks
        acks = [await ws_alice.expect("ack") for _ in frames]
        assert [ack["client_msg_id"] for ack in acks] == [f["client_msg_id"] for f in frames]
        seqs = [ack["seq"] for ack in acks]
        assert seqs == list(range(seqs[0], seqs[0] + 30)) and not any(ack["duplicate"] for ack in acks)
        events = [await ws_bob.expect(is_event("message.created")) for _ in frames]
        assert [(e["seq"], e["data"]["body"]) for e in events] == [(s, f"m{i}") for i, s in enumerate(seqs)]
        # The ack that crossed the bus reads like a local one: same time as the stored message.
        assert acks[0]["created_at"] == events[0]["data"]["created_at"]
        # Over HTTP through node A too.
        sent = await send_http(api, alice, cid, "over http")
        assert sent.status_code == 201, sent.text
        assert sent.json()["seq"] == seqs[-1] + 1
        assert b.node.batcher.committed - on_b == 31
        assert a.node.batcher.committed == on_a
    finally:
        await ws_alice.close()
        await ws_bob.close()
        await api.aclose()


async def test_an_owners_refusal_reaches_the_sender_as_its_own_node_would_say_it(
    routed: tuple[AppNode, AppNode],
) -> None:
    a, b = routed
    api, _, _, cid = await chat(a, b)
    carol = await signup(api)  # not a member
    codes = []
    for node in (a, b):  # forwarded from A; committed locally on B
        ws = await Ws.open(node.ws_url, carol)
        try:
            await ws.send(send_frame(cid, "let me in"))
            error = await ws.expect("error")
            codes.append((error["code"], error["conversation_id"]))
        finally:
            await ws.close()
    await api.aclose()
    assert codes[0] == codes[1] and codes[0][0] in ("not_found", "conversation_not_found", "not_a_member")


async def test_a_send_for_an_owner_no_one_hears_commits_at_once_on_the_node_that_took_it(
    routed: tuple[AppNode, AppNode],
) -> None:
    a, b = routed
    api, alice, _, cid = await chat(a, b)
    # B stops listening on its topic (as a dead node's connection would), still listed as live.
    b.bus.unsubscribe(topic_node(b.rt.node_id))
    await b.bus.settle()
    ws = await Ws.open(a.ws_url, alice)
    try:
        on_a = a.node.batcher.committed
        await ws.send(send_frame(cid, "anyone?"))
        # Within the expect timeout (5 s), far below the 30 s forward timeout: Redis said no one
        # received the forward.
        ack = await ws.expect("ack")
        assert ack["seq"] > 0 and a.node.batcher.committed == on_a + 1
    finally:
        await ws.close()
        await api.aclose()


async def test_a_stopping_owner_hands_sends_back(routed: tuple[AppNode, AppNode]) -> None:
    a, b = routed
    api, alice, _, cid = await chat(a, b)
    b.rt.accepting_sends = False
    ws = await Ws.open(a.ws_url, alice)
    try:
        on_a, on_b = a.node.batcher.committed, b.node.batcher.committed
        await ws.send(send_frame(cid, "B is stopping"))
        ack = await ws.expect("ack")
        assert ack["seq"] > 0
        assert (a.node.batcher.committed, b.node.batcher.committed) == (on_a + 1, on_b)
    finally:
        b.rt.accepting_sends = True
        await ws.close()
        await api.aclose()


async def test_an_owner_that_does_not_answer_in_time_is_replaced_and_the_send_stays_one_message(
    routed: tuple[AppNode, AppNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = routed
    api, alice, bob, cid = await chat(a, b)
    held: list[dict[str, Any]] = []
    serve = b.node.router._serve
    monkeypatch.setattr(b.node.router, "_serve", held.append)
    a.rt.settings.send_forward_timeout_s = 0.5
    ws_alice, ws_bob = await Ws.open(a.ws_url, alice), await Ws.open(b.ws_url, bob)
    try:
        await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
        first, second = send_frame(cid, "slow owner 1"), send_frame(cid, "slow owner 2")
        started = time.monotonic()
        await ws_alice.send(first)
        await ws_alice.send(second)
        acks = [await ws_alice.expect("ack"), await ws_alice.expect("ack")]
        assert time.monotonic() - started >= 0.5  # only after the timeout
        assert [x["client_msg_id"] for x in acks] == [first["client_msg_id"], second["client_msg_id"]]
        assert acks[1]["seq"] == acks[0]["seq"] + 1
        # The owner wakes up and commits the same sends: they are found, not stored again.
        assert [h["send"]["client_msg_id"] for h in held] == [first["client_msg_id"], second["client_msg_id"]]
        batches = b.node.batcher.batches
        for item in held:
            serve(item)
        async with asyncio.timeout(5):
            while b.node.batcher.batches == batches:
                await asyncio.sleep(0.02)
        events = [f for f in await ws_bob.collect(0.5) if f.get("event") == "message.created"]
        assert [e["seq"] for e in events] == [acks[0]["seq"], acks[1]["seq"]]
        page = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()
        bodies = [m["body"] for m in page["messages"]]
        assert sorted(bodies) == ["slow owner 1", "slow owner 2"]
    finally:
        await ws_alice.close()
        await ws_bob.close()
        await api.aclose()


async def test_a_forward_lost_on_the_way_cannot_let_the_next_send_overtake_it(
    routed: tuple[AppNode, AppNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving behind a stored inversion seen in chaos runs: the owner never gets the
    first of two pipelined sends (its forward was lost while Redis restarted) but gets the
    second. Before ``SendRequest.after`` the owner stored the second at once and the origin
    stored the first later, after its timeout: seq(second) < seq(first)."""
    a, b = routed
    api, alice, _bob, cid = await chat(a, b)
    serve = b.node.router._serve
    lost: list[dict[str, Any]] = []

    def lose_the_first(item: dict[str, Any]) -> None:
        if not lost:
            lost.append(item)
        else:
            serve(item)

    monkeypatch.setattr(b.node.router, "_serve", lose_the_first)
    a.rt.settings.send_forward_timeout_s = 1.0
    ws_alice = await Ws.open(a.ws_url, alice)
    try:
        await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 1)
        first, second = send_frame(cid, "first"), send_frame(cid, "second")
        await ws_alice.send(first)
        await ws_alice.send(second)
        # The owner refuses the second as out of order and the origin commits both itself, in
        # the order sent (the first falls back when the second does, or at its timeout).
        async with asyncio.timeout(10):
            acks = {ack["client_msg_id"]: ack for ack in [await ws_alice.expect("ack"), await ws_alice.expect("ack")]}
        assert lost and lost[0]["send"]["client_msg_id"] == first["client_msg_id"]
        assert acks[first["client_msg_id"]]["seq"] < acks[second["client_msg_id"]]["seq"]
        page = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()
        assert [m["body"] for m in page["messages"]] == ["first", "second"]
    finally:
        await ws_alice.close()
        await api.aclose()


async def test_the_registry_lists_live_nodes_and_drops_a_stopped_one(routed: tuple[AppNode, AppNode]) -> None:
    a, b = routed
    assert a.node.router.live == b.node.router.live == tuple(sorted((a.rt.node_id, b.rt.node_id)))
    await stop_node(b)
    async with asyncio.timeout(5):
        while a.node.router.live != (a.rt.node_id,):
            await asyncio.sleep(0.05)
    redis = Redis.from_url(REDIS_URL)
    try:
        members = await redis.zrange(a.bus.channel_prefix + "nodes", 0, -1)
        assert members == [a.rt.node_id.encode()]
    finally:
        await redis.aclose()


async def test_a_quiet_conversation_commits_where_its_sends_arrive_and_a_busy_one_on_its_owner(
    routed: tuple[AppNode, AppNode],
) -> None:
    a, b = routed
    a.rt.settings.send_routing_min_rate = 5
    api, alice, bob, cid = await chat(a, b)
    ws_alice, ws_bob = await Ws.open(a.ws_url, alice), await Ws.open(b.ws_url, bob)
    try:
        await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
        on_a, on_b = a.node.batcher.committed, b.node.batcher.committed
        acks = []
        for i in range(4):  # one at a time: quiet, committed on node A
            await ws_alice.send(send_frame(cid, f"quiet {i}"))
            acks.append(await ws_alice.expect("ack"))
        assert (a.node.batcher.committed - on_a, b.node.batcher.committed - on_b) == (4, 0)
        frames = [send_frame(cid, f"busy {i}") for i in range(20)]
        for frame in frames:  # pipelined: the conversation turns busy on the fifth send
            await ws_alice.send(frame)
        acks += [await ws_alice.expect("ack") for _ in frames]
        # The first busy send commits on node A and the ones sent while it waits follow it
        # there; then the owner takes over. Order holds across the switch either way.
        assert [x["seq"] for x in acks] == list(range(acks[0]["seq"], acks[0]["seq"] + 24))
        events = [await ws_bob.expect(is_event("message.created")) for _ in acks]
        assert [e["seq"] for e in events] == [x["seq"] for x in acks]
        assert a.node.batcher.committed - on_a + b.node.batcher.committed - on_b == 24
        # Once A's own sends have landed, a busy conversation's next send goes to its owner
        # (a threshold of 1: busy whatever time the burst took on a slow machine).
        a.rt.settings.send_routing_min_rate = 1
        on_b = b.node.batcher.committed
        await ws_alice.send(send_frame(cid, "to the owner"))
        await ws_alice.expect("ack")
        assert b.node.batcher.committed == on_b + 1
    finally:
        await ws_alice.close()
        await ws_bob.close()
        await api.aclose()
