"""The Redis Bus: fan-out between app nodes over Redis pub/sub (or sharded pub/sub on a Cluster).

One Redis channel per topic, named ``<channel_prefix><topic>``. A node is subscribed to a
channel exactly while its hub wants the topic, on one dedicated connection per Redis server
(standalone: one; Cluster: one per primary, each channel on the primary that owns its slot),
so every message reaches each interested node once, in the order its publisher sent it.

How the guarantees of :mod:`tipline.bus.base` are kept here:

* **Interest changes.** ``subscribe``/``unsubscribe`` are synchronous: they record the
  change, and a background task sends SUBSCRIBE/UNSUBSCRIBE followed by a ``PING`` on the
  subscriber connection. Redis answers a connection's commands in order, so that PING's reply
  proves the subscriptions before it are in place. A ``publish`` on a topic whose subscription
  is not yet confirmed applies it at once and waits for that reply (other publishes do not
  wait), so a message this node publishes after ``subscribe(topic)`` returned is never missed
  by this node. Changes that cancel out before being applied (subscribe, unsubscribe,
  subscribe) send nothing.
* **Lost connections.** Any failure of a subscriber connection (closed by the server, no
  reply to a heartbeat PING, or in a Cluster a slot that moved) takes the whole bus down:
  ``healthy()`` turns False, connections are rebuilt with exponential backoff and jitter, every
  topic of current interest is subscribed again and confirmed, ``healthy()`` turns True, and
  only then the ``on_reconnect`` callbacks run, so the gap checks they trigger find the node
  subscribed again.
* **At most once.** Redis pub/sub keeps nothing: a message published while a node is
  disconnected is lost for that node, which is why ``on_reconnect`` exists. A publish that
  fails (Redis down) is logged and dropped, never raised: the event has committed, and
  clients repair the gap from PostgreSQL.

redis-py's own ``PubSub``/``ClusterPubSub`` objects are not used for subscribing: they
reconnect and resubscribe silently inside the library, so the bus could not report the outage
nor ask sockets to check for gaps, and ``ClusterPubSub`` polls its per-node connections in
turn. The subscriber connections are redis-py ``Connection`` objects driven directly;
publishing goes through the ordinary ``Redis`` / ``RedisCluster`` clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import secrets
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisError

from tipline.bus.base import Handler

log = logging.getLogger(__name__)

# A Redis message carrying several payloads of one topic: ``B`` + (4-byte length + payload)*.
BUNDLE = b"B"
# Bound on one bundle, so a large group commit still makes reasonable Redis messages.
BUNDLE_MAX_BYTES = 1 << 20


def bundle(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Consecutive payloads of one topic as one Redis message (order kept, per topic and overall).

    A group commit publishes many events on a conversation's topic at once; one message instead
    of one per event spares Redis a PUBLISH per event per subscribed node, and each node a
    reply to parse per event. A lone payload that itself starts with ``B`` is wrapped too, so
    every message starting with ``B`` is a bundle.
    """
    out: list[tuple[str, bytes]] = []
    run: list[bytes] = []
    run_topic = ""
    size = 0

    def close_run() -> None:
        if len(run) == 1 and not run[0].startswith(BUNDLE):
            out.append((run_topic, run[0]))
        elif run:
            out.append((run_topic, BUNDLE + b"".join(len(p).to_bytes(4, "big") + p for p in run)))

    for topic, payload in items:
        if run and (topic != run_topic or size + len(payload) > BUNDLE_MAX_BYTES):
            close_run()
            run, size = [], 0
        run_topic = topic
        run.append(payload)
        size += len(payload) + 4
    close_run()
    return out


def unbundle(payload: bytes) -> list[bytes]:
    """The payloads of one Redis message (see bundle)."""
    if not payload.startswith(BUNDLE):
        return [payload]
    parts: list[bytes] = []
    pos, end = 1, len(payload)
    while pos < end:
        size = int.from_bytes(payload[pos : pos + 4], "big")
        pos += 4
        parts.append(payload[pos : pos + size])
        pos += size
    return parts


# Channels per SUBSCRIBE command when many are (re)subscribed at once.
_SUBSCRIBE_CHUNK = 1000
_HEARTBEAT = b"hb"


class _Resync(Exception):
    """The subscriber connections no longer match the server (a Cluster slot moved)."""


class _Link:
    """One subscriber connection to one Redis server, with its reader and heartbeat tasks."""

    def __init__(self, bus: RedisBus, name: str, conn: AbstractConnection, broken: asyncio.Event) -> None:
        self.bus = bus
        self.name = name
        self.conn = conn
        self.broken = broken
        self.open = False
        # Channels this connection is subscribed to, counting commands already sent.
        self.channels: set[bytes] = set()
        # Unsubscribe confirmations still expected; any other one comes from the server.
        self.unsubscribing: Counter[bytes] = Counter()
        # Barrier tokens: ``sent`` PINGs written, ``confirmed`` the last one answered.
        self.sent = 0
        self.confirmed = 0
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        # Channels subscribed by each barrier not yet answered, oldest first.
        self.unconfirmed: deque[tuple[int, list[bytes]]] = deque()
        self.received = 0
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def sharded(self) -> bool:
        return self.bus.sharded

    async def connect(self) -> None:
        await self.conn.connect()  # type: ignore[no-untyped-call]
        self.open = True

    def start(self, ping_interval_s: float) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._read_loop(), name=f"redis-bus-reader-{self.name}"),
            loop.create_task(self._ping_loop(ping_interval_s), name=f"redis-bus-ping-{self.name}"),
        ]

    def stage(self, subscribe: Iterable[bytes], unsubscribe: Iterable[bytes]) -> list[tuple[bytes | str, ...]]:
        """Record subscription changes as sent; the commands (ending with a barrier PING) to write.

        Synchronous, so that from the moment it returns a publisher on one of these channels
        waits for the barrier's reply.
        """
        commands: list[tuple[bytes | str, ...]] = []
        unsub = list(unsubscribe)
        if unsub:
            for group in self._groups(unsub):
                commands.append(("SUNSUBSCRIBE" if self.sharded else "UNSUBSCRIBE", *group))
            self.unsubscribing.update(unsub)
            self.channels.difference_update(unsub)
        sub = list(subscribe)
        if sub:
            for group in self._groups(sub):
                commands.append(("SSUBSCRIBE" if self.sharded else "SUBSCRIBE", *group))
            self.channels.update(sub)
        self.sent += 1
        pending = self.bus._pending
        for channel in unsub:
            pending.pop(channel, None)
        if sub:
            for channel in sub:
                pending[channel] = (self, self.sent)
            self.unconfirmed.append((self.sent, sub))
        commands.append(("PING", str(self.sent)))
        return commands

    def _groups(self, channels: list[bytes]) -> Iterator[Sequence[bytes]]:
        if self.sharded:
            # One SSUBSCRIBE may only name channels of one hash slot.
            by_slot: dict[int, list[bytes]] = {}
            for channel in channels:
                by_slot.setdefault(key_slot(channel), []).append(channel)
            yield from by_slot.values()
        else:
            for i in range(0, len(channels), _SUBSCRIBE_CHUNK):
                yield channels[i : i + _SUBSCRIBE_CHUNK]

    async def write(self, commands: list[tuple[bytes | str, ...]]) -> None:
        conn = self.conn
        # redis-py reconnects a closed connection on send; a new connection would hold none of
        # our subscriptions, so a link that lost its connection never writes again.
        if not (self.open and conn.is_connected):
            raise ConnectionError(f"redis bus connection {self.name} is closed")
        await conn.send_packed_command(conn.pack_commands(commands), check_health=False)

    def barrier(self, token: int | None = None) -> asyncio.Future[None]:
        """Resolved once the commands written up to barrier ``token`` (default: all) were answered.

        Also resolved if the link fails: what it lost is the reconnect's to repair.
        """
        wanted = self.sent if token is None else token
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.open or self.confirmed >= wanted:
            future.set_result(None)
        else:
            self.waiters.append((wanted, future))
        return future

    def _confirm(self, token: int) -> None:
        self.confirmed = max(self.confirmed, token)
        pending = self.bus._pending
        while self.unconfirmed and self.unconfirmed[0][0] <= self.confirmed:
            done, channels = self.unconfirmed.popleft()
            for channel in channels:
                entry = pending.get(channel)
                if entry is not None and entry[0] is self and entry[1] <= done:
                    del pending[channel]
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for wanted, future in self.waiters:
            if wanted <= self.confirmed:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((wanted, future))
        self.waiters = keep

    def fail(self, exc: BaseException) -> None:
        if not self.open:
            return
        self.open = False
        self.bus._ready = False
        self.bus._healthy = False
        log.warning("redis bus connection %s lost: %r", self.name, exc)
        for _, future in self.waiters:
            if not future.done():
                future.set_result(None)
        self.waiters = []
        self.broken.set()

    async def close(self) -> None:
        self.open = False
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for _, future in self.waiters:
            if not future.done():
                future.set_result(None)
        self.waiters = []
        with contextlib.suppress(Exception):
            await self.conn.disconnect(nowait=True)

    async def _read_loop(self) -> None:
        conn = self.conn
        deliver = self.bus._deliver
        try:
            while True:
                # math.inf: block without the socket timeout; the heartbeat detects silence.
                reply: Any = await conn.read_response(timeout=math.inf)
                self.received += 1
                if type(reply) is list:
                    kind = reply[0]
                    if kind == b"message" or kind == b"smessage":
                        deliver(reply[1], reply[2])
                    elif kind == b"pong":
                        self._pong(reply[1])
                    elif kind == b"unsubscribe" or kind == b"sunsubscribe":
                        self._unsubscribed(reply[1])
                elif isinstance(reply, bytes):
                    # A PING answered outside subscribed mode (no channel left).
                    self._pong(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(exc)

    def _pong(self, token: bytes) -> None:
        if token != _HEARTBEAT:
            with contextlib.suppress(ValueError):
                self._confirm(int(token))

    def _unsubscribed(self, channel: bytes | None) -> None:
        if channel is None:
            return
        if self.unsubscribing[channel] > 0:
            self.unsubscribing[channel] -= 1
            if not self.unsubscribing[channel]:
                del self.unsubscribing[channel]
        elif channel in self.channels:
            # Redis Cluster drops shard-channel subscriptions whose slot moved to another node.
            raise _Resync(f"the server dropped the subscription to {channel!r}")

    async def _ping_loop(self, interval_s: float) -> None:
        seen = self.received
        probing = False
        try:
            while True:
                await asyncio.sleep(interval_s)
                if self.received != seen:
                    seen = self.received
                    probing = False
                    continue
                if probing:
                    raise ConnectionError(f"no reply to PING within {2 * interval_s:.1f}s")
                probing = True
                await self.write([("PING", _HEARTBEAT)])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(exc)


class RedisBus:
    """The :class:`~tipline.bus.base.Bus` over Redis pub/sub; ``sharded=True`` for Redis Cluster.

    ``url`` is a ``redis://`` / ``rediss://`` URL; in sharded mode, any node of the cluster.
    Topics are spread over the cluster's shards by their channel name's hash slot, so
    ``channel_prefix`` must not contain a ``{hash tag}``. ``client_name`` names every
    connection of this bus (``CLIENT LIST``); by default it is unique per bus.
    """

    def __init__(
        self,
        url: str,
        *,
        sharded: bool = False,
        channel_prefix: str = "tipline:",
        client_name: str | None = None,
        reconnect_min_s: float = 0.05,
        reconnect_max_s: float = 5.0,
        ping_interval_s: float = 5.0,
        start_timeout_s: float = 10.0,
        settle_timeout_s: float = 2.0,
        timeout_s: float = 2.0,
    ) -> None:
        if sharded and "{" in channel_prefix and "}" in channel_prefix:
            raise ValueError("channel_prefix must not contain a hash tag: it would put every topic on one shard")
        self.sharded = sharded
        self.channel_prefix = channel_prefix
        self.client_name = client_name or f"tipline-bus-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._ping_interval_s = ping_interval_s
        self._start_timeout_s = start_timeout_s
        self._settle_timeout_s = settle_timeout_s

        self._client: Redis | None = None
        self._cluster: RedisCluster | None = None
        self._link_class: type[AbstractConnection] = Connection
        self._link_url_kwargs: dict[str, Any] = {}
        self._link_kwargs: dict[str, Any] = {}
        self._connect_clients(url, timeout_s)

        self._handler: Handler | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lost_callbacks: list[Callable[[], None]] = []
        # Channels of current interest -> their topic; the only topics handed to the handler.
        self._topics: dict[bytes, str] = {}
        # Channels whose interest changed since the last apply.
        self._changed: set[bytes] = set()
        # Channels whose SUBSCRIBE was sent and not yet confirmed -> (link, barrier token).
        self._pending: dict[bytes, tuple[_Link, int]] = {}
        self._links: dict[str, _Link] = {}
        self._healthy = False
        # The subscriber connections are up and hold every subscription of interest.
        self._ready = False
        self._closing = False
        # Whether the next successful connection is a recovery that runs the callbacks.
        self._recovering = False
        self._connected_once: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._apply_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_down = False
        self.reconnects = 0
        # Messages not published (Redis unreachable): lost, at most once.
        self.publish_errors = 0

    def _connect_clients(self, url: str, timeout_s: float) -> None:
        """The publishing client, and the options of the subscriber connections built later."""
        common: dict[str, Any] = {
            "client_name": self.client_name,
            "decode_responses": False,
            "socket_connect_timeout": timeout_s,
            "socket_timeout": timeout_s,
        }
        # Publishing: one quick retry covers a pooled connection the server closed meanwhile.
        publish_retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 1)
        # Subscriber connections never retry or reconnect by themselves (see _Link.write).
        self._link_kwargs = {
            **common,
            "retry": Retry(NoBackoff(), 0),
            "retry_on_error": [],
            "health_check_interval": 0,
            "protocol": 2,
        }
        if self.sharded:
            self._cluster = RedisCluster.from_url(url, retry=publish_retry, **common)
        else:
            self._client = Redis.from_url(url, retry=publish_retry, **common)
            self._link_url_kwargs = dict(parse_url(url))
            self._link_class = self._link_url_kwargs.pop("connection_class", Connection)

    # --- the Bus protocol ------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._closing = False
        loop = asyncio.get_running_loop()
        self._connected_once = loop.create_future()
        self._tasks = [
            loop.create_task(self._supervise(), name="redis-bus-supervisor"),
            loop.create_task(self._apply_loop(), name="redis-bus-applier"),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self._connected_once), self._start_timeout_s)
        except TimeoutError:
            # Keep trying in the background; readiness reports the bus down meanwhile, and the
            # sockets accepted before it connects are told to check for gaps once it does.
            self._recovering = True
            log.warning("redis bus not connected after %.1fs; still trying", self._start_timeout_s)

    async def close(self) -> None:
        self._closing = True
        self._healthy = False
        self._ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._close_links()
        if self._client is not None:
            await self._client.aclose()
        if self._cluster is not None:
            await self._cluster.aclose()
        self._handler = None

    async def publish(self, topic: str, payload: bytes) -> None:
        channel = self.channel_prefix + topic
        key = channel.encode()
        if key in self._pending or key in self._changed:
            await self._settle((key,))
        if self._publish_down and not self._healthy:
            self._publish_failed(None, 1)
            return
        if payload.startswith(BUNDLE):
            payload = bundle([(topic, payload)])[0][1]
        try:
            if self._cluster is not None:
                await self._cluster.spublish(channel, payload)
            else:
                assert self._client is not None
                await self._client.publish(channel, payload)
        except (RedisError, OSError) as exc:
            self._publish_failed(exc, 1)

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        if not items:
            return
        prefix = self.channel_prefix
        keys = {(prefix + topic).encode() for topic, _ in items}
        if not (self._pending.keys().isdisjoint(keys) and self._changed.isdisjoint(keys)):
            await self._settle(keys)
        if self._publish_down and not self._healthy:
            self._publish_failed(None, len(items))
            return
        count = len(items)
        messages = bundle(items)
        try:
            if self._cluster is not None:
                # Grouped by node, one round trip per shard; order is kept per channel.
                cpipe = self._cluster.pipeline(transaction=False)
                for topic, payload in messages:
                    cpipe.spublish(prefix + topic, payload)
                await cpipe.execute()
            else:
                assert self._client is not None
                pipe = self._client.pipeline(transaction=False)
                for topic, payload in messages:
                    pipe.publish(prefix + topic, payload)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._publish_failed(exc, count)

    async def publish_counted(self, items: list[tuple[str, bytes]]) -> list[int]:
        if not items:
            return []
        prefix = self.channel_prefix
        if self._publish_down and not self._healthy:
            self._publish_failed(None, len(items))
            return [0] * len(items)
        try:
            if self._cluster is not None:
                cpipe = self._cluster.pipeline(transaction=False)
                for topic, payload in items:
                    cpipe.spublish(prefix + topic, payload)
                counts = await cpipe.execute()
            else:
                assert self._client is not None
                pipe = self._client.pipeline(transaction=False)
                for topic, payload in items:
                    pipe.publish(prefix + topic, payload)
                counts = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._publish_failed(exc, len(items))
            return [0] * len(items)
        return [int(n) for n in counts]

    def subscribe(self, topic: str) -> None:
        channel = (self.channel_prefix + topic).encode()
        self._topics[channel] = topic
        self._changed.add(channel)
        self._wake.set()

    def unsubscribe(self, topic: str) -> None:
        channel = (self.channel_prefix + topic).encode()
        if self._topics.pop(channel, None) is not None:
            self._changed.add(channel)
            self._wake.set()

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def on_lost(self, callback: Callable[[], None]) -> None:
        self._lost_callbacks.append(callback)

    async def settle(self) -> None:
        """Until every ``subscribe``/``unsubscribe`` made so far is in effect on Redis.

        Not part of the Bus protocol (yet): a caller that reads a conversation's last seq right
        after subscribing can wait here first, so no message falls between that read and the
        subscription without a gap to show for it.
        """
        await self._settle(self._changed | self._pending.keys())

    def healthy(self) -> bool:
        return self._healthy

    # --- delivery ----------------------------------------------------------------------------

    def _deliver(self, channel: bytes, payload: bytes) -> None:
        # A message may still arrive between unsubscribe() and the UNSUBSCRIBE reaching
        # Redis; the handler only sees topics of current interest.
        topic = self._topics.get(channel)
        handler = self._handler
        if topic is None or handler is None:
            return
        for part in unbundle(payload):
            try:
                handler(topic, part)
            except Exception:
                log.exception("bus handler failed on %s", topic)

    def _publish_failed(self, exc: BaseException | None, count: int) -> None:
        self.publish_errors += count
        if exc is not None:
            # Until the bus is connected again, drop at once rather than wait for a timeout
            # on every publish (senders' acks wait for the publish).
            self._publish_down = True
            log.warning("redis bus: %d message(s) not published (at most once): %r", count, exc)

    # --- interest changes ------------------------------------------------------------------

    async def _settle(self, channels: Iterable[bytes]) -> None:
        """Wait until the interest in ``channels`` expressed so far is in place on the server."""
        channels = list(channels)
        if not self._changed.isdisjoint(channels):
            await self._apply()
        waits: list[asyncio.Future[None]] = []
        for channel in channels:
            entry = self._pending.get(channel)
            if entry is not None:
                link, token = entry
                if link.open and link.confirmed < token:
                    waits.append(link.barrier(token))
        if not waits:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self._settle_timeout_s)
        except TimeoutError:
            log.warning("redis bus: subscriptions not confirmed within %.1fs", self._settle_timeout_s)

    async def _apply_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._apply()

    async def _apply(self) -> None:
        async with self._apply_lock:
            if not self._changed or not self._ready:
                # While down the next connection subscribes to everything of interest.
                return
            changed, self._changed = self._changed, set()
            plan: dict[_Link, tuple[list[bytes], list[bytes]]] = {}
            for channel in changed:
                link = self._link_for(channel)
                if link is None:
                    return
                wanted = channel in self._topics
                if wanted != (channel in link.channels):
                    sub, unsub = plan.setdefault(link, ([], []))
                    (sub if wanted else unsub).append(channel)
            # Every change is recorded before the first write, so a publisher never finds its
            # channel neither in ``_changed`` nor in ``_pending`` while it is on its way.
            writes = [(link, link.stage(sub, unsub)) for link, (sub, unsub) in plan.items()]
            for link, commands in writes:
                try:
                    await link.write(commands)
                except (RedisError, OSError) as exc:
                    link.fail(exc)

    def _link_for(self, channel: bytes) -> _Link | None:
        """The link of the server that owns ``channel``; None (and a resync) if there is none."""
        if self._cluster is None:
            return next(iter(self._links.values()), None)
        slot_nodes = self._cluster.nodes_manager.slots_cache.get(key_slot(channel))
        link = self._links.get(slot_nodes[0].name) if slot_nodes else None
        if link is None:
            # The publishing client learned of a new topology (a MOVED reply).
            for any_link in self._links.values():
                any_link.fail(_Resync(f"no subscriber connection owns {channel!r}"))
        return link

    # --- connection life -------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self._reconnect_min_s
        attempt = 0
        while not self._closing:
            broken = asyncio.Event()
            try:
                await self._connect(broken, refresh=attempt > 0)
                # Interest that changed while connecting is in place before anyone is told.
                self._ready = True
                await self._apply()
                await self._confirmed(list(self._links.values()))
                if broken.is_set():
                    raise ConnectionError("a subscriber connection failed while subscribing")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ready = False
                await self._close_links()
                attempt += 1
                log.warning("redis bus: connection attempt %d failed: %r", attempt, exc)
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, self._reconnect_max_s)
                continue
            delay = self._reconnect_min_s
            self._healthy = True
            self._publish_down = False
            if self._connected_once is not None and not self._connected_once.done():
                self._connected_once.set_result(None)
            if self._recovering:
                self.reconnects += 1
                log.info("redis bus reconnected; %d topic(s) subscribed again", len(self._topics))
                for callback in list(self._callbacks):
                    try:
                        callback()
                    except Exception:
                        log.exception("on_reconnect callback failed")
            self._recovering = True
            await broken.wait()
            self._ready = False
            self._healthy = False
            for callback in list(self._lost_callbacks):
                try:
                    callback()
                except Exception:
                    log.exception("on_lost callback failed")
            await self._close_links()
            attempt = 1
            await asyncio.sleep(random.uniform(delay / 2, delay))

    async def _confirmed(self, links: list[_Link]) -> None:
        """Until every command written to ``links`` so far was answered."""
        async with asyncio.timeout(self._settle_timeout_s * 5):
            await asyncio.gather(*(link.barrier() for link in links))

    async def _connect(self, broken: asyncio.Event, *, refresh: bool) -> None:
        """Open a subscriber connection per server, subscribe all interest, wait until confirmed."""
        links: dict[str, _Link] = {}
        if self._cluster is not None:
            await self._cluster.initialize()
            if refresh:
                await self._cluster.nodes_manager.initialize()
            for node in self._cluster.get_primaries():
                node_conn = node.connection_class(**{**node.connection_kwargs, **self._link_kwargs})
                links[node.name] = _Link(self, node.name, node_conn, broken)
        else:
            # Our options win over the URL's query string: the reader expects RESP2 bytes.
            conn = self._link_class(**{**self._link_url_kwargs, **self._link_kwargs})
            links["redis"] = _Link(self, "redis", conn, broken)
        self._links = links
        await asyncio.gather(*(link.connect() for link in links.values()))
        self._changed.clear()
        plan: dict[str, list[bytes]] = {name: [] for name in links}
        for channel in self._topics:
            link = self._link_for(channel)
            if link is None:
                raise _Resync(f"no subscriber connection owns {channel!r}")
            plan[link.name].append(channel)
        for link in links.values():
            link.start(self._ping_interval_s)
        writes = [(links[name], links[name].stage(channels, ())) for name, channels in plan.items()]
        await asyncio.gather(*(link.write(commands) for link, commands in writes))
        await self._confirmed(list(links.values()))
        if broken.is_set():
            raise ConnectionError("a subscriber connection failed while subscribing")

    async def _close_links(self) -> None:
        links, self._links = self._links, {}
        self._pending.clear()
        await asyncio.gather(*(link.close() for link in links.values()))
