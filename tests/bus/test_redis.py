"""RedisBus against a real Redis: two buses in one process stand for two app nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.bus.cluster import redis_server
from tests.bus.redis_helpers import (
    REDIS_URL,
    BlackHoleProxy,
    Inbox,
    eventually,
    kill_clients,
    numsub,
    unique_prefix,
)
from tipline.bus.redis import BUNDLE_MAX_BYTES, RedisBus, bundle, unbundle


@dataclass
class Node:
    bus: RedisBus
    inbox: Inbox


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node]]:
    prefix = unique_prefix()
    pair = (
        Node(RedisBus(REDIS_URL, channel_prefix=prefix), Inbox()),
        Node(RedisBus(REDIS_URL, channel_prefix=prefix), Inbox()),
    )
    for node in pair:
        await node.bus.start(node.inbox)
        assert node.bus.healthy()
    yield pair
    for node in pair:
        await node.bus.close()


async def test_a_message_reaches_every_subscribed_node_once(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    a.bus.subscribe("c:1")
    b.bus.subscribe("c:1")
    await a.bus.publish("c:1", b"Ehello")
    await b.inbox.wait_for(1)
    await a.inbox.wait_for(1)
    await asyncio.sleep(0.05)
    assert a.inbox.items == [("c:1", b"Ehello")]
    assert b.inbox.items == [("c:1", b"Ehello")]
    assert await numsub(REDIS_URL, a.bus.channel_prefix + "c:1") == 2


async def test_only_subscribed_topics_are_delivered(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    b.bus.subscribe("c:1")
    await b.bus.publish("c:1", b"own")  # settles b's subscription
    await b.inbox.wait_for(1)
    for topic in ("c:2", "u:1", "c:1", "c:10"):
        await a.bus.publish(topic, topic.encode())
    await b.inbox.wait_for(2)
    await asyncio.sleep(0.05)
    assert b.inbox.items == [("c:1", b"own"), ("c:1", b"c:1")]
    assert a.inbox.items == []


async def test_unsubscribe_stops_delivery(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    channel = a.bus.channel_prefix + "c:1"
    b.bus.subscribe("c:1")
    await b.bus.publish("c:1", b"1")
    await b.inbox.wait_for(1)
    b.bus.unsubscribe("c:1")
    # Nothing more is handed over from the moment unsubscribe() returns...
    await a.bus.publish("c:1", b"2")
    # ...and the node leaves the channel on the server.
    await eventually(lambda: not b.bus._changed)
    for _ in range(200):
        if await numsub(REDIS_URL, channel) == 0:
            break
        await asyncio.sleep(0.01)
    assert await numsub(REDIS_URL, channel) == 0
    await a.bus.publish("c:1", b"3")
    await asyncio.sleep(0.1)
    assert b.inbox.payloads() == [b"1"]


async def test_own_publish_right_after_subscribe_is_never_missed(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    # Each topic is new: without waiting for SUBSCRIBE to be confirmed, the PUBLISH on the
    # other connection would often overtake it and the message would be lost.
    for i in range(300):
        a.bus.subscribe(f"c:{i}")
        await a.bus.publish(f"c:{i}", str(i).encode())
    await a.inbox.wait_for(300)
    assert a.inbox.items == [(f"c:{i}", str(i).encode()) for i in range(300)]


async def test_1000_messages_keep_their_order_per_topic_per_publisher(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    topics = ["c:1", "c:2"]
    for node in nodes:
        for topic in topics:
            node.bus.subscribe(topic)

    async def publish_all(node: Node, name: str) -> None:
        for i in range(1000):
            await node.bus.publish(topics[i % 2], f"{name}:{i}".encode())

    await asyncio.gather(publish_all(a, "a"), publish_all(b, "b"))
    for node in nodes:
        await node.inbox.wait_for(2000, timeout=10)
        for topic in topics:
            for publisher in ("a", "b"):
                got = [int(p.split(b":")[1]) for p in node.inbox.payloads(topic) if p.startswith(publisher.encode())]
                assert got == [i for i in range(1000) if topics[i % 2] == topic]


def count_pipelined(bus: RedisBus, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of commands in each pipeline the bus's publishing client executes from now on."""
    client: Any = bus._client
    commands: list[int] = []
    original = client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = original(*args, **kwargs)
        execute = pipe.execute

        async def counted(*eargs: Any, **ekwargs: Any) -> Any:
            commands.append(len(pipe.command_stack))
            return await execute(*eargs, **ekwargs)

        pipe.execute = counted
        return pipe

    monkeypatch.setattr(client, "pipeline", counting_pipeline)
    return commands


def test_consecutive_payloads_of_one_topic_travel_as_one_message() -> None:
    items = [("c:1", b"E1"), ("c:1", b"S2"), ("c:2", b"E3"), ("c:1", b"E4"), ("c:1", b"B5"), ("u:1", b"B6")]
    messages = bundle(items)
    # Runs of one topic are merged; order is kept across topics; a lone payload starting with
    # B is wrapped so that it cannot be read as a bundle.
    assert [topic for topic, _ in messages] == ["c:1", "c:2", "c:1", "u:1"]
    assert messages[1] == ("c:2", b"E3")
    assert [p for _, m in messages for p in unbundle(m)] == [p for _, p in items]
    assert unbundle(messages[3][1]) == [b"B6"]
    big = [("c:9", b"E" + bytes(BUNDLE_MAX_BYTES // 3 - 9)) for _ in range(7)]
    split = bundle(big)
    assert len(split) == 3 and all(len(m) <= BUNDLE_MAX_BYTES + 64 for _, m in split)
    assert [p for _, m in split for p in unbundle(m)] == [p for _, p in big]
    assert bundle([]) == []


async def test_a_group_commits_events_are_one_redis_message_and_arrive_one_by_one(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    for topic in ("c:1", "c:2"):
        b.bus.subscribe(topic)
    await b.bus.publish("c:1", b"Bready")  # a payload starting with B, published alone
    await b.inbox.wait_for(1)
    assert b.inbox.items == [("c:1", b"Bready")]
    commands = count_pipelined(a.bus, monkeypatch)
    items = [("c:1", f"E{i}".encode()) for i in range(300)] + [("c:2", f"S{i}".encode()) for i in range(300)]
    await a.bus.publish_many(items)
    assert commands == [2]
    await b.inbox.wait_for(601)
    assert b.inbox.items[1:] == items


async def test_publish_many_is_one_pipelined_round_trip_in_order(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    for topic in ("c:1", "c:2", "u:7"):
        b.bus.subscribe(topic)
    await b.bus.publish("c:1", b"ready")
    await b.inbox.wait_for(1)
    executed = count_pipelined(a.bus, monkeypatch)

    async def no_single_publish(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("publish_many must not publish one by one")

    monkeypatch.setattr(a.bus._client, "publish", no_single_publish)
    items = [(("c:1", "c:2", "u:7")[i % 3], f"{i}".encode()) for i in range(600)]
    await a.bus.publish_many(items)
    await a.bus.publish_many([])
    assert executed == [600]
    await b.inbox.wait_for(601)
    assert b.inbox.items[1:] == items


async def test_each_message_once_per_node_through_interest_churn(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    channel = a.bus.channel_prefix + "c:1"
    # Sockets joining and leaving: the hub subscribes and unsubscribes many times.
    for _ in range(100):
        b.bus.subscribe("c:1")
        b.bus.unsubscribe("c:1")
        b.bus.subscribe("c:1")
    for i in range(50):
        b.bus.subscribe("c:1")  # the same interest again, applied or not
        b.bus.subscribe(f"c:churn{i}")
        b.bus.unsubscribe(f"c:churn{i}")
        await b.bus.publish("c:1", f"b{i}".encode())
        await asyncio.sleep(0)
        await a.bus.publish("c:1", f"a{i}".encode())
    await b.inbox.wait_for(100)
    await asyncio.sleep(0.1)
    payloads = b.inbox.payloads("c:1")
    assert len(payloads) == 100 and len(set(payloads)) == 100
    assert [p for p in payloads if p.startswith(b"b")] == [f"b{i}".encode() for i in range(50)]
    assert await numsub(REDIS_URL, channel) == 1
    assert await numsub(REDIS_URL, a.bus.channel_prefix + "c:churn3") == 0


async def test_handler_errors_do_not_stop_delivery() -> None:
    prefix = unique_prefix()
    seen: list[bytes] = []

    def handler(topic: str, payload: bytes) -> None:
        seen.append(payload)
        if payload == b"boom":
            raise RuntimeError("handler bug")

    bus = RedisBus(REDIS_URL, channel_prefix=prefix)
    await bus.start(handler)
    try:
        bus.subscribe("c:1")
        await bus.publish("c:1", b"boom")
        await bus.publish("c:1", b"after")
        await eventually(lambda: seen == [b"boom", b"after"])
        assert bus.healthy()
    finally:
        await bus.close()


async def test_killed_connections_are_noticed_and_restored(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    prefix = a.bus.channel_prefix
    # A node whose reconnect waits long enough for the test to see it down.
    b = Node(RedisBus(REDIS_URL, channel_prefix=prefix, reconnect_min_s=0.3), Inbox())
    await b.bus.start(b.inbox)
    reconnected: list[bool] = []
    b.bus.on_reconnect(lambda: reconnected.append(b.bus.healthy()))
    try:
        b.bus.subscribe("c:1")
        b.bus.subscribe("u:1")
        b.bus.subscribe("c:gone")
        await b.bus.publish("c:1", b"before")
        await b.inbox.wait_for(1)

        assert await kill_clients(REDIS_URL, b.bus.client_name) >= 1
        await eventually(lambda: not b.bus.healthy(), timeout=2)
        assert reconnected == []
        # Interest changes while down are applied on reconnect.
        b.bus.unsubscribe("c:gone")
        b.bus.subscribe("c:new")
        await eventually(b.bus.healthy, timeout=5)
        # The callbacks run once, after the subscriptions are back in place.
        assert reconnected == [True]
        for topic, expected in (("c:1", 1), ("u:1", 1), ("c:new", 1), ("c:gone", 0)):
            assert await numsub(REDIS_URL, prefix + topic) == expected, topic
        for topic in ("c:1", "u:1", "c:new", "c:gone"):
            await a.bus.publish(topic, f"after {topic}".encode())
        await b.inbox.wait_for(4)
        await asyncio.sleep(0.05)
        assert b.inbox.items == [
            ("c:1", b"before"),
            ("c:1", b"after c:1"),
            ("u:1", b"after u:1"),
            ("c:new", b"after c:new"),
        ]

        # The publishing side recovers from a killed pooled connection by itself.
        assert await kill_clients(REDIS_URL, a.bus.client_name) >= 1
        await a.bus.publish("c:1", b"again")
        await b.inbox.wait_for(5)
        assert b.inbox.items[-1] == ("c:1", b"again")
        assert a.bus.publish_errors == 0
    finally:
        await b.bus.close()


async def test_a_redis_outage_is_survived_at_most_once() -> None:
    async with redis_server() as server:
        prefix = unique_prefix()
        a = Node(RedisBus(server.url, channel_prefix=prefix, reconnect_max_s=0.2, timeout_s=0.5), Inbox())
        b = Node(RedisBus(server.url, channel_prefix=prefix, reconnect_max_s=0.2, timeout_s=0.5), Inbox())
        for node in (a, b):
            await node.bus.start(node.inbox)
        reconnected: list[str] = []
        b.bus.on_reconnect(lambda: reconnected.append("b"))
        try:
            b.bus.subscribe("c:1")
            await b.bus.publish("c:1", b"up")
            await b.inbox.wait_for(1)

            await server.stop()
            await eventually(lambda: not b.bus.healthy() and not a.bus.healthy(), timeout=2)
            # Published while down: lost (at most once), and never raised to the caller.
            await a.bus.publish("c:1", b"lost")
            # After one failure, publishes are dropped at once until the bus is back.
            started = time.monotonic()
            await a.bus.publish_many([("c:1", b"lost too"), ("c:2", b"lost three")])
            await a.bus.publish("c:1", b"lost four")
            # No connect attempt per publish (each would wait for Redis): far under one attempt's timeout.
            assert time.monotonic() - started < 1.0
            assert a.bus.publish_errors == 4

            await server.start()
            await eventually(lambda: b.bus.healthy() and a.bus.healthy(), timeout=5)
            assert reconnected == ["b"]
            await a.bus.publish("c:1", b"back")
            await b.inbox.wait_for(2)
            assert b.inbox.payloads() == [b"up", b"back"]
        finally:
            for node in (a, b):
                await node.bus.close()


async def test_start_does_not_wait_forever_for_redis() -> None:
    async with redis_server() as server:
        await server.stop()
        bus = RedisBus(server.url, channel_prefix=unique_prefix(), start_timeout_s=0.3, reconnect_max_s=0.2)
        inbox = Inbox()
        reconnected: list[bool] = []
        bus.on_reconnect(lambda: reconnected.append(True))
        await bus.start(inbox)
        try:
            assert not bus.healthy()
            bus.subscribe("c:1")
            await server.start()
            await eventually(bus.healthy, timeout=5)
            # Sockets may have connected meanwhile: they are told to check for gaps.
            assert reconnected == [True]
            await bus.publish("c:1", b"x")
            await inbox.wait_for(1)
        finally:
            await bus.close()


async def test_a_connection_gone_silent_is_found_by_the_heartbeat() -> None:
    host, port = "127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    proxy = BlackHoleProxy(host, port)
    await proxy.start()
    prefix = unique_prefix()
    a = Node(RedisBus(REDIS_URL, channel_prefix=prefix), Inbox())
    b = Node(RedisBus(proxy.url, channel_prefix=prefix, ping_interval_s=0.1, reconnect_min_s=0.2), Inbox())
    reconnected: list[bool] = []
    b.bus.on_reconnect(lambda: reconnected.append(True))
    for node in (a, b):
        await node.bus.start(node.inbox)
    try:
        b.bus.subscribe("c:1")
        await b.bus.publish("c:1", b"before")
        await b.inbox.wait_for(1)
        proxy.silence()  # no FIN, no RST: the socket just stops carrying anything
        await eventually(lambda: not b.bus.healthy(), timeout=2)
        await eventually(lambda: reconnected == [True], timeout=5)
        await a.bus.publish("c:1", b"after")
        await b.inbox.wait_for(2)
        assert b.inbox.payloads() == [b"before", b"after"]
    finally:
        for node in (a, b):
            await node.bus.close()
        await proxy.close()


async def test_settle_waits_until_other_nodes_publishes_reach_new_subscriptions(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    for round_ in range(50):
        topic = f"c:settle{round_}"
        b.bus.subscribe(topic)
        await b.bus.settle()
        # Once settle() returned, even another node's publish is delivered.
        await a.bus.publish(topic, b"x")
    await b.inbox.wait_for(50)
    assert [t for t, _ in b.inbox.items] == [f"c:settle{i}" for i in range(50)]


async def test_publish_counted_says_how_many_nodes_each_message_reached(nodes: tuple[Node, Node]) -> None:
    """Send routing forwards with it: 0 for a node's topic means that node is gone."""
    a, b = nodes
    b.bus.subscribe("n:b")
    await b.bus.settle()
    counts = await a.bus.publish_counted([("n:b", b"Fone"), ("n:gone", b"Ftwo"), ("n:b", b"Fthree")])
    assert counts == [1, 0, 1]
    await b.inbox.wait_for(2)
    assert b.inbox.items == [("n:b", b"Fone"), ("n:b", b"Fthree")]


async def test_publish_counted_reports_nothing_reached_while_redis_is_unreachable() -> None:
    bus = RedisBus("redis://127.0.0.1:1", channel_prefix=unique_prefix())
    assert await bus.publish_counted([("n:x", b"F")]) == [0]
