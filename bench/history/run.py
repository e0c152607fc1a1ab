"""History benchmark: pages served from the recent-message cache in Redis, against PostgreSQL.

    uv run python bench/history/run.py [--conversations 20] [--messages 300] [--requests 3000]
                                       [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--redis-url redis://127.0.0.1:6379] [--out bench/results]

One Tipline app (the real FastAPI app with its lifespan: Redis bus, cache, batcher) runs in this
process on a database of its own; requests go through the ASGI interface with no network, so
each time measured is the server's own: routing, token check, membership check in PostgreSQL,
the page (from Redis, or from PostgreSQL), serialization. Conversations get messages, edits,
deletes, reactions and replies over HTTP first. Then the same sequence of history pages (the
latest page, and pages before a random seq inside the cache window) is read twice, once with
the cache and once without; the second pass also counts the SQL queries a hit spared.

Prints one JSON object last on stdout and writes bench/results/history.json.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import random
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import BENCH, BenchDatabase, install_sigterm_handler, log, percentile, rounded, run_facts, write_result
from tipline.app import build_runtime, create_app
from tipline.backends.cache import stats
from tipline.config import Settings
from tipline.storage.migrate import upgrade_async


async def setup(client: httpx.AsyncClient, conversations: int, messages: int) -> list[tuple[str, int, int]]:
    """Users, conversations and their messages; returns (token, conversation id, last seq)."""
    out = []
    for c in range(conversations):
        tokens, ids = [], []
        for _ in range(3):
            h = f"h{uuid.uuid4().hex[:10]}"
            r = await client.post(
                "/auth/signup",
                json={
                    "email": f"{h}@example.com",
                    "password": "a long enough passphrase 42",
                    "handle": h,
                    "display_name": h,
                },
            )
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
            ids.append(r.json()["user"]["id"])
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        r = await client.post(
            "/conversations", headers=auth, json={"kind": "group", "name": f"c{c}", "member_ids": ids[1:]}
        )
        r.raise_for_status()
        cid = r.json()["id"]
        sent: list[int] = []
        rng = random.Random(c)
        for i in range(messages):
            body: dict[str, Any] = {
                "client_msg_id": uuid.uuid4().hex,
                "body": f"message {i} " + "x" * rng.randint(10, 200),
            }
            if sent and rng.random() < 0.1:
                body["reply_to"] = rng.choice(sent)
            r = await client.post(f"/conversations/{cid}/messages", headers=auth, json=body)
            r.raise_for_status()
            sent.append(r.json()["message_id"])
            if rng.random() < 0.1:
                await client.patch(f"/messages/{rng.choice(sent)}", headers=auth, json={"body": "edited"})
            if rng.random() < 0.1:
                other = {"Authorization": f"Bearer {tokens[1]}"}
                await client.put(f"/messages/{rng.choice(sent)}/reactions/ok", headers=other)
        await client.delete(f"/messages/{sent[-3]}", headers=auth)
        r = await client.get(f"/conversations/{cid}/messages?limit=1", headers=auth)
        out.append((tokens[1], cid, r.json()["messages"][-1]["seq"]))
    return out


class ServerClock:
    """ASGI wrapper timing each request inside the server: from the app being called to the last
    byte of its answer handed to the transport. The client's own cost (httpx building the request
    and parsing the answer, in this same process) is outside it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter_ns()

        async def timed(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.times.append((time.perf_counter_ns() - t0) / 1e6)

        await self.app(scope, receive, timed)


async def read_pages(
    client: httpx.AsyncClient, plan: list[tuple[str, int, int | None]], limit: int
) -> tuple[list[float], list[bytes]]:
    times: list[float] = []
    pages: list[bytes] = []
    for token, cid, before in plan:
        url = f"/conversations/{cid}/messages?limit={limit}" + (f"&before={before}" if before else "")
        t0 = time.perf_counter_ns()
        r = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        times.append((time.perf_counter_ns() - t0) / 1e6)
        r.raise_for_status()
        # A digest, not the parsed page: thousands of kept pages would grow this process's heap
        # and with it the pauses of the garbage collector, which the server shares here.
        pages.append(hashlib.blake2b(r.content, digest_size=16).digest())
    return times, pages


async def run(args: argparse.Namespace) -> dict[str, Any]:
    db = BenchDatabase(args.database_url)
    url = await db.create()
    prefix = f"tipline-bench-{uuid.uuid4().hex[:8]}:"
    try:
        await upgrade_async(url)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            redis_url=args.redis_url,
            bus_channel_prefix=prefix,
            rate_limits=False,
            email_verification=False,
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            argon2_parallelism=1,
            log_level="warning",
        )
        rt = build_runtime(settings, database_url=url, jwt_key=secrets.token_bytes(64))
        app = create_app(rt)
        clock = ServerClock(app)
        transport = httpx.ASGITransport(app=clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            log(f"setup: {args.conversations} conversations x {args.messages} messages")
            convs = await setup(client, args.conversations, args.messages)
            rng = random.Random(1)
            window = settings.message_cache_size
            plan: list[tuple[str, int, int | None]] = []
            for _ in range(args.requests):
                token, cid, last = rng.choice(convs)
                # Half the latest page, half a page before a seq inside the window.
                before = None if rng.random() < 0.5 else max(2, last - rng.randint(args.limit, window - args.limit))
                plan.append((token, cid, before))
            await read_pages(client, plan[:200], args.limit)  # warm-up (and the first fills)
            before = (stats.hits, stats.misses, stats.db_reads_saved, stats.fills)
            clock.times.clear()
            profile = cProfile.Profile(time.process_time) if args.profile else None
            cpu0 = time.process_time()
            if profile is not None:
                profile.enable()
            t_cached, cached_pages = await read_pages(client, plan, args.limit)
            if profile is not None:
                profile.disable()
                profile.dump_stats(str(args.profile))
            cpu_cached = time.process_time() - cpu0
            server_cached = list(clock.times)
            hits, misses, saved, fills = (
                a - b
                for a, b in zip((stats.hits, stats.misses, stats.db_reads_saved, stats.fills), before, strict=True)
            )
            # The cache's own part of a hit: one Redis script call and decoding the entries.
            t_read = []
            assert rt.cache is not None
            for _token, cid, before_seq in plan[:1000]:
                t0 = time.perf_counter_ns()
                await rt.cache.page(cid, last_seq=0, before=before_seq, after=None, limit=args.limit)
                t_read.append((time.perf_counter_ns() - t0) / 1e6)
            cache, rt.cache = rt.cache, None
            clock.times.clear()
            cpu0 = time.process_time()
            t_db, db_pages = await read_pages(client, plan, args.limit)
            cpu_db = time.process_time() - cpu0
            server_db = list(clock.times)
            rt.cache = cache
            same = cached_pages == db_pages
        result: dict[str, Any] = {
            "benchmark": "history",
            "requests": args.requests,
            "page_limit": args.limit,
            "cache_window": window,
            "cache_hit_rate": rounded(hits / max(1, hits + misses), 4),
            "cache_hits": hits,
            "cache_misses": misses,
            "cache_fills": fills,
            "db_reads_saved": saved,
            "db_reads_saved_per_page": rounded(saved / max(1, args.requests), 2),
            # At the server (ServerClock): the figure the target is about.
            "server_cached_p50_ms": rounded(percentile(server_cached, 50), 3),
            "server_cached_p99_ms": rounded(percentile(server_cached, 99), 3),
            "server_db_p50_ms": rounded(percentile(server_db, 50), 3),
            "server_db_p99_ms": rounded(percentile(server_db, 99), 3),
            # Round trips as the in-process httpx client saw them (its own work included).
            "cached_p50_ms": rounded(percentile(t_cached, 50), 3),
            "cached_p99_ms": rounded(percentile(t_cached, 99), 3),
            "cache_read_p50_ms": rounded(percentile(t_read, 50), 3),
            "cache_read_p99_ms": rounded(percentile(t_read, 99), 3),
            "db_p50_ms": rounded(percentile(t_db, 50), 3),
            "db_p99_ms": rounded(percentile(t_db, 99), 3),
            # CPU of this process (server and its in-process client) per page: an upper bound of
            # the server's own cost that the machine's load does not inflate.
            "cpu_ms_per_page_cached": rounded(1000 * cpu_cached / args.requests, 3),
            "cpu_ms_per_page_db": rounded(1000 * cpu_db / args.requests, 3),
            "pages_equal_db": same,
            "target_cached_p99_ms": 5.0,
            "note": (
                "server_* is the time inside the ASGI app; cached_*/db_* add the in-process httpx client's "
                "own work (no network). Session and membership checks read PostgreSQL on every page"
            ),
            **run_facts(),
        }
        return result
    finally:
        await db.drop()
        # The cache's keys carry the run's prefix: leave the shared Redis as it was found.
        from redis.asyncio import Redis

        redis = Redis.from_url(args.redis_url)
        try:
            async for key in redis.scan_iter(match=f"{prefix}*"):
                await redis.delete(key)
        finally:
            await redis.aclose()


def main() -> None:
    install_sigterm_handler()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conversations", type=int, default=20)
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    p.add_argument("--profile", type=Path, help="write a cProfile of the cached pass to this file")
    args = p.parse_args()
    import uvloop

    result = uvloop.run(run(args))
    path = write_result(result, args.out, "history")
    log(f"wrote {path}")
    import json

    print(json.dumps(result))


if __name__ == "__main__":
    main()
