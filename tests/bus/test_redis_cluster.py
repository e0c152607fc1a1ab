"""RedisBus in sharded mode (SPUBLISH / SSUBSCRIBE) against a 3-shard Redis Cluster it starts itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from tests.bus.cluster import RedisClusterProcs, redis_cluster
from tests.bus.redis_helpers import Inbox, eventually, kill_clients, unique_prefix
from tipline.bus.redis import RedisBus


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[RedisClusterProcs]:
    async with redis_cluster(shards=3) as procs:
        yield procs


async def _slot_owners(cluster: RedisClusterProcs) -> dict[int, int]:
    """slot -> port of the primary that owns it."""
    client = Redis.from_url(cluster.url)
    try:
        owners: dict[int, int] = {}
        for start, end, primary, *_ in await client.execute_command("CLUSTER", "SLOTS"):
            for slot in range(start, end + 1):
                owners[slot] = int(primary[1])
        return owners
    finally:
        await client.aclose()


async def _node_ids(cluster: RedisClusterProcs) -> dict[int, str]:
    ids: dict[int, str] = {}
    for node in cluster.nodes:
        client = Redis.from_url(node.url)
        try:
            ids[node.port] = (await client.execute_command("CLUSTER", "MYID")).decode()
        finally:
            await client.aclose()
    return ids


async def _shard_channels(port: int, pattern: str) -> set[str]:
    client = Redis(host="127.0.0.1", port=port)
    try:
        return {c.decode() for c in await client.execute_command("PUBSUB", "SHARDCHANNELS", pattern)}
    finally:
        await client.aclose()


async def test_sharded_delivery_across_nodes_and_shards(cluster: RedisClusterProcs) -> None:
    prefix = unique_prefix()
    # Two app nodes, each seeded with a different cluster node.
    a = RedisBus(cluster.nodes[0].url, sharded=True, channel_prefix=prefix)
    b = RedisBus(cluster.nodes[1].url, sharded=True, channel_prefix=prefix)
    inbox_a, inbox_b = Inbox(), Inbox()
    await a.start(inbox_a)
    await b.start(inbox_b)
    try:
        assert a.healthy() and b.healthy()
        topics = [f"c:{i}" for i in range(24)] + [f"u:{i}" for i in range(6)]
        for topic in topics:
            b.subscribe(topic)
        a.subscribe("c:0")
        await b.publish("c:0", b"settle")  # b's subscriptions are confirmed before its own publish

        # Each channel is subscribed on exactly the primary that owns its hash slot, and the
        # topics are spread over every shard.
        owners = await _slot_owners(cluster)
        placed: dict[int, set[str]] = {}
        for node in cluster.nodes:
            placed[node.port] = {c[len(prefix) :] for c in await _shard_channels(node.port, prefix + "*")}
        assert set().union(*placed.values()) == set(topics)
        for port, chans in placed.items():
            assert chans, f"no topic landed on the shard at port {port}"
            for topic in chans:
                assert owners[key_slot((prefix + topic).encode())] == port

        # Cross-node delivery, in order per topic, single and pipelined.
        for topic in topics:
            await a.publish(topic, f"1 {topic}".encode())
        await a.publish_many([(topic, f"2 {topic}".encode()) for topic in topics])
        await a.publish_many([("c:0", f"3.{i}".encode()) for i in range(100)])
        await inbox_b.wait_for(1 + 2 * len(topics) + 100)
        for topic in topics:
            expected = [f"1 {topic}".encode(), f"2 {topic}".encode()]
            if topic == "c:0":
                expected = [b"settle", *expected, *(f"3.{i}".encode() for i in range(100))]
            assert inbox_b.payloads(topic) == expected
        await inbox_a.wait_for(1 + 2 + 100)
        assert {t for t, _ in inbox_a.items} == {"c:0"}

        # Unsubscribe leaves the shard channel.
        b.unsubscribe("c:5")
        await b.publish("c:6", b"settle again")
        channel_port = owners[key_slot((prefix + "c:5").encode())]
        for _ in range(200):
            if "c:5" not in {c[len(prefix) :] for c in await _shard_channels(channel_port, prefix + "*")}:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("c:5 still subscribed")
        await a.publish("c:5", b"not for b")
        await a.publish("c:6", b"for b")
        await eventually(lambda: inbox_b.payloads("c:6")[-1:] == [b"for b"])
        assert b"not for b" not in inbox_b.payloads()
    finally:
        await a.close()
        await b.close()


async def test_sharded_bus_recovers_when_one_shard_drops_its_connections(cluster: RedisClusterProcs) -> None:
    prefix = unique_prefix()
    a = RedisBus(cluster.url, sharded=True, channel_prefix=prefix)
    b = RedisBus(cluster.url, sharded=True, channel_prefix=prefix, reconnect_min_s=0.3)
    inbox_b = Inbox()
    reconnected: list[bool] = []
    b.on_reconnect(lambda: reconnected.append(b.healthy()))
    await a.start(Inbox())
    await b.start(inbox_b)
    try:
        topics = [f"c:{i}" for i in range(12)]
        for topic in topics:
            b.subscribe(topic)
        await b.publish("c:0", b"settle")
        await inbox_b.wait_for(1)
        # One shard closes this node's connections; the others stay up.
        victim = cluster.nodes[2]
        assert await kill_clients(victim.url, b.client_name) >= 1
        await eventually(lambda: not b.healthy(), timeout=2)
        await eventually(b.healthy, timeout=5)
        assert reconnected == [True]
        await a.publish_many([(topic, topic.encode()) for topic in topics])
        await inbox_b.wait_for(1 + len(topics))
        assert sorted(inbox_b.payloads()[1:]) == sorted(topic.encode() for topic in topics)
    finally:
        await a.close()
        await b.close()


async def test_a_moved_slot_moves_the_subscription(cluster: RedisClusterProcs) -> None:
    prefix = unique_prefix()
    a = RedisBus(cluster.url, sharded=True, channel_prefix=prefix)
    b = RedisBus(cluster.url, sharded=True, channel_prefix=prefix)
    inbox_b = Inbox()
    reconnected: list[bool] = []
    b.on_reconnect(lambda: reconnected.append(True))
    await a.start(Inbox())
    await b.start(inbox_b)
    owners = await _slot_owners(cluster)
    slot = key_slot((prefix + "c:1").encode())
    source = next(n for n in cluster.nodes if n.port == owners[slot])
    target = next(n for n in cluster.nodes if n.port != owners[slot])
    ids = await _node_ids(cluster)
    try:
        b.subscribe("c:1")
        await b.publish("c:1", b"before")
        await inbox_b.wait_for(1)

        # Move the (keyless) slot to another primary, as a resharding would.
        steps = [
            (target, ("IMPORTING", ids[source.port])),
            (source, ("MIGRATING", ids[target.port])),
            *((node, ("NODE", ids[target.port])) for node in (target, source, *cluster.nodes)),
        ]
        for node, args in steps:
            client = Redis.from_url(node.url)
            try:
                await client.execute_command("CLUSTER", "SETSLOT", slot, *args)
            finally:
                await client.aclose()

        # The old owner drops the subscription; the bus resubscribes on the new owner.
        await eventually(lambda: reconnected == [True], timeout=5)
        assert b.healthy()
        assert prefix + "c:1" in await _shard_channels(target.port, prefix + "*")
        await a.publish("c:1", b"after")  # a's client follows the MOVED reply
        await inbox_b.wait_for(2)
        assert inbox_b.payloads() == [b"before", b"after"]
    finally:
        await a.close()
        await b.close()
        # Give the slot back so later tests see the layout the cluster was created with.
        for node in (source, *cluster.nodes):
            client = Redis.from_url(node.url)
            try:
                await client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[source.port])
            finally:
                await client.aclose()
