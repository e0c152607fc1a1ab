"""The one client and the one workload of bench/peers/run.py, for every target.

The client is bench/common's ``WSClient`` (raw WebSocket on asyncio.Protocol, deliveries counted
with ``bytes.count`` of a marker) with a small adapter per protocol: what a sent message looks
like, what marks one delivered message in a frame, and when a socket is ready. The latency
phase is bench/fanout's own; the saturation phase uses fanout's closed-loop senders, adding the
count of acknowledged messages and a watchdog for messages a server drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    CpuMeter,
    ServerProcess,
    TextSink,
    WSClient,
    client_pool,
    close_all,
    log,
    machine_cpu,
    machine_cpu_between,
    own_cpu_seconds,
    percentile,
    rounded,
    wait_quiet,
)
from fanout.run import PayloadFn, Samples, Senders, body, latency_phase, tipline_payload, totals

ROOM = "bench"
TS_MARK = b'"t='  # every bench body starts with t=<time_ns>: one per delivered message in a peer's frame

# --- protocols --------------------------------------------------------------------------------


class PeerClient(WSClient):
    """A Django Channels tutorial socket: JSON ``{"message": ...}`` both ways, ready once open."""

    mark = TS_MARK


class SocketIOClient(PeerClient):
    """Socket.IO (protocol 5) over Engine.IO v4, spoken directly on a WebSocket.

    Opening: the server's open packet ``0{...}``, we connect to the default namespace with
    ``40``, the server confirms with ``40{"sid":...}``, we join the room with an acknowledged
    event ``421["join","bench"]``, and the ack ``431[true]`` makes the socket ready. The server
    pings (``2``) every 25 s and expects a pong (``3``): the sink is always installed so that a
    ping is answered whichever sink a phase sets.
    """

    def __init__(self, index: int) -> None:
        self._phase_sink: TextSink | None = None
        super().__init__(index)

    @property
    def sink(self) -> TextSink:
        return self._engine_io

    @sink.setter
    def sink(self, fn: TextSink | None) -> None:
        self._phase_sink = fn

    def _engine_io(self, client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        if end - start == 1 and data[start] == 0x32:  # "2": ping
            self.send_text(b"3")
        elif self._phase_sink is not None:
            self._phase_sink(client, data, start, end, now)
        elif not self.ready.done():
            self._before_ready(data[start:end])

    def _before_ready(self, payload: bytes) -> None:
        if payload.startswith(b"0{"):
            self.send_text(b"40")
        elif payload.startswith(b"40"):
            self.send_text(b'421["join","' + ROOM.encode() + b'"]')
        elif payload.startswith(b"431"):
            self.ready.set_result(payload)
        else:
            self.frames_before_ready += 1
            if self.first_before_ready is None:
                self.first_before_ready = payload[:200]


@dataclass
class Wire:
    """How one target is spoken to. ``ports``: clients go round-robin over them (index % len)."""

    name: str
    ports: list[int]
    path: str
    client: type[WSClient]
    make: PayloadFn
    ready_on_open: bool = False
    tokens: Sequence[str] = ()  # Tipline: one access token per member, in order
    heartbeat: bool = False  # Tipline: the protocol's {"type":"ping"} every 20 s
    check_seq: bool = False  # Tipline: decode frames in the latency phase and check seq
    ack_mark: bytes | None = None  # what counts as an acknowledgement; None: the sender's own message back

    def subprotocols(self, index: int) -> list[str]:
        return ["tipline.v1", f"tipline.auth.{self.tokens[index]}"] if self.tokens else []


def tipline_protocol(name: str, ports: list[int], tokens: Sequence[str], conversation_id: int) -> Wire:
    payload = tipline_payload(conversation_id)

    def make(cmid: str, body: str) -> bytes:
        # tipline_1 and tipline_4 share the database: a client_msg_id used again would be an
        # idempotent retry (acknowledged as a duplicate, not delivered), so each target has its own
        # (the latency phases already name theirs after the target: their acks are matched by id).
        return payload(cmid if cmid.startswith(name) else f"{name}-{cmid}", body)

    return Wire(
        name,
        ports,
        "/ws",
        WSClient,
        make,
        tokens=tokens,
        heartbeat=True,
        check_seq=True,
        ack_mark=b'"type":"ack"',
    )


def django_protocol(port: int) -> Wire:
    def make(cmid: str, body: str) -> bytes:
        return orjson.dumps({"message": body})

    return Wire("django_channels", [port], f"/ws/chat/{ROOM}/", PeerClient, make, ready_on_open=True)


def socketio_protocol(port: int) -> Wire:
    def make(cmid: str, body: str) -> bytes:
        return b"42" + orjson.dumps(["chat", body])

    return Wire("python_socketio", [port], "/socket.io/?EIO=4&transport=websocket", SocketIOClient, make)


async def connect_all(proto: Wire, n: int, *, into: list[WSClient], concurrency: int = 50) -> float:
    """Open ``n`` sockets (member i on port ``ports[i % len(ports)]``), appending each when ready."""
    sem = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def one(i: int) -> None:
        port = proto.ports[i % len(proto.ports)]
        async with sem:
            _t, client = await loop.create_connection(lambda: proto.client(i), "127.0.0.1", port)
            client.send_handshake("127.0.0.1", port, proto.path, proto.subprotocols(i), f"http://127.0.0.1:{port}")
            await asyncio.wait_for(client.handshake, 30)
            if proto.ready_on_open:
                client.ready.set_result(b"")
            await asyncio.wait_for(client.ready, 30)
        into.append(client)

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    into.sort(key=lambda c: c.index)
    log(f"{proto.name}: connected {n} WebSockets in {time.monotonic() - t0:.1f}s")
    return time.monotonic() - t0


# --- the server's processes -----------------------------------------------------------------------


@dataclass
class ServerSet:
    """Every process that does a target's work, by kind (app, redis), plus PostgreSQL backends
    read through a callable (Tipline's bench database). CPU and RSS are summed over them."""

    processes: dict[str, list[psutil.Process]] = field(default_factory=dict)
    postgres: Callable[[], float | None] | None = None
    server: psutil.Process | None = None  # what bench/fanout's latency phase would profile: nothing

    def add(self, kind: str, process: psutil.Process) -> None:
        self.processes.setdefault(kind, []).append(process)

    def _by_kind(self, read: Callable[[psutil.Process], float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, procs in self.processes.items():
            total = 0.0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += read(p)
            out[kind] = total
        return out

    def cpu_by_kind(self) -> dict[str, float]:
        out = self._by_kind(lambda p: sum(p.cpu_times()[:2]))  # user + system
        pg = self.postgres() if self.postgres is not None else None
        if pg is not None:
            out["postgres"] = pg
        return out

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_kind().values())

    def rss_by_kind(self) -> dict[str, int]:
        """Resident memory of the app processes and Redis (PostgreSQL's is mostly shared buffers)."""
        return {k: int(v) for k, v in self._by_kind(lambda p: p.memory_info().rss).items()}


async def wait_idle(meter: CpuMeter, *, below: float, timeout: float = 30.0) -> float:
    """Until the processes use less than ``below`` of a core over half a second."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        a = meter.cpu_seconds()
        await asyncio.sleep(0.5)
        if (meter.cpu_seconds() - a) / 0.5 < below:
            break
    return time.monotonic() - t0


# --- measuring a window ------------------------------------------------------------------------------


def sample_receivers(clients: list[WSClient], senders: int, every: int) -> tuple[Samples, list[WSClient]]:
    """Every ``every``-th member that is not a sender stamps the deliveries it gets."""
    samples = Samples()

    def sample_sink(client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        samples.timestamps(data, start, end, now)

    sampled = [c for c in clients[senders:] if c.index % every == 0]
    for c in sampled:
        c.sink = sample_sink
    return samples, sampled


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU-seconds by kind of server process between two ``ServerSet.cpu_by_kind`` readings."""
    return {k: after[k] - before.get(k, 0.0) for k in after}


# --- saturation ------------------------------------------------------------------------------------


class ClosedLoop(Senders):
    """bench/fanout's senders (each keeps ``window`` of its own messages in flight), counting what
    acknowledges a send: Tipline's ack frame, or for the peers the sender's own message coming
    back. A sender that gets none of its own back for ``stall_s`` (10 s; even a slow server
    returns some every second) counts its in-flight messages as lost and sends a fresh window,
    so a server that drops messages cannot stall the run."""

    def __init__(
        self, clients: list[WSClient], make: PayloadFn, window: int, samples: Samples, ack_mark: bytes | None
    ) -> None:
        super().__init__(clients, make, window, samples, check=False)
        self.ack_mark = ack_mark
        self.acked = 0
        self.lost = 0
        self.stalls = 0
        self.last_back = [time.monotonic()] * len(clients)

    def _sink(self, k: int) -> TextSink:
        inner = super()._sink(k)
        own = f"#s{k}#".encode()
        ack = self.ack_mark or own

        def sink(client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
            self.acked += data.count(ack, start, end)
            if data.find(own, start, end) >= 0:
                self.last_back[k] = time.monotonic()
            inner(client, data, start, end, now)

        return sink

    async def watchdog(self, stall_s: float = 10.0) -> None:
        while self.running:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for k in range(len(self.clients)):
                if self.running and self.inflight[k] > 0 and now - self.last_back[k] > stall_s:
                    self.stalls += 1
                    self.lost += self.inflight[k]
                    self.inflight[k] = 0
                    self.last_back[k] = now
                    while self.inflight[k] < self.window:
                        self._send(k)


async def saturation(
    clients: list[WSClient],
    proto: Wire,
    servers: ServerSet,
    *,
    senders: int,
    window: int,
    warmup: float,
    duration: float,
    sample_every: int = 50,
) -> dict[str, Any]:
    samples, sampled = sample_receivers(clients, senders, sample_every)
    group = ClosedLoop(clients[:senders], proto.make, window, samples, proto.ack_mark)
    group.start()
    dog = asyncio.get_running_loop().create_task(group.watchdog())
    try:
        await asyncio.sleep(warmup)
        samples.latencies_ms.clear()
        e0, f0, b0 = totals(clients)
        a0, lost0 = group.acked, group.lost
        cpu0, c0, m0, t0 = servers.cpu_by_kind(), own_cpu_seconds(), machine_cpu(), time.monotonic()
        await asyncio.sleep(duration)
        e1, f1, b1 = totals(clients)
        a1, lost1 = group.acked, group.lost
        cpu1, c1, m1, t1 = servers.cpu_by_kind(), own_cpu_seconds(), machine_cpu(), time.monotonic()
        lat = list(samples.latencies_ms)
        # Let what is in flight drain: every member still has to get it, which takes a slow
        # server a while (256 messages x 1,000 members at 5,000 deliveries/s is ~50 s).
        rate = max(1.0, (e1 - e0) / (t1 - t0))
        drain_s = min(300.0, 15.0 + 2 * sum(max(0, i) for i in group.inflight) * len(clients) / rate)
        await group.stop(timeout=drain_s)
    finally:
        group.running = False
        dog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dog
    await wait_quiet(clients, quiet_s=0.5, timeout=drain_s, what="events")
    for c in clients:
        c.sink = None
    elapsed = t1 - t0
    events = e1 - e0
    cpu = cpu_used(cpu0, cpu1)
    server_cpu = sum(cpu.values())
    closed = [c for c in clients if c.lost or c.close_code is not None]
    result = {
        "deliveries_per_s": round(events / elapsed),
        "deliveries_per_cpu_s": round(events / server_cpu) if server_cpu > 0 else None,
        "acked_per_s": round((a1 - a0) / elapsed, 1),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "server_cpu_pct_by_kind": {k: round(100 * v / elapsed, 1) for k, v in cpu.items()},
        "client_cpu_pct": round(100 * (c1 - c0) / elapsed, 1),
        **machine_cpu_between(m0, m1, 100 * (server_cpu + (c1 - c0)) / elapsed),
        "frames_per_s": round((f1 - f0) / elapsed),
        "events_per_frame": round(events / max(1, f1 - f0), 2),
        "bytes_per_event": round((b1 - b0) / max(1, events), 1),
        "window_s": round(elapsed, 2),
        "senders": senders,
        "window_per_sender": window,
        "sampled_receivers": len(sampled),
        "p50_ms_under_load": rounded(percentile(lat, 50)),
        "p99_ms_under_load": rounded(percentile(lat, 99)),
        "lost_in_window": lost1 - lost0,
        "lost": group.lost,
        "stalls": group.stalls,
        "sent": sum(group.sent),
        # Own messages a sender never saw come back, once the senders stopped and waited for them.
        "unreturned": sum(max(0, i) for i in group.inflight),
        "closed_connections": len(closed),
        "close_codes": sorted({c.close_code for c in closed if c.close_code is not None}),
        "errors": samples.errors,
    }
    log(
        f"{proto.name} saturation: {result['deliveries_per_s']:,} deliveries/s, "
        f"{result['deliveries_per_cpu_s']} per server CPU-second, {result['acked_per_s']} acked/s, "
        f"server CPU {result['server_cpu_pct_by_kind']}%, client CPU {result['client_cpu_pct']}%"
    )
    return result


# --- steady load ---------------------------------------------------------------------------------


async def steady(
    clients: list[WSClient],
    proto: Wire,
    servers: ServerSet,
    *,
    senders: int,
    msgs_per_s: float,
    warmup: float,
    duration: float,
    sample_every: int = 50,
) -> dict[str, Any]:
    """A fixed offered load, the same for every target it runs on: ``msgs_per_s`` messages a
    second in open loop, taken in turn by the ``senders`` connections (so spread over the nodes).

    At saturation each configuration does different work (one process commits bigger groups
    and writes more events per socket write than four do); at a fixed load both deliver the same
    events, so server CPU per delivery compares what each configuration costs for that work.
    """
    samples, sampled = sample_receivers(clients, senders, sample_every)
    loop = asyncio.get_running_loop()
    running = True
    sent = 0

    async def pace() -> None:
        nonlocal sent
        start = loop.time()
        while running:
            delay = start + sent / msgs_per_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            k = sent % senders
            # Ids unique across phases: a repeated client_msg_id is an idempotent retry, not a message.
            clients[k].send_text(proto.make(f"st{msgs_per_s:g}-{k}-{sent}", body(f"st{k}")))
            sent += 1

    task = loop.create_task(pace())
    try:
        await asyncio.sleep(warmup)
        samples.latencies_ms.clear()
        e0, f0, _ = totals(clients)
        cpu0, t0 = servers.cpu_by_kind(), time.monotonic()
        await asyncio.sleep(duration)
        e1, f1, _ = totals(clients)
        cpu1, t1 = servers.cpu_by_kind(), time.monotonic()
        lat = list(samples.latencies_ms)
    finally:
        running = False
        await task
    await wait_quiet(clients, quiet_s=0.5, timeout=60, what="events")
    for c in sampled:
        c.sink = None
    elapsed = t1 - t0
    events = e1 - e0
    cpu = cpu_used(cpu0, cpu1)
    server_cpu = sum(cpu.values())
    result = {
        "msgs_per_s": msgs_per_s,
        "deliveries_per_s": round(events / elapsed),
        "deliveries_per_cpu_s": round(events / server_cpu) if server_cpu > 0 else None,
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "server_cpu_pct_by_kind": {k: round(100 * v / elapsed, 1) for k, v in cpu.items()},
        "events_per_frame": round(events / max(1, f1 - f0), 2),
        "p50_ms": rounded(percentile(lat, 50)),
        "p99_ms": rounded(percentile(lat, 99)),
        "sent": sent,
        "senders": senders,
        "window_s": round(elapsed, 2),
    }
    log(
        f"{proto.name} steady {msgs_per_s:g} msg/s: {result['deliveries_per_s']:,} deliveries/s, "
        f"{result['deliveries_per_cpu_s']} per server CPU-second, server CPU {result['server_cpu_pct_by_kind']}%, "
        f"{result['events_per_frame']} events/frame, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
    )
    return result


# --- one target, start to end --------------------------------------------------------------------------


async def measure(
    proto: Wire,
    servers: ServerSet,
    members: int,
    *,
    latency_deliveries: float,
    latency_duration: float,
    senders: int,
    window: int,
    warmup: float,
    duration: float,
    steady_msgs_per_s: Sequence[float] = (),
) -> dict[str, Any]:
    """Memory per connection, latency at a moderate rate, steady loads (if asked), saturation."""
    async with client_pool(heartbeat=proto.heartbeat) as clients:
        # A few sockets first, closed again: what the first connection imports or allocates once
        # (Django loads its session and auth middleware lazily) is not memory per connection.
        warm: list[WSClient] = []
        await connect_all(proto, min(10, members), into=warm)
        close_all(warm)
        await wait_idle(servers, below=0.1)
        rss0 = servers.rss_by_kind()
        connect_s = await connect_all(proto, members, into=clients)
        settle_s = await wait_idle(servers, below=0.1)
        await asyncio.sleep(1.0)
        rss1 = servers.rss_by_kind()
        delta = {k: rss1[k] - rss0.get(k, 0) for k in rss1}
        per_conn = sum(delta.values()) // members
        log(f"{proto.name}: {per_conn:,} bytes per connection ({ {k: v // members for k, v in delta.items()} })")
        meter = cast(ServerProcess, servers)  # fanout's latency phase reads cpu_seconds() (and .server to profile)
        warm_phase = await latency_phase(
            clients, proto.make, meter, rate=10, duration=1, check=False, name=f"{proto.name}-warm"
        )
        latency = await latency_phase(
            clients,
            proto.make,
            meter,
            rate=latency_deliveries / members,
            duration=latency_duration,
            check=proto.check_seq,
            name=f"{proto.name}-lat",
        )
        held = [
            await steady(clients, proto, servers, senders=senders, msgs_per_s=rate, warmup=warmup, duration=duration)
            for rate in steady_msgs_per_s
        ]
        sat = await saturation(
            clients, proto, servers, senders=senders, window=window, warmup=warmup, duration=duration
        )
        # Every message of the run (both latency phases and saturation) should reach every member.
        expected = members * (warm_phase["messages"] + latency["messages"] + sum(h["sent"] for h in held) + sat["sent"])
        delivered = sum(c.events for c in clients)
        log(f"{proto.name}: {delivered:,} of {expected:,} deliveries over the whole run")
        return {
            "deliveries_expected": expected,
            "deliveries_missing": expected - delivered,
            "bytes_per_conn": per_conn,
            "bytes_per_conn_by_kind": {k: v // members for k, v in delta.items()},
            "rss_before_connect_mib": {k: round(v / 2**20, 1) for k, v in rss0.items()},
            "rss_after_connect_mib": {k: round(v / 2**20, 1) for k, v in rss1.items()},
            "connect_s": round(connect_s, 1),
            "settle_after_connect_s": round(settle_s, 1),
            "latency": latency,
            "steady": held or None,
            "saturation": sat,
        }
