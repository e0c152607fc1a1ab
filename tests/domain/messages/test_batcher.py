"""Group commit keeps the delivery contract: gap-free seq under concurrency, idempotency across
nodes, per-send outcomes inside one batch."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Server, make_settings
from tests.helpers import Ws, create_conversation, signup
from tipline.app import build_runtime
from tipline.domain.messages.actions import do_send_message
from tipline.domain.messages.schemas import Ack, SendRequest
from tipline.errors import DomainError
from tipline.node import Node


async def send_now(node: Node, **send: Any) -> Ack:
    """Send through the action both transports use, and wait for the commit."""
    return await (await do_send_message(node.rt, node.router, SendRequest(**send), ip="127.0.0.1"))


async def seq_report(database_url: str, conversation_id: int) -> tuple[int, list[int]]:
    db = await asyncpg.connect(database_url)
    try:
        last = await db.fetchval("SELECT last_seq FROM conversations WHERE id = $1", conversation_id)
        seqs = [
            r[0]
            for r in await db.fetch(
                "SELECT seq FROM messages WHERE conversation_id = $1 "
                "UNION ALL SELECT seq FROM conversation_events WHERE conversation_id = $1 ORDER BY 1",
                conversation_id,
            )
        ]
    finally:
        await db.close()
    return int(last), seqs


async def test_twenty_concurrent_senders_thousand_messages_gap_free(api: httpx.AsyncClient, server: Server) -> None:
    owner = await signup(api)
    senders = [await signup(api) for _ in range(20)]
    cid = (await create_conversation(api, owner, "group", senders))["id"]
    sockets = [await Ws.open(server.ws_url, s) for s in senders]

    async def sender(ws: Ws, n: int) -> list[dict[str, object]]:
        for i in range(n):
            await ws.send({"type": "send", "conversation_id": cid, "client_msg_id": f"m{i}", "body": f"msg {i}"})
        return [await ws.expect("ack", timeout=30) for _ in range(n)]

    results = await asyncio.gather(*(sender(ws, 50) for ws in sockets))
    acks = [a for r in results for a in r]
    assert len(acks) == 1000
    ack_seqs = sorted(int(a["seq"]) for a in acks)  # type: ignore[call-overload]
    assert len(set(ack_seqs)) == 1000  # no duplicate
    last, seqs = await seq_report(server.database_url, cid)
    assert seqs == list(range(1, last + 1))  # no gap, no duplicate, across messages and events
    # Each sender's own messages kept the order it sent them in.
    for result in results:
        by_key = {a["client_msg_id"]: a["seq"] for a in result}
        mine = [by_key[f"m{i}"] for i in range(50)]
        assert mine == sorted(mine)
    for ws in sockets:
        await ws.close()


@pytest.fixture
async def second_node(server: Server) -> AsyncIterator[Node]:
    """Another app node on the same database (its own engine and batcher)."""
    rt2 = build_runtime(make_settings(), database_url=server.database_url, jwt_key=secrets.token_bytes(64))
    node2 = Node.build(rt2, None)
    await rt2.bus.start(node2.hub.handle)
    node2.batcher.start()
    yield node2
    await node2.batcher.stop()
    await rt2.engine.dispose()


async def test_two_nodes_share_one_gap_free_sequence(api: httpx.AsyncClient, server: Server, second_node: Node) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]

    async def burst(rt: Node, user_id: int, tag: str) -> list[int]:
        acks = await asyncio.gather(
            *(
                send_now(
                    rt,
                    user_id=user_id,
                    conversation_id=cid,
                    client_msg_id=f"{tag}{i}",
                    body=f"{tag} {i}",
                    reply_to=None,
                )
                for i in range(200)
            )
        )
        return [a.seq for a in acks]

    a, b = await asyncio.gather(burst(server.node, alice.id, "a"), burst(second_node, bob.id, "b"))
    assert len(set(a) | set(b)) == 400
    last, seqs = await seq_report(server.database_url, cid)
    assert seqs == list(range(1, last + 1))


async def test_same_client_msg_id_through_two_nodes_is_one_message(
    api: httpx.AsyncClient, server: Server, second_node: Node
) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    key = uuid.uuid4().hex

    def send(rt: Node) -> asyncio.Future[object]:
        return asyncio.ensure_future(
            send_now(rt, user_id=alice.id, conversation_id=cid, client_msg_id=key, body="hi", reply_to=None)
        )

    acks = await asyncio.gather(*(send(rt) for rt in (server.node, second_node, server.node, second_node)))
    assert len({a.message_id for a in acks}) == 1  # type: ignore[attr-defined]
    assert sum(not a.duplicate for a in acks) == 1  # type: ignore[attr-defined]
    history = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()["messages"]
    assert len(history) == 1


async def test_one_bad_send_does_not_fail_its_batch(api: httpx.AsyncClient, server: Server) -> None:
    alice, outsider = await signup(api), await signup(api)
    open_conv = (await create_conversation(api, alice, "group"))["id"]
    archived = (await create_conversation(api, alice, "group"))["id"]
    await api.post(f"/conversations/{archived}/archive", headers=alice.headers)
    calls = [
        (alice.id, open_conv, "ok-1"),
        (alice.id, archived, "archived"),
        (outsider.id, open_conv, "not-member"),
        (alice.id, 10**12, "no-such-conversation"),
        (alice.id, open_conv, "ok-2"),
        (alice.id, open_conv, "ok-1"),  # the same send twice inside one batch
    ]
    results = await asyncio.gather(
        *(
            send_now(server.node, user_id=u, conversation_id=c, client_msg_id=k, body=k, reply_to=None)
            for u, c, k in calls
        ),
        return_exceptions=True,
    )
    codes = [r.code if isinstance(r, DomainError) else "ack" for r in results]
    assert codes == ["ack", "conversation_archived", "not_found", "not_found", "ack", "ack"]
    assert results[0].message_id == results[5].message_id  # type: ignore[union-attr]
    assert results[5].duplicate is True  # type: ignore[union-attr]
    history = (await api.get(f"/conversations/{open_conv}/messages", headers=alice.headers)).json()["messages"]
    assert [m["body"] for m in history] == ["ok-1", "ok-2"]


async def test_batches_of_any_size_look_keys_up_with_the_same_statements(
    api: httpx.AsyncClient, server: Server
) -> None:
    """One statement text per lookup whatever the batch size, so it stays prepared and planned."""
    from sqlalchemy import event

    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    def send(i: int) -> Any:
        return send_now(
            server.node, user_id=alice.id, conversation_id=cid, client_msg_id=f"k{i}", body="hi", reply_to=None
        )

    sync_engine = server.rt.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        await send(0)
        lone = [s for s in statements if "unnest(" in s and s.lstrip().upper().startswith("SELECT")]
        statements.clear()
        acks = await asyncio.gather(*(send(i) for i in range(1, 41)))
        many = [s for s in statements if "unnest(" in s and s.lstrip().upper().startswith("SELECT")]
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert len({a.seq for a in acks}) == 40
    # the client_msg_id lookup and the membership check
    assert len(lone) == 2 and set(many) == set(lone), (lone, many)


async def test_a_batch_costs_a_constant_number_of_queries(api: httpx.AsyncClient, server: Server) -> None:
    """Group commit: 50 sends into 10 conversations run as one transaction of a few statements."""
    from sqlalchemy import event

    alice = await signup(api)
    convs = [(await create_conversation(api, alice, "group"))["id"] for _ in range(10)]
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sync_engine = server.rt.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(
            *(
                send_now(
                    server.node,
                    user_id=alice.id,
                    conversation_id=convs[i % 10],
                    client_msg_id=f"q{i}",
                    body=f"hello @{alice.handle}",
                    reply_to=None,
                )
                for i in range(50)
            )
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "SELECT"))]
    # lock, existing ids, memberships, mentions, insert, last_seq update: per batch, not per send.
    assert server.node.batcher.batches >= 1
    assert len(writes) <= 6 * 2, writes
