"""What the Redis bus tests share: the server to use, an inbox handler, and server-side checks."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable

from redis.asyncio import Redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def unique_prefix() -> str:
    """A channel prefix of this test's own: the machine's Redis is shared."""
    return f"tipline-test-{uuid.uuid4().hex[:12]}:"


async def delete_prefixed(prefix: str) -> None:
    """Remove every key a test wrote under its prefix (the cache's, the node registry's)."""
    client = Redis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
    finally:
        await client.aclose()


class Inbox:
    """A bus handler that records what it is handed, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self._grew = asyncio.Event()

    def __call__(self, topic: str, payload: bytes) -> None:
        self.items.append((topic, payload))
        self._grew.set()

    def payloads(self, topic: str | None = None) -> list[bytes]:
        return [p for t, p in self.items if topic is None or t == topic]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        """Until at least ``count`` messages arrived."""
        async with asyncio.timeout(timeout):
            while len(self.items) < count:
                self._grew.clear()
                await self._grew.wait()
        return self.items


async def eventually(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(interval)


async def numsub(url: str, channel: str, *, sharded: bool = False) -> int:
    """How many connections the server has subscribed to ``channel``."""
    client = Redis.from_url(url)
    try:
        reply = await client.execute_command("PUBSUB", "SHARDNUMSUB" if sharded else "NUMSUB", channel)
        return int(reply[1])
    finally:
        await client.aclose()


async def kill_clients(url: str, name: str) -> int:
    """Close, from the server side, every connection named ``name`` (only the bus under test's)."""
    client = Redis.from_url(url)
    try:
        killed = 0
        for entry in await client.client_list():
            if entry.get("name") == name:
                killed += int(await client.execute_command("CLIENT", "KILL", "ID", entry["id"]))
        return killed
    finally:
        await client.aclose()


class BlackHoleProxy:
    """A TCP proxy to Redis whose open connections can be made to go silent without closing.

    Models a network path that stops carrying packets (no FIN, no RST): only a heartbeat
    notices it. Connections opened after :meth:`silence` work normally.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._silenced: set[int] = set()
        self._next_id = 0
        self._open: set[int] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def silence(self) -> None:
        self._silenced |= self._open

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = self._next_id
        self._next_id += 1
        self._open.add(conn_id)
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if conn_id not in self._silenced:
                        dst.write(data)
                        await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._open.discard(conn_id)
