"""A Redis outage in Chromium: the web client catches up on the server's `sync` frame.

Tipline runs with the Redis bus, on a Redis this module starts on a free port (never the
machine's shared one). Two browsers sit in one group conversation; the test stops Redis, a third
member sends over HTTP (the message commits to PostgreSQL, its live event is lost with the bus),
and Redis comes back on the same port. The node then tells every socket where its conversations
stand (`sync`, docs/protocol.md), and the browsers must resume and show the message: no page
reload, no new socket, and nothing sent after the outage to reveal the gap.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, WebSocket, expect

from tests.bus.cluster import RedisServer, redis_server
from tests.e2e.conftest import E2EServer, People, Person, people_of
from tests.helpers import User, send_http, signup
from tests.nodes import node_process

ROOM = "Outage room"
# Set in each page before the outage: a reload would lose it.
MARK = "() => { window.__beforeOutage = true; }"
MARKED = "() => window.__beforeOutage === true"


@dataclass
class RedisSite:
    server: E2EServer
    redis: RedisServer


@pytest.fixture(scope="module")
async def redis_site(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RedisSite]:
    log = tmp_path_factory.mktemp("e2e-redis") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    async with (
        redis_server() as redis,
        node_process(command, log, prefix="e2eredis", WEB_DIST=str(web_dist), REDIS_URL=redis.url) as node,
    ):
        yield RedisSite(E2EServer(base_url=node.base_url, database_url=node.database_url, log=log), redis)


@pytest.fixture
async def redis_people(browser: Browser, redis_site: RedisSite) -> AsyncIterator[People]:
    async with people_of(browser, redis_site.server) as make:
        yield make


@dataclass
class Sockets:
    """The WebSockets one page opened, and the text frames each received."""

    opened: list[WebSocket] = field(default_factory=list)
    frames: dict[int, list[str]] = field(default_factory=dict)

    def watch(self, person: Person) -> None:
        def on_socket(ws: WebSocket) -> None:
            index = len(self.opened)
            self.opened.append(ws)
            self.frames[index] = []
            ws.on("framereceived", lambda payload: self.frames[index].append(str(payload)))

        person.page.on("websocket", on_socket)

    def first(self, index: int, text: str) -> int | None:
        """Where the first frame of socket ``index`` containing ``text`` is, in arrival order."""
        return next((i for i, frame in enumerate(self.frames[index]) if text in frame), None)


async def publish_errors(http: httpx.AsyncClient) -> float:
    """The node's count of bus messages it could not publish (/metrics answers loopback)."""
    r = await http.get("/metrics")
    assert r.status_code == 200, r.text
    found = re.search(r"^tipline_bus_publish_errors_total (\S+)$", r.text, re.M)
    assert found, "/metrics has no tipline_bus_publish_errors_total"
    return float(found.group(1))


async def until_publish_fails(http: httpx.AsyncClient, before: float, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await publish_errors(http) <= before:
        assert asyncio.get_running_loop().time() < deadline, "the event was not dropped by the bus"
        await asyncio.sleep(0.05)


async def user_id(http: httpx.AsyncClient, caller: User, handle: str) -> int:
    r = await http.get("/users", params={"handle": handle}, headers=caller.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


async def test_a_message_sent_while_redis_is_down_appears_after_sync(
    redis_people: People, redis_site: RedisSite
) -> None:
    ann, bob = await redis_people("ann"), await redis_people("bob")
    sockets = {ann.handle: Sockets(), bob.handle: Sockets()}
    for person in (ann, bob):
        sockets[person.handle].watch(person)
        await person.sign_up()

    async with httpx.AsyncClient(base_url=redis_site.server.base_url, timeout=10) as http:
        carol = await signup(http)
        members = [await user_id(http, carol, p.handle) for p in (ann, bob)]
        r = await http.post(
            "/conversations", headers=carol.headers, json={"kind": "group", "name": ROOM, "member_ids": members}
        )
        assert r.status_code == 201, r.text
        room = r.json()
        for person in (ann, bob):
            await person.open_conversation(ROOM)
        r = await send_http(http, carol, room["id"], "before the outage")
        assert r.status_code == 201, r.text
        for person in (ann, bob):
            await person.wait_message("before the outage")

        # The live path works; from here on nothing but the outage may bring the next message.
        open_before = {handle: len(s.opened) for handle, s in sockets.items()}
        for person in (ann, bob):
            await person.page.evaluate(MARK)

        await redis_site.redis.stop()
        lost_before = await publish_errors(http)
        r = await send_http(http, carol, room["id"], "sent while redis was down")
        assert r.status_code == 201, r.text
        # The node answers a send before it publishes the event: Redis must not be back before
        # that publish has failed, or the event could still go out live.
        await until_publish_fails(http, lost_before)
        await redis_site.redis.start()

        for person in (ann, bob):
            # The node's bus retries with backoff (at most a few seconds here), then sends `sync`.
            await expect(person.message("sent while redis was down")).to_have_count(1, timeout=30_000)
            assert await person.page.evaluate(MARKED), f"{person.handle}'s page was reloaded"
            s = sockets[person.handle]
            assert len(s.opened) == open_before[person.handle], f"{person.handle} opened a new socket"
            sync = s.first(len(s.opened) - 1, '"type":"sync"')
            replayed = s.first(len(s.opened) - 1, "sent while redis was down")
            assert sync is not None, f"{person.handle}'s socket got no sync frame"
            assert replayed is not None and replayed > sync, f"{person.handle} got the message before the sync"
            assert await person.bodies() == ["before the outage", "sent while redis was down"]
