"""Multi-node behaviour with real processes: `tipline cluster --nodes 3 --redis-cluster`, three
`tipline serve` processes behind HAProxy on a real 3-shard Redis Cluster (sharded pub/sub,
presence, rate limits and the message cache all on the cluster). The same command on one
standalone Redis carries the chaos tests (tests/integration/test_chaos.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import psutil
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.bus.cluster import redis_cluster
from tests.bus.redis_helpers import numsub
from tests.helpers import PASSWORD, User, Ws, create_conversation, is_event, send_http, signup
from tests.integration.cluster_proc import ClusterProc, running_cluster

SEND_LIMIT = 40  # per user per 60 s, shared by the nodes through Redis
SIGNIN_LIMIT = 30  # per IP; over 3000 s, so that nothing refills while a test makes its attempts


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[ClusterProc]:
    async with (
        redis_cluster(3) as shards,
        running_cluster(3, redis_url=shards.url, redis_cluster=True, RATE_SEND_PER_USER=f"{SEND_LIMIT}/60") as c,
    ):
        assert c.redis_url == shards.url
        yield c


def send_frame(cid: int, body: str, cmid: str | None = None) -> dict[str, object]:
    return {"type": "send", "conversation_id": cid, "client_msg_id": cmid or uuid.uuid4().hex, "body": body}


async def group(api: httpx.AsyncClient, n: int) -> tuple[list[User], int]:
    users = [await signup(api) for _ in range(n)]
    cid = (await create_conversation(api, users[0], "group", users[1:]))["id"]
    return users, int(cid)


async def test_haproxy_serves_http_and_websockets_with_health_checks(cluster: ClusterProc) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as api:
        assert (await api.get("/readyz")).status_code == 200
        (alice, bob), cid = await group(api, 2)
        ws_a, ws_b = await Ws.open(cluster.ws_url, alice), await Ws.open(cluster.ws_url, bob)
        try:
            await ws_a.send(send_frame(cid, "through the load balancer"))
            ack = await ws_a.expect("ack")
            assert (await ws_b.expect(is_event("message.created")))["seq"] == ack["seq"]
        finally:
            await ws_a.close()
            await ws_b.close()


async def test_cross_node_delivery(cluster: ClusterProc) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as api:
        users, cid = await group(api, 3)
        sockets = [await Ws.open(node.ws_url, u) for node, u in zip(cluster.nodes, users, strict=True)]
        try:
            for i, ws in enumerate(sockets):
                await ws.send(send_frame(cid, f"from node {i + 1}"))
                await ws.expect("ack")
            for ws in sockets:
                got = [f for f in await ws.collect(0.5) if f.get("event") == "message.created"]
                got += [f for f in ws.buffer if f.get("event") == "message.created"]
                bodies = [f["data"]["body"] for f in got]
                # Every member, on every node, gets all three once and in seq order.
                assert bodies == ["from node 1", "from node 2", "from node 3"], bodies
        finally:
            for ws in sockets:
                await ws.close()


async def test_same_client_msg_id_through_different_nodes_is_one_message(cluster: ClusterProc) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as api:
        (alice, _), cid = await group(api, 2)
    cmid = uuid.uuid4().hex
    clients = [httpx.AsyncClient(base_url=n.url, timeout=10) for n in cluster.nodes]
    try:
        replies = await asyncio.gather(
            *(send_http(c, alice, cid, "once", client_msg_id=cmid) for c in clients for _ in range(3))
        )
    finally:
        for c in clients:
            await c.aclose()
    assert all(r.status_code == 201 for r in replies), [r.text for r in replies]
    assert len({(r.json()["message_id"], r.json()["seq"]) for r in replies}) == 1
    assert sum(not r.json()["duplicate"] for r in replies) == 1
    db = await asyncpg.connect(cluster.database_url)
    try:
        assert await db.fetchval("SELECT count(*) FROM messages WHERE client_msg_id = $1", cmid) == 1
    finally:
        await db.close()


async def test_resume_on_a_different_node(cluster: ClusterProc) -> None:
    first, other = cluster.nodes[0], cluster.nodes[2]
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as api:
        (alice, bob), cid = await group(api, 2)
        ws = await Ws.open(first.ws_url, bob)
        await send_http(api, alice, cid, "seen live")
        last = (await ws.expect(is_event("message.created")))["seq"]
        await ws.close()
        missed = [(await send_http(api, alice, cid, f"missed {i}")).json()["seq"] for i in range(5)]
        edited = (await send_http(api, alice, cid, "to edit")).json()["message_id"]
        await api.patch(f"/messages/{edited}", headers=alice.headers, json={"body": "edited while away"})
    ws = await Ws.open(other.ws_url, bob)
    try:
        await ws.send({"type": "resume", "since": {str(cid): last}})
        resumed = await ws.expect("resumed")
        frames = [f for f in ws.buffer if f.get("type") == "event"]
        created = [f["seq"] for f in frames if f["event"] == "message.created"]
        assert created[:5] == missed and len(created) == 6
        assert [f["data"]["body"] for f in frames if f["event"] == "message.created"][-1] == "edited while away"
        assert any(f["event"] == "message.edited" for f in frames)
        assert resumed["last_seq"] == frames[-1]["seq"]
    finally:
        await ws.close()


async def test_presence_across_nodes(cluster: ClusterProc) -> None:
    a, b, c = cluster.nodes
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as api:
        (alice, bob), _ = await group(api, 2)

        def of_alice(frame: dict[str, object]) -> bool:
            return frame.get("type") == "presence" and frame.get("user_id") == alice.id

        watcher = await Ws.open(c.ws_url, bob)
        on_a = await Ws.open(a.ws_url, alice)
        assert (await watcher.expect(of_alice))["status"] == "online"
        on_b = await Ws.open(b.ws_url, alice)  # a second node: online once
        assert not [f for f in await watcher.collect(0.5) if of_alice(f)]
        await on_a.close()
        assert not [f for f in await watcher.collect(0.5) if of_alice(f)]
        r = await api.get("/presence", params={"ids": str(alice.id)}, headers=bob.headers)
        assert r.json() == {str(alice.id): "online"}
        await on_b.close()
        assert (await watcher.expect(of_alice))["status"] == "offline"
        await watcher.close()


async def test_send_rate_limit_holds_across_nodes(cluster: ClusterProc) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as api:
        (alice, _), cid = await group(api, 2)
    clients = [httpx.AsyncClient(base_url=n.url, timeout=10) for n in cluster.nodes]
    try:
        started = time.monotonic()
        replies = await asyncio.gather(
            *(send_http(clients[i % 3], alice, cid, f"burst {i}") for i in range(2 * SEND_LIMIT))
        )
        elapsed = time.monotonic() - started
    finally:
        for c in clients:
            await c.aclose()
    accepted = sum(r.status_code == 201 for r in replies)
    limited = [r for r in replies if r.status_code == 429]
    others = [(r.status_code, r.text[:200]) for r in replies if r.status_code not in (201, 429)]
    assert accepted + len(limited) == 2 * SEND_LIMIT, others
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    # The limit, plus what refills while the burst runs, whichever node each call hit.
    allowed = SEND_LIMIT + elapsed * SEND_LIMIT / 60
    assert abs(accepted - allowed) <= 0.1 * SEND_LIMIT, (accepted, allowed)


async def test_the_nodes_use_sharded_pubsub_on_the_redis_cluster(cluster: ClusterProc) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as api:
        users, cid = await group(api, 3)
        sockets = [await Ws.open(node.ws_url, u) for node, u in zip(cluster.nodes, users, strict=True)]
        try:
            channel = f"{cluster.bus_prefix}c:{cid}"
            counts = []
            for shard in await redis_shards(cluster.redis_url):
                counts.append(await numsub(shard, channel, sharded=True))
            # All three nodes subscribed on the shard that owns the conversation's channel.
            assert sorted(counts)[-1] == 3 and sum(counts) == 3
            await sockets[0].send(send_frame(cid, "sharded"))
            ack = await sockets[0].expect("ack")
            for ws in sockets[1:]:
                assert (await ws.expect(is_event("message.created")))["seq"] == ack["seq"]
        finally:
            for ws in sockets:
                await ws.close()


async def redis_shards(url: str) -> list[str]:
    client = Redis.from_url(url)
    try:
        nodes = (await client.execute_command("CLUSTER", "NODES")).decode()
    finally:
        await client.aclose()
    return [f"redis://{line.split()[1].split('@')[0]}" for line in nodes.splitlines() if "master" in line]


async def test_a_spoofed_x_forwarded_for_neither_dodges_the_ip_limit_nor_lands_in_a_session() -> None:
    """The attack of issue 18 (item 4): behind a load balancer that appends the client's address
    to X-Forwarded-For (HAProxy set up as an AWS ALB behaves), a client writes its own entries
    first, new ones on every attempt. The node takes the address its one trusted hop appended
    (FORWARDED_TRUSTED_HOPS=1; the AWS stack trusts CloudFront and the ALB, 2, the same way): the
    per-IP sign-in limit stops the client at the same attempt as without the header, and its
    sessions record its real address. Clients connect from 127.0.0.x addresses of their own, so
    the proxy's address (127.0.0.1) is not theirs."""
    async with running_cluster(
        1,
        RATE_SIGNIN_PER_IP=f"{SIGNIN_LIMIT}/3000",
        RATE_SIGNIN_PER_EMAIL="100000/60",
        EMAIL_VERIFICATION="false",
    ) as c:

        def client(source: str, **headers: str) -> httpx.AsyncClient:
            transport = httpx.AsyncHTTPTransport(local_address=source)
            return httpx.AsyncClient(base_url=c.url, transport=transport, headers=headers, timeout=30)

        async def sign_ins(api: httpx.AsyncClient, *, spoof: bool) -> list[int]:
            codes = []
            for i in range(SIGNIN_LIMIT + 10):
                headers = {"X-Forwarded-For": f"203.0.113.{i}, 198.51.100.{i}"} if spoof else {}
                body = {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
                codes.append((await api.post("/auth/signin", headers=headers, json=body)).status_code)
            return codes

        async with client("127.0.0.2") as plain_api, client("127.0.0.3") as spoofing_api:
            plain = await sign_ins(plain_api, spoof=False)
            spoofed = await sign_ins(spoofing_api, spoof=True)
        assert plain == [401] * SIGNIN_LIMIT + [429] * 10, plain
        assert spoofed == plain, spoofed

        async with client("127.0.0.4", **{"X-Forwarded-For": "203.0.113.99"}) as api:
            alice = await signup(api)
            r = await api.post("/auth/signin", json={"email": alice.email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            sessions = (await api.get("/me/sessions", headers=alice.headers)).json()
        assert [s["ip"] for s in sessions] == ["127.0.0.4", "127.0.0.4"], sessions


def cluster_redis(c: ClusterProc) -> psutil.Process:
    """The redis-server the cluster's supervisor started (the test's own Redis is no child of it)."""
    found = [p for p in c.children() if p.name() == "redis-server"]
    assert len(found) == 1, found
    return found[0]


async def redis_answers(url: str, within: float) -> float:
    """Seconds until PING at ``url`` answers."""
    started = time.monotonic()
    while True:
        client = Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            with contextlib.suppress(RedisError):
                if await client.ping():
                    return time.monotonic() - started
        finally:
            await client.aclose()
        assert time.monotonic() - started < within, f"Redis at {url} did not answer within {within} s"
        await asyncio.sleep(0.05)


async def test_the_cluster_restarts_its_redis_and_keeps_delivering(capfd: pytest.CaptureFixture[str]) -> None:
    """Issue 16 (item 5): kill -9 the Redis that `tipline cluster` started. The cluster keeps
    running, the supervisor starts Redis again on the same port (PING answers within seconds)
    and its log says so; the sockets opened through HAProxy stay open and get `sync`, and a
    message sent through HAProxy after Redis is back reaches the other member's socket, on the
    other node, live."""
    async with running_cluster(2) as c:
        async with httpx.AsyncClient(base_url=c.url, timeout=10) as api:
            (alice, bob), cid = await group(api, 2)
        # Least connections, and no other connection open: one socket on each node.
        ws_a, ws_b = await Ws.open(c.ws_url, alice), await Ws.open(c.ws_url, bob)
        try:
            channel = f"{c.bus_prefix}c:{cid}"
            assert await numsub(c.redis_url, channel) == 2, "the two sockets are not on two nodes"
            old = cluster_redis(c)
            old.send_signal(signal.SIGKILL)
            old.wait(5)

            await redis_answers(c.redis_url, within=10)
            new = cluster_redis(c)
            assert new.pid != old.pid
            assert c.process.poll() is None, "the cluster stopped when its Redis died"
            # Both nodes' buses reconnected and told their sockets to check for gaps.
            for ws in (ws_a, ws_b):
                assert [x["id"] for x in (await ws.expect("sync", timeout=15))["conversations"]] == [cid]
            assert await numsub(c.redis_url, channel) == 2

            await ws_a.send(send_frame(cid, "after Redis came back"))
            ack = await ws_a.expect("ack")
            assert (await ws_b.expect(is_event("message.created", body="after Redis came back")))["seq"] == ack["seq"]

            # HAProxy takes new requests again once the nodes are ready (it checks every second).
            async with httpx.AsyncClient(base_url=c.url, timeout=10) as api:
                for _ in range(100):
                    if (await api.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                sent = await send_http(api, bob, cid, "over HTTP, through HAProxy")
                assert sent.status_code == 201, sent.text
            await ws_a.expect(is_event("message.created", seq=sent.json()["seq"], body="over HTTP, through HAProxy"))

            restarted = [e for e in c.events if e["event"] == "redis_restarted"]
            assert restarted == [
                {"event": "redis_restarted", "pid": new.pid, "old_pid": old.pid, "exit_code": -9, "url": c.redis_url}
            ]
            ready = [e for e in c.events if e["event"] == "redis_ready"]
            assert [(e["pid"], e["url"]) for e in ready] == [(new.pid, c.redis_url)]
        finally:
            await ws_a.close()
            await ws_b.close()
    log = capfd.readouterr().err
    assert f"redis (pid {old.pid}) was killed by SIGKILL" in log, log
    assert f"redis restarted as pid {new.pid} on {c.redis_url}" in log, log
    assert f"redis (pid {new.pid}) answers again" in log, log
