"""Network faults for the chaos runs, made by the run itself and undone when it ends.

* :class:`NetNamespace`: a network namespace joined to this one by veth pairs, one per path (say
  "pg", "redis", "clients"), each its own /30 subnet. A process started in the namespace reaches
  a service only through the path's host-side address, so a **partition is one link set down**:
  that path's packets go nowhere while the others keep working.
* :class:`TcpProxy`: a small asyncio TCP forwarder in this namespace (in front of the run's own
  PostgreSQL or Redis) that can delay every chunk, stall some of them as a lost segment's
  retransmission would, and reset connections: a slow or lossy link, which this kernel cannot
  make (no ``netem``).

Nothing here touches the machine's shared loopback servers: the proxies listen on the veth
addresses or on a free loopback port, and forward to the servers the chaos run started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@dataclass
class Link:
    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str
    up: bool = True


@dataclass
class NetNamespace:
    """A namespace with one veth pair per named path. Use :func:`net_namespace`."""

    name: str
    links: dict[str, Link] = field(default_factory=dict)
    _octet: int = 0

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        # A /16 of 10.x picked per run; each path gets a /30 of it.
        self._octet = random.randrange(64, 250)

    def add_link(self, path: str) -> Link:
        k = len(self.links)
        tag = secrets.token_hex(2)
        link = Link(
            path,
            host_if=f"tlh{tag}{k}",
            ns_if=f"tln{tag}{k}",
            host_ip=f"10.{self._octet}.{k}.1",
            ns_ip=f"10.{self._octet}.{k}.2",
        )
        _ip("link", "add", link.host_if, "type", "veth", "peer", "name", link.ns_if)
        _ip("link", "set", link.ns_if, "netns", self.name)
        _ip("addr", "add", f"{link.host_ip}/30", "dev", link.host_if)
        _ip("link", "set", link.host_if, "up")
        _ip("netns", "exec", self.name, "ip", "addr", "add", f"{link.ns_ip}/30", "dev", link.ns_if)
        _ip("netns", "exec", self.name, "ip", "link", "set", link.ns_if, "up")
        self.links[path] = link
        return link

    def down(self, path: str) -> None:
        """Partition: nothing passes on this path (both ends lose their carrier)."""
        _ip("link", "set", self.links[path].host_if, "down")
        self.links[path].up = False

    def up(self, path: str) -> None:
        link = self.links[path]
        _ip("link", "set", link.host_if, "up")
        link.up = True

    def command(self, args: list[str]) -> list[str]:
        """``args`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def remove(self) -> None:
        for link in self.links.values():
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", link.host_if)  # takes its peer with it
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.name)


@contextlib.asynccontextmanager
async def net_namespace(*paths: str) -> AsyncIterator[NetNamespace]:
    ns = NetNamespace(f"tipline-chaos-{os.getpid()}-{secrets.token_hex(2)}")
    await asyncio.to_thread(ns.create)
    try:
        for path in paths:
            await asyncio.to_thread(ns.add_link, path)
        yield ns
    finally:
        await asyncio.to_thread(ns.remove)


@dataclass
class Faults:
    """What a :class:`TcpProxy` does to each chunk it forwards (all off by default)."""

    delay_s: float = 0.0  # added to every chunk, each direction
    jitter_s: float = 0.0  # plus up to this much, at random (order is kept)
    stall_p: float = 0.0  # probability that a chunk waits as a lost segment would
    stall_s: float = 0.0  # ... this much longer
    reset_p: float = 0.0  # probability that a chunk resets its connection instead


class TcpProxy:
    """Forwards every connection made to ``(host, port)`` to ``upstream``, through :class:`Faults`."""

    def __init__(self, host: str, upstream: tuple[str, int], port: int = 0) -> None:
        self.host, self.port, self.upstream = host, port, upstream
        self.faults = Faults()
        self.resets = 0
        self.stalls = 0
        self.blocked = False
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def block(self) -> None:
        """Refuse every connection, open or new, until :meth:`unblock` (a partition that resets)."""
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    def cut(self) -> None:
        """Reset every open connection (new ones are still accepted)."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._conns):
            task.cancel()
        for task in list(self._conns):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        try:
            if self.blocked:
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                writer.transport.abort()
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(self._pump(reader, up_writer, writer), self._pump(up_reader, writer, up_writer))
            finally:
                self._writers.discard(up_writer)
                up_writer.transport.abort()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self._conns.discard(task)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, peer: asyncio.StreamWriter) -> None:
        """One direction: read, hold each chunk until its time (never overtaking the one before), write."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def writer() -> None:
            while True:
                at, data = await queue.get()
                if not data:
                    with contextlib.suppress(Exception):
                        dst.write_eof()
                    return
                wait = at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                dst.write(data)
                await dst.drain()

        out = asyncio.create_task(writer())
        last = 0.0
        try:
            while True:
                data = await src.read(65536)
                f = self.faults
                if data and f.reset_p and random.random() < f.reset_p:
                    self.resets += 1
                    dst.transport.abort()
                    peer.transport.abort()
                    return
                delay = f.delay_s + (random.uniform(0, f.jitter_s) if f.jitter_s else 0.0)
                if data and f.stall_p and random.random() < f.stall_p:
                    self.stalls += 1
                    delay += f.stall_s
                last = max(last, time.monotonic() + delay)
                queue.put_nowait((last, data))
                if not data:
                    break
            await out
        except (ConnectionError, OSError):
            pass
        finally:
            out.cancel()
            with contextlib.suppress(BaseException):
                await out
