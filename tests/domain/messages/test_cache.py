"""The recent-message cache against a real Redis: what it serves equals PostgreSQL, it never
serves a stale edit or a deleted message whatever order writes arrive in, it keeps its window,
and history and resume are answered from it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from tests.bus.redis_helpers import REDIS_URL, unique_prefix
from tests.bus.test_redis_nodes import AppNode, start_node, stop_node
from tests.helpers import User, Ws, create_conversation, send_http, signup
from tipline.backends.cache import Entry, Event, RedisMessageCache, stats
from tipline.bus.redis import RedisBus
from tipline.domain.accounts.tokens import decode_access_token
from tipline.domain.messages import actions
from tipline.domain.messages.schemas import page_json
from tipline.runtime import Runtime


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def cache(redis: Redis) -> AsyncIterator[RedisMessageCache]:
    prefix = unique_prefix()
    yield RedisMessageCache(redis, prefix=prefix, keep=5, max_age_s=3600)
    async for key in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(key)


def message(seq: int, body: str, *, deleted: bool = False, reply_to: int | None = None) -> dict[str, Any]:
    return {
        "id": 1000 + seq,
        "conversation_id": 7,
        "seq": seq,
        "sender_id": 1,
        "client_msg_id": f"c{seq}",
        "body": "" if deleted else body,
        "reply_to_id": reply_to,
        "mention_ids": [],
        "created_at": datetime.now(UTC),
        "edited_at": None,
        "deleted": deleted,
        "reactions": [],
        "reply_count": 0,
    }


def entry(m: dict[str, Any], version: int) -> Entry:
    return Entry(message=m, version=version, created_ts=m["created_at"].timestamp())


async def bodies(cache: RedisMessageCache, last_seq: int) -> dict[int, str] | str:
    page = await cache.page(7, last_seq=last_seq, before=None, after=0, limit=100)
    return page if isinstance(page, str) else {m["seq"]: m["body"] for m in page}


async def test_encoded_pages_are_the_decoded_pages(cache: RedisMessageCache) -> None:
    """``encoded_page`` answers what ``page`` answers, as JSON objects, in seq order, for the
    latest page, a page before a seq and a page after one."""
    originals = [message(seq, f"m{seq}", reply_to=1001 if seq in (3, 4) else None) for seq in range(1, 6)]
    await cache.fill(7, version=5, lo=1, entries=[entry(m, 5) for m in originals], events=[])
    for before, after, limit in ((None, None, 3), (4, None, 2), (None, 1, 2), (5, 1, 10)):
        decoded = await cache.page(7, last_seq=5, before=before, after=after, limit=limit)
        encoded = await cache.encoded_page(7, last_seq=5, before=before, after=after, limit=limit)
        assert not isinstance(decoded, str) and not isinstance(encoded, str)
        assert [orjson.loads(e) for e in encoded] == decoded, (before, after, limit)
        assert [m["seq"] for m in decoded] == sorted(m["seq"] for m in decoded)
    # reply_count comes from the cache's own counts, last, as MESSAGE_FIELDS orders it.
    latest = await cache.encoded_page(7, last_seq=5, before=None, after=None, limit=5)
    assert not isinstance(latest, str)
    assert [orjson.loads(e)["reply_count"] for e in latest] == [2, 0, 0, 0, 0]
    assert latest[0].endswith(b',"reply_count":2}')
    assert await cache.encoded_page(7, last_seq=9, before=None, after=None, limit=5) == "stale"


async def test_a_slow_writer_never_replaces_a_newer_state(cache: RedisMessageCache) -> None:
    await cache.fill(7, version=3, lo=1, entries=[entry(message(1, "one"), 3), entry(message(2, "two"), 3)], events=[])
    # The edit at seq 5 arrives before the edit at seq 4 (two nodes, the first one slow).
    await cache.apply(7, seqs=[5], entries=[entry(message(1, "edit at 5"), 5)], events=[])
    assert await bodies(cache, 3) == {1: "edit at 5", 2: "two"}
    # Until seq 4 arrives the cache cannot claim to know seq 5's state of the conversation.
    assert await bodies(cache, 5) == "stale"
    await cache.apply(7, seqs=[4], entries=[entry(message(1, "edit at 4"), 4)], events=[])
    assert await bodies(cache, 5) == {1: "edit at 5", 2: "two"}


async def test_a_fill_from_an_older_snapshot_loses_to_a_newer_write(cache: RedisMessageCache) -> None:
    # A reader took its snapshot at seq 2; meanwhile the message was deleted at seq 3 and written through.
    await cache.apply(7, seqs=[3], entries=[entry(message(1, "", deleted=True), 3)], events=[])
    await cache.fill(7, version=2, lo=1, entries=[entry(message(1, "secret"), 2), entry(message(2, "b"), 2)], events=[])
    page = await cache.page(7, last_seq=3, before=None, after=None, limit=10)
    assert not isinstance(page, str)
    assert [(m["seq"], m["body"], m["deleted"]) for m in page] == [(1, "", True), (2, "b", False)]


async def test_a_lost_write_holds_the_cache_back_until_a_refill(cache: RedisMessageCache) -> None:
    await cache.fill(7, version=1, lo=1, entries=[entry(message(1, "one"), 1)], events=[])
    # The write of seq 2 (say, a node killed after its commit) never comes; seq 3 does.
    await cache.apply(7, seqs=[3], entries=[entry(message(3, "three"), 3)], events=[])
    assert await bodies(cache, 3) == "stale"
    await cache.fill(
        7,
        version=3,
        lo=1,
        entries=[entry(message(s, b), 3) for s, b in ((1, "one"), (2, "two"), (3, "three"))],
        events=[],
    )
    assert await bodies(cache, 3) == {1: "one", 2: "two", 3: "three"}


async def test_reply_counts_follow_replies_and_their_deletion(cache: RedisMessageCache) -> None:
    await cache.fill(7, version=1, lo=1, entries=[entry(message(1, "root"), 1)], events=[])
    await cache.apply(
        7,
        seqs=[2, 3],
        entries=[entry(message(2, "r1", reply_to=1001), 2), entry(message(3, "r2", reply_to=1001), 3)],
        events=[],
    )
    await cache.apply(7, seqs=[4], entries=[entry(message(2, "", deleted=True, reply_to=1001), 4)], events=[])
    page = await cache.page(7, last_seq=4, before=None, after=None, limit=10)
    assert not isinstance(page, str)
    assert page[0]["reply_count"] == 1


async def test_the_window_keeps_the_latest_messages_and_age(cache: RedisMessageCache, redis: Redis) -> None:
    for seq in range(1, 13):
        await cache.apply(7, seqs=[seq], entries=[entry(message(seq, f"m{seq}"), seq)], events=[])
    assert await redis.zcard(cache.keys(7)[0]) == 5
    latest = await cache.page(7, last_seq=12, before=None, after=None, limit=4)
    assert not isinstance(latest, str) and [m["seq"] for m in latest] == [8, 9, 10, 11, 12]
    # Older than the window: the caller must read PostgreSQL.
    assert await cache.page(7, last_seq=12, before=8, after=None, limit=4) == "outside"
    assert await cache.page(7, last_seq=12, before=None, after=2, limit=4) == "outside"
    # Messages older than the age limit leave too.
    old = RedisMessageCache(redis, prefix=cache.keys(7)[0].split("mc:")[0], keep=5, max_age_s=60)
    stale = message(13, "old")
    stale["created_at"] = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 120, UTC)
    await old.apply(7, seqs=[13], entries=[entry(stale, 13)], events=[Event(seq=13, event="x", data={})])
    assert await redis.zcard(cache.keys(7)[0]) == 0


# --- through the app: two nodes on one database, one Redis ---------------------------------


@pytest.fixture
async def nodes(database_url: str) -> AsyncIterator[tuple[AppNode, AppNode]]:
    prefix = unique_prefix()
    jwt_key = secrets.token_bytes(64)
    opts: dict[str, object] = {"redis_url": REDIS_URL, "bus_channel_prefix": prefix, "message_cache_size": 40}
    a = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix), **opts)
    b = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix), **opts)
    try:
        yield a, b
    finally:
        await stop_node(b)
        await stop_node(a)
        client = Redis.from_url(REDIS_URL)
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


@contextlib.asynccontextmanager
async def without_cache(rt: Runtime) -> AsyncIterator[None]:
    cache, rt.cache = rt.cache, None
    try:
        yield
    finally:
        rt.cache = cache


async def history_both_ways(rt: Runtime, user: User, cid: int, **page: Any) -> tuple[Any, Any]:
    hits = stats.hits
    claims = decode_access_token(rt.settings, rt.jwt_key, user.token)
    cached = await actions.get_history(rt, claims=claims, conversation_id=cid, **page)
    served_from_cache = stats.hits > hits
    async with without_cache(rt):
        direct = await actions.get_history(rt, claims=claims, conversation_id=cid, **page)
    # A hit for a reader who hides no one is spliced from the cache's entries, never decoded:
    # the very bytes the database's page encodes to.
    assert page_json(cached) == page_json(direct)
    # Compared as clients get them: the cache's dicts hold times as the strings the JSON carries.
    return (orjson.loads(page_json(cached)), served_from_cache), orjson.loads(page_json(direct))


async def test_concurrent_senders_and_editors_on_two_nodes(nodes: tuple[AppNode, AppNode]) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as api_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as api_b,
    ):
        users = [await signup(api_a) for _ in range(4)]
        cid = (await create_conversation(api_a, users[0], "group", users[1:]))["id"]
        apis = [api_a, api_b]
        mine: dict[int, list[int]] = {u.id: [] for u in users}
        deleted: set[int] = set()
        edited: dict[int, str] = {}
        rng = random.Random(7)
        violations: list[str] = []

        async def writer(user: User) -> None:
            for i in range(15):
                api = rng.choice(apis)
                r = await send_http(api, user, cid, f"{user.handle} {i}")
                assert r.status_code == 201, r.text
                mine[user.id].append(r.json()["message_id"])
                if len(mine[user.id]) > 2 and rng.random() < 0.5:
                    target = rng.choice(mine[user.id][:-1])
                    if target in deleted:
                        continue
                    if rng.random() < 0.3:
                        r = await rng.choice(apis).delete(f"/messages/{target}", headers=user.headers)
                        assert r.status_code == 200, r.text
                        deleted.add(target)
                    else:
                        text = f"edit {uuid.uuid4().hex[:6]}"
                        r = await rng.choice(apis).patch(
                            f"/messages/{target}", headers=user.headers, json={"body": text}
                        )
                        assert r.status_code == 200, r.text
                        edited[target] = text
                    # Read-after-write on the other node: the change is there, never the old state.
                    page = (
                        await rng.choice(apis).get(f"/conversations/{cid}/messages?limit=100", headers=user.headers)
                    ).json()
                    by_id = {m["id"]: m for m in page["messages"]}
                    if target in by_id:
                        got = by_id[target]
                        if target in deleted and not got["deleted"]:
                            violations.append(f"deleted {target} served")
                        if target in edited and target not in deleted and got["body"] != edited[target]:
                            violations.append(f"stale edit of {target}")
                if rng.random() < 0.3:
                    await rng.choice(apis).put(
                        f"/messages/{mine[user.id][-1]}/reactions/%F0%9F%91%8D", headers=user.headers
                    )

        await asyncio.gather(*(writer(u) for u in users))
        assert violations == []
        for page in ({"before": None, "after": None, "limit": 50}, {"before": None, "after": 30, "limit": 20}):
            (cached, _), direct = await history_both_ways(a.rt, users[0], cid, **page)
            assert cached == direct
            assert all(m["body"] == "" for m in cached["messages"] if m["id"] in deleted)


async def test_history_pages_and_resume_are_served_from_the_cache(nodes: tuple[AppNode, AppNode]) -> None:
    a, b = nodes
    async with httpx.AsyncClient(base_url=a.base_url, timeout=30) as api:
        alice, bob = await signup(api), await signup(api)
        cid = (await create_conversation(api, alice, "group", [bob]))["id"]
        ids = []
        for i in range(60):
            r = await send_http(api, alice, cid, f"m{i}", **({"reply_to": ids[0]} if i % 10 == 9 else {}))
            ids.append(r.json()["message_id"])
        await api.patch(f"/messages/{ids[50]}", headers=alice.headers, json={"body": "edited"})
        await api.delete(f"/messages/{ids[55]}", headers=alice.headers)
        await api.put(f"/messages/{ids[52]}/reactions/ok", headers=bob.headers)
        # The latest page, the page before it (partly outside the 40-message window) and after.
        (latest, hit), direct = await history_both_ways(b.rt, bob, cid, before=None, after=None, limit=20)
        assert hit and latest == direct
        first = latest["messages"][0]["seq"]
        (older, _), direct = await history_both_ways(b.rt, bob, cid, before=first, after=None, limit=30)
        assert older == direct
        (newer, hit), direct = await history_both_ways(b.rt, bob, cid, before=None, after=first, limit=5)
        assert hit and newer == direct

        # A reader who blocked the sender gets the same page from the cache (decoded and masked
        # there) as from PostgreSQL.
        assert (await api.put(f"/me/blocks/{alice.id}", headers=bob.headers)).status_code == 200
        (masked, hit), direct = await history_both_ways(b.rt, bob, cid, before=None, after=None, limit=20)
        assert hit and masked == direct
        assert all(m["hidden"] and m["body"] == "" for m in masked["messages"])
        assert (await api.delete(f"/me/blocks/{alice.id}", headers=bob.headers)).status_code == 200

        # Resume on node B from a seq inside the window: the replay comes from the cache.
        since = latest["messages"][2]["seq"]
        hits = stats.hits
        cached = await actions.replay_since(b.rt, user_id=bob.id, conversation_id=cid, since=since)
        assert stats.hits == hits + 1
        async with without_cache(b.rt):
            direct_replay = await actions.replay_since(b.rt, user_id=bob.id, conversation_id=cid, since=since)
        # As the wire carries them (the gateway and HTTP both encode with orjson).
        assert orjson.loads(orjson.dumps(cached.model_dump())) == orjson.loads(orjson.dumps(direct_replay.model_dump()))
        assert {"message.edited", "message.deleted", "reaction.added"} <= {e["event"] for e in cached.events}

        ws = await Ws.open(b.ws_url, bob)
        try:
            await ws.send({"type": "resume", "since": {str(cid): since}})
            await ws.expect("resumed")
        finally:
            await ws.close()
        assert stats.hits == hits + 2

        # A membership change (an event the cache never sees) sends the next read to PostgreSQL once.
        carol = await signup(api)
        r = await api.post(f"/conversations/{cid}/members", headers=alice.headers, json={"user_id": carol.id})
        assert r.status_code in (200, 201), r.text
        misses, fills = stats.misses, stats.fills
        (after_join, _), direct = await history_both_ways(b.rt, bob, cid, before=None, after=None, limit=20)
        assert after_join == direct and stats.misses == misses + 1 and stats.fills == fills + 1
        deleted = next(m for m in after_join["messages"] if m["id"] == ids[55])
        assert deleted["deleted"] and deleted["body"] == ""
        # The join is replayed from the refilled log.
        hits = stats.hits
        replay = await actions.replay_since(b.rt, user_id=bob.id, conversation_id=cid, since=since)
        assert stats.hits == hits + 1
        assert "member.joined" in {e["event"] for e in replay.events}
