"""Fan-out benchmark: one Tipline process, one group of N members, all connected.

    uv run python bench/fanout/run.py [--members 1000|1000,10000] [--ws-impl websockets-sansio|websockets|wsproto]
                                      [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                      [--embedded] [--out bench/results]

Measures, for Tipline and then for a bare broadcast server on the same WebSocket stack
(bench/fanout/baseline_server.py), with the same client and the same procedure:

* memory per idle authenticated connection: server RSS before and after connecting N sockets;
* send-to-deliver latency at a moderate rate (~2,000 deliveries/s: 2,000/N messages/s);
* deliveries/s at saturation: S sender connections (members of the group) each keep W of
  their own messages in flight (a new one goes out when the sender sees one of its own
  come back), and every event received by every member is counted over a fixed window.

Prints one JSON object last on stdout, and writes bench/results/fanout-<ws_impl>.json and .png.

Rooms mode, ``--members 1000,10000``: Tipline only (``--baseline`` to add it), one server
process, one group per size measured in turn with the same steps, then what typing and presence
in each room send to the other members; writes bench/results/fanout-rooms.json and .png with
the sizes side by side and deliveries/s at the largest over the smallest.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    ARGON2_NOTE,
    BENCH,
    TMP,
    TS_RE,
    WS_IMPLS,
    PySpy,
    ServerProcess,
    TiplineServer,
    WSClient,
    client_pool,
    connect_many,
    connect_ws,
    create_group,
    free_port,
    install_sigterm_handler,
    log,
    machine_cpu,
    machine_cpu_between,
    own_cpu_seconds,
    percentile,
    pin_client,
    rounded,
    run_facts,
    sign_up_users,
    wait_quiet,
    wait_server_idle,
    write_result,
)
from fanout.floor import measure_floor

TARGETS = {"ratio_to_baseline": 0.6, "deliveries_per_s": 100_000, "p99_ms": 15.0, "bytes_per_conn": 32_000}
PAD = "lorem ipsum dolor sit amet, consectetur adipiscing"

# --- what a sender puts on the wire ---------------------------------------------------------------

PayloadFn = Callable[[str, str], bytes]  # (client_msg_id, body) -> frame payload


def tipline_payload(conversation_id: int) -> PayloadFn:
    def make(cmid: str, body: str) -> bytes:
        return orjson.dumps({"type": "send", "conversation_id": conversation_id, "client_msg_id": cmid, "body": body})

    return make


def baseline_payload() -> PayloadFn:
    """The baseline rebroadcasts what it gets: send it a frame shaped (and sized) like Tipline's event."""
    counter = itertools.count(1)

    def make(cmid: str, body: str) -> bytes:
        n = next(counter)
        data = {
            "id": 100_000 + n,
            "conversation_id": 1,
            "seq": n,
            "sender_id": 1,
            "client_msg_id": cmid,
            "body": body,
            "reply_to_id": None,
            "mention_ids": [],
            "created_at": datetime.now(UTC).isoformat(),
            "edited_at": None,
            "deleted": False,
            "reactions": [],
            "reply_count": 0,
        }
        frame = {"type": "event", "event": "message.created", "conversation_id": 1, "seq": n, "data": data}
        return orjson.dumps(frame)

    return make


def body(tag: str) -> str:
    # The timestamp comes first: receivers find it with TS_RE without decoding the JSON.
    return f"t={time.time_ns()} #{tag}# {PAD}"


# --- measurement --------------------------------------------------------------------------------


@dataclass
class Samples:
    latencies_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    seq_gaps: int = 0
    seq_checked: int = 0
    errors: list[str] = field(default_factory=list)
    last_seq: dict[int, int] = field(default_factory=dict)

    def timestamps(self, data: bytes, start: int, end: int, now: int) -> None:
        lat = self.latencies_ms
        for m in TS_RE.finditer(data, start, end):
            lat.append((now - int(m.group(1))) / 1e6)

    def check_seq(self, client: WSClient, data: bytes, start: int, end: int) -> None:
        """Decode (a sample of) frames and check each socket sees seq with no gap and in order."""
        frame = orjson.loads(memoryview(data)[start:end])
        frames = frame["frames"] if frame.get("type") == "batch" else [frame]
        for f in frames:
            if f.get("type") == "error":
                self.note_error(orjson.dumps(f).decode())
            if f.get("event") != "message.created":
                continue
            seq = f["seq"]
            last = self.last_seq.get(client.index)
            if last is not None:
                self.seq_checked += 1
                if seq != last + 1:
                    self.seq_gaps += 1
            self.last_seq[client.index] = seq

    def note_error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text[:300])


class Senders:
    """S sender connections, each keeping ``window`` of its own messages in flight (closed loop)."""

    def __init__(self, clients: list[WSClient], make: PayloadFn, window: int, samples: Samples, check: bool) -> None:
        self.clients = clients
        self.make = make
        self.window = window
        self.samples = samples
        self.check = check
        self.inflight = [0] * len(clients)
        self.sent = [0] * len(clients)
        self.running = False

    def _send(self, k: int) -> None:
        n = self.sent[k]
        self.sent[k] = n + 1
        self.inflight[k] += 1
        self.clients[k].send_text(self.make(f"s{k}-{n}", body(f"s{k}")))

    def start(self) -> None:
        self.running = True
        for k, client in enumerate(self.clients):
            client.sink = self._sink(k)
            for _ in range(self.window):
                self._send(k)

    def _sink(self, k: int) -> Callable[[WSClient, bytes, int, int, int], None]:
        tag = f"#s{k}#".encode()
        samples = self.samples

        def sink(client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
            own = data.count(tag, start, end)
            if own:
                self.inflight[k] -= own
            if data.find(b'"type":"error"', start, end) >= 0:
                samples.note_error(data[start:end].decode(errors="replace"))
                self.inflight[k] -= data.count(b'"type":"error"', start, end)
            if self.check:
                samples.check_seq(client, data, start, end)
            while self.running and self.inflight[k] < self.window:
                self._send(k)

        return sink

    async def stop(self, timeout: float = 15.0) -> None:
        self.running = False
        deadline = time.monotonic() + timeout
        while any(i > 0 for i in self.inflight) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if any(i > 0 for i in self.inflight):
            log(f"senders still waiting for {sum(self.inflight)} of their messages after {timeout:.0f}s")


def totals(clients: list[WSClient]) -> tuple[int, int, int]:
    return sum(c.events for c in clients), sum(c.frames for c in clients), sum(c.bytes for c in clients)


async def latency_phase(
    clients: list[WSClient],
    make: PayloadFn,
    server: ServerProcess,
    *,
    rate: float,
    duration: float,
    check: bool,
    name: str,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One sender (client 0) sends ``rate`` messages/s; every member stamps every delivery.

    Besides the percentiles over all deliveries, each message's first and last delivery split
    the latency into "until the first socket has it" (receive, commit, publish) and the spread
    of the fan-out itself.
    """
    samples = Samples()
    sent_at: dict[str, int] = {}
    spans: dict[int, list[int]] = {}  # send timestamp -> [first, last] delivery time

    def member_sink(client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        for m in TS_RE.finditer(data, start, end):
            ts = int(m.group(1))
            samples.latencies_ms.append((now - ts) / 1e6)
            span = spans.get(ts)
            if span is None:
                spans[ts] = [now, now]
            elif now > span[1]:
                span[1] = now
        if check:
            samples.check_seq(client, data, start, end)

    def sender_sink(client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        member_sink(client, data, start, end, now)
        if data.find(b'"type":"ack"', start, end) >= 0:
            frame = orjson.loads(memoryview(data)[start:end])
            for f in frame["frames"] if frame.get("type") == "batch" else [frame]:
                if f.get("type") == "ack" and f.get("client_msg_id") in sent_at:
                    samples.ack_ms.append((now - sent_at.pop(f["client_msg_id"])) / 1e6)

    for c in clients:
        c.sink = member_sink
    clients[0].sink = sender_sink
    count = max(1, round(rate * duration))
    e0, _, _ = totals(clients)
    spy = None
    if profile is not None and server.server is not None:
        spy = PySpy(server.server.pid, duration, profile, rate=500)
        await spy.start()
    s0, c0, m0, w0 = server.cpu_seconds(), own_cpu_seconds(), machine_cpu(), time.monotonic()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i in range(count):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        cmid = f"{name}-{i}"  # unique: a repeated client_msg_id is an idempotent retry
        sent_at[cmid] = time.time_ns()
        clients[0].send_text(make(cmid, body("l")))
    elapsed = loop.time() - t0 + 1 / rate
    await wait_quiet(clients, quiet_s=0.5, timeout=15, what="events")
    e1, _, _ = totals(clients)
    s1, c1, m1, wall = server.cpu_seconds(), own_cpu_seconds(), machine_cpu(), time.monotonic() - w0
    for c in clients:
        c.sink = None
    expected = count * len(clients)
    lat = samples.latencies_ms
    prof = await spy.finish() if spy is not None else None
    first = [(f - ts) / 1e6 for ts, (f, _) in spans.items()]
    spread = [(last - f) / 1e6 for (f, last) in spans.values()]
    result = {
        "messages": count,
        "rate_msgs_per_s": rate,
        "deliveries_per_s": round((e1 - e0) / elapsed),
        "delivered": e1 - e0,
        "expected": expected,
        "samples": len(lat),
        "p50_ms": rounded(percentile(lat, 50)),
        "p90_ms": rounded(percentile(lat, 90)),
        "p99_ms": rounded(percentile(lat, 99)),
        "max_ms": rounded(max(lat) if lat else None),
        "ack_p50_ms": rounded(percentile(samples.ack_ms, 50)),
        "ack_p99_ms": rounded(percentile(samples.ack_ms, 99)),
        "first_delivery_p50_ms": rounded(percentile(first, 50)),
        "fanout_spread_p50_ms": rounded(percentile(spread, 50)),
        "fanout_spread_max_ms": rounded(max(spread) if spread else None),
        "server_cpu_ms_per_message": round(1000 * (s1 - s0) / count, 2),
        "client_cpu_ms_per_message": round(1000 * (c1 - c0) / count, 2),
        **machine_cpu_between(m0, m1, 100 * ((s1 - s0) + (c1 - c0)) / wall),
        "seq_gaps": samples.seq_gaps if check else None,
        "errors": samples.errors,
        "profile": prof,
    }
    log(
        f"latency at {rate:g} msg/s x {len(clients)} members: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
        f"(first socket {result['first_delivery_p50_ms']} ms, fan-out spread {result['fanout_spread_p50_ms']} ms, "
        f"server CPU {result['server_cpu_ms_per_message']} ms/msg; {e1 - e0}/{expected} delivered)"
    )
    return result


async def saturation_phase(
    clients: list[WSClient],
    make: PayloadFn,
    server: ServerProcess,
    *,
    senders: int,
    window: int,
    warmup: float,
    duration: float,
    check: bool,
    pg_cpu: Callable[[], float | None] = lambda: None,
    profile: Path | None = None,
    sample_every: int = 50,
) -> dict[str, Any]:
    samples = Samples()

    def sample_sink(client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        samples.timestamps(data, start, end, now)
        if check:
            samples.check_seq(client, data, start, end)

    # A few receivers also stamp latency under load (and check seq); the others only count.
    sampled = [c for c in clients[senders:] if c.index % sample_every == 0]
    for c in sampled:
        c.sink = sample_sink
    group = Senders(clients[:senders], make, window, samples, check)
    group.start()
    await asyncio.sleep(warmup)
    samples.latencies_ms.clear()
    e0, f0, b0 = totals(clients)
    spy = None
    if profile is not None and server.server is not None:
        spy = PySpy(server.server.pid, duration, profile)
        await spy.start()
    s0, c0, p0, t0 = server.cpu_seconds(), own_cpu_seconds(), pg_cpu(), time.monotonic()
    m0 = machine_cpu()
    await asyncio.sleep(duration)
    e1, f1, b1 = totals(clients)
    s1, c1, p1, t1 = server.cpu_seconds(), own_cpu_seconds(), pg_cpu(), time.monotonic()
    m1 = machine_cpu()
    lat = list(samples.latencies_ms)
    await group.stop()
    prof = await spy.finish() if spy is not None else None
    await wait_quiet(clients, quiet_s=0.5, timeout=20, what="events")
    for c in clients:
        c.sink = None
    elapsed = t1 - t0
    events = e1 - e0
    closed = [c for c in clients if c.lost or c.close_code is not None]
    result = {
        "deliveries_per_s": round(events / elapsed),
        "messages_per_s": round(events / elapsed / len(clients), 1),
        "frames_per_s": round((f1 - f0) / elapsed),
        "events_per_frame": round(events / max(1, f1 - f0), 2),
        "bytes_per_event": round((b1 - b0) / max(1, events), 1),
        "server_cpu_pct": round(100 * (s1 - s0) / elapsed, 1),
        "client_cpu_pct": round(100 * (c1 - c0) / elapsed, 1),
        "postgres_cpu_pct": None if p0 is None or p1 is None else round(100 * (p1 - p0) / elapsed, 1),
        **machine_cpu_between(
            m0, m1, 100 * ((s1 - s0) + (c1 - c0) + (0 if p0 is None or p1 is None else p1 - p0)) / elapsed
        ),
        "window_s": round(elapsed, 2),
        "senders": senders,
        "window_per_sender": window,
        "sampled_receivers": len(sampled),
        "p50_ms_under_load": rounded(percentile(lat, 50)),
        "p99_ms_under_load": rounded(percentile(lat, 99)),
        "seq_checked": samples.seq_checked if check else None,
        "seq_gaps": samples.seq_gaps if check else None,
        "closed_connections": len(closed),
        "close_codes": sorted({c.close_code for c in closed if c.close_code is not None}),
        "errors": samples.errors,
        "profile": prof,
    }
    log(
        f"saturation: {result['deliveries_per_s']:,} deliveries/s, {result['events_per_frame']} events/frame, "
        f"server CPU {result['server_cpu_pct']}%, client CPU {result['client_cpu_pct']}%"
    )
    return result


# --- the two servers ------------------------------------------------------------------------------


async def measure_target(
    args: argparse.Namespace,
    proc: ServerProcess,
    tokens: list[str | None],
    make: PayloadFn,
    *,
    label: str,
    heartbeat: bool,
    check: bool,
    pg_cpu: Callable[[], float | None] = lambda: None,
    signals: Callable[[list[WSClient], ServerProcess], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Connect N sockets (memory), then the latency phase, then saturation; the same for both servers.

    ``signals``: run last, with every socket still connected (rooms mode: typing and presence).
    """
    async with client_pool(heartbeat=heartbeat) as clients:
        await asyncio.sleep(0.5)
        rss_before = proc.rss()
        t0 = time.monotonic()
        clients[:] = await connect_many(proc.port, tokens, origin=f"http://127.0.0.1:{proc.port}", into=clients)
        connect_s = time.monotonic() - t0
        settle_s = await wait_server_idle(proc)
        connect_frames = sum(c.frames for c in clients)
        log(f"{label}: server idle {settle_s:.1f}s after the last connect")
        await asyncio.sleep(1.0)
        rss_after = proc.rss()
        per_conn = (rss_after - rss_before) // len(clients)
        log(f"{label}: RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB = {per_conn:,} bytes per connection")
        await latency_phase(clients, make, proc, rate=10, duration=1, check=False, name="warm")
        latency = await latency_phase(
            clients,
            make,
            proc,
            rate=args.latency_deliveries / len(clients),
            duration=args.latency_duration,
            check=check,
            name="lat",
            profile=TMP / f"pyspy-latency-{label}-{args.ws_impl}.txt" if args.profile else None,
        )
        saturation = await saturation_phase(
            clients,
            make,
            proc,
            senders=args.senders,
            window=args.window,
            warmup=args.warmup,
            duration=args.duration,
            check=check,
            pg_cpu=pg_cpu,
            profile=TMP / f"pyspy-saturation-{label}-{args.ws_impl}.txt" if args.profile else None,
        )
        extra = {"signals": await signals(clients, proc)} if signals is not None else {}
        return {
            "bytes_per_conn": per_conn,
            "rss_before_connect_mib": round(rss_before / 2**20, 1),
            "rss_after_connect_mib": round(rss_after / 2**20, 1),
            "connect_s": round(connect_s, 1),
            # Frames (presence, mostly) the connect storm sent: each user coming online is announced
            # to every member already online.
            "frames_received_while_connecting": connect_frames,
            # docs/protocol.md: `ready` is the first frame after authentication.
            "sockets_with_frames_before_ready": sum(1 for c in clients if c.frames_before_ready),
            "frames_before_ready": sum(c.frames_before_ready for c in clients),
            "settle_after_connect_s": round(settle_s, 1),
            "latency": latency,
            "saturation": saturation,
            **extra,
        }


async def bench_tipline(args: argparse.Namespace) -> dict[str, Any]:
    server = TiplineServer(ws_impl=args.ws_impl, admin_url=args.database_url, embedded=args.embedded, cpu=args.pin)
    try:
        proc = await server.start()
        t0 = time.monotonic()
        users = await sign_up_users(proc.base_url, args.members)
        t1 = time.monotonic()
        cid, timings = await create_group(proc.base_url, users[0], users)
        log(f"group {cid} with {len(users)} members: {timings}")
        result = await measure_target(
            args,
            proc,
            [u.token for u in users],
            tipline_payload(cid),
            label="tipline",
            heartbeat=True,
            check=True,
            pg_cpu=server.pg_cpu_seconds,
        )
        result["setup"] = {"signup_s": round(t1 - t0, 1), **timings}
        return result
    finally:
        await server.stop()


async def bench_baseline(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    script = str(BENCH / "fanout" / "baseline_server.py")
    cmd = ["uv", "run", "--no-sync", "python", script, "--port", str(port), "--ws-impl", args.ws_impl]
    proc = ServerProcess(f"baseline-{args.ws_impl}", cmd, env=dict(os.environ), port=port)
    try:
        await asyncio.to_thread(proc.start, cpu=args.pin)
        # No app-level heartbeat: the baseline would broadcast the pings (it has no idle timeout).
        tokens: list[str | None] = [None] * args.members
        return await measure_target(
            args, proc, tokens, baseline_payload(), label="baseline", heartbeat=False, check=False
        )
    finally:
        await asyncio.to_thread(proc.stop)


# --- rooms: several sizes in one run ---------------------------------------------------------------

ROOMS_TARGET_RATIO = 0.75  # deliveries/s at the largest room over the smallest, same run
TYPING = b'"type":"typing"'
PRESENCE = b'"type":"presence"'
PONG = b'"type":"pong"'


def raise_nofile(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (the server and the floor writer inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {needed} needed for this many sockets")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Tally:
    """Typing and presence frames (and anything else but pongs) received by everyone but the actor."""

    def __init__(self, actor: int) -> None:
        self.actor = actor
        self.typing = 0
        self.presence = 0
        self.other_frames = 0
        self.receivers: set[int] = set()

    def sink(self, client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        if client.index == self.actor:
            return
        typing = data.count(TYPING, start, end)
        presence = data.count(PRESENCE, start, end)
        if typing or presence:
            self.typing += typing
            self.presence += presence
            self.receivers.add(client.index)
        elif data.find(PONG, start, end) < 0:
            self.other_frames += 1

    def figures(self) -> dict[str, int]:
        return {
            "typing_frames": self.typing,
            "presence_frames": self.presence,
            "members_reached": len(self.receivers),
            "other_frames": self.other_frames,
        }


def signals_check(
    cid: int, tokens: list[str | None], *, typing_frames: int = 3, wait_s: float = 3.0
) -> Callable[[list[WSClient], ServerProcess], Awaitable[dict[str, Any]]]:
    """What typing and presence cost in the room: frames every other member receives when one
    member types (``typing_frames`` frames, 2.2 s apart, past the 2 s throttle) and when one
    member's only socket closes and comes back (``wait_s`` after each)."""

    async def run(clients: list[WSClient], proc: ServerProcess) -> dict[str, Any]:
        n = len(clients)
        typist, mover = clients[-1], clients[-2]
        for c in clients:
            c.sink = None
        await wait_quiet(clients, quiet_s=0.5, timeout=20, what="events")

        tally = Tally(typist.index)
        for c in clients:
            c.sink = tally.sink
        t0 = time.monotonic()
        frame = orjson.dumps({"type": "typing", "conversation_id": cid})
        for i in range(typing_frames):
            if i:
                await asyncio.sleep(2.2)
            typist.send_text(frame)
        await asyncio.sleep(wait_s)
        typing = {
            "frames_sent": typing_frames,
            "window_s": round(time.monotonic() - t0, 1),
            "if_fanned_out": typing_frames * (n - 1),
            **tally.figures(),
        }

        tally = Tally(mover.index)
        for c in clients:
            c.sink = tally.sink
        mover.sink = None
        mover.close()
        await asyncio.sleep(wait_s)
        offline = tally.figures()
        tally = Tally(mover.index)
        for c in clients:
            c.sink = tally.sink
        back = await connect_ws(
            mover.index,
            proc.port,
            subprotocols=["tipline.v1", f"tipline.auth.{tokens[mover.index]}"],
            origin=f"http://127.0.0.1:{proc.port}",
        )
        clients.append(back)  # closed with the others
        await asyncio.sleep(wait_s)
        online = tally.figures()
        for c in clients:
            c.sink = None
        result = {
            "typing": typing,
            "presence": {"window_s": wait_s, "if_fanned_out": n - 1, "offline": offline, "online": online},
        }
        log(
            f"{n} members: one member typing {typing_frames}x -> {typing['typing_frames']} typing frames to "
            f"{typing['members_reached']} others (fanned out: {typing['if_fanned_out']}); one member offline/online "
            f"-> {offline['presence_frames']}/{online['presence_frames']} presence frames to others "
            f"(fanned out: {n - 1} each)"
        )
        return result

    return run


async def bench_rooms(args: argparse.Namespace) -> dict[str, Any]:
    """One Tipline process; one group per size (the first N users of one sign-up), measured in turn."""
    sizes: list[int] = args.sizes
    server = TiplineServer(ws_impl=args.ws_impl, admin_url=args.database_url, embedded=args.embedded, cpu=args.pin)
    by_size: dict[int, dict[str, Any]] = {}
    try:
        proc = await server.start()
        t0 = time.monotonic()
        users = await sign_up_users(proc.base_url, max(sizes), concurrency=args.setup_concurrency)
        signup_s = round(time.monotonic() - t0, 1)
        for n in sizes:
            members = users[:n]
            cid, timings = await create_group(
                proc.base_url, members[0], members, name=f"room {n}", invite_concurrency=args.setup_concurrency
            )
            log(f"group {cid} with {n} members: {timings}")
            tokens: list[str | None] = [u.token for u in members]
            # The latency phase sends 2,000/N messages/s: at least ``latency_min_messages`` of them,
            # so that first-delivery and spread percentiles are over messages, not one or two.
            duration = max(args.latency_duration, args.latency_min_messages * n / args.latency_deliveries)
            tip = await measure_target(
                argparse.Namespace(**{**vars(args), "members": n, "latency_duration": duration}),
                proc,
                tokens,
                tipline_payload(cid),
                label=f"tipline-{n}",
                heartbeat=True,
                check=True,
                pg_cpu=server.pg_cpu_seconds,
                signals=signals_check(cid, tokens),
            )
            tip["setup"] = {
                "signup_s": signup_s,
                "signed_up": len(users),
                "signup_concurrency": args.setup_concurrency,
                **timings,
            }
            by_size[n] = tip
    finally:
        await server.stop()
    return by_size


def summarize_rooms(
    args: argparse.Namespace, per_size: dict[int, dict[str, Any]], t0: float, facts: dict[str, Any]
) -> dict[str, Any]:
    small, large = min(args.sizes), max(args.sizes)
    rate = {n: r["deliveries_per_s"] for n, r in per_size.items()}
    ratio = round(rate[large] / rate[small], 3) if rate[small] else None
    per_cpu_rate = {n: r["deliveries_per_server_cpu_s"] for n, r in per_size.items()}
    rows = {}
    for n, r in per_size.items():
        sig = r["tipline"]["signals"]
        rows[str(n)] = {
            "deliveries_per_s": r["deliveries_per_s"],
            "deliveries_per_server_cpu_s": r["deliveries_per_server_cpu_s"],
            "events_per_frame": r["events_per_frame"],
            "server_cpu_pct": r["server_cpu_pct"],
            "client_cpu_pct": r["client_cpu_pct"],
            "other_processes_cpu_pct": r["other_processes_cpu_pct"],
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
            "latency_deliveries_per_s": r["latency_deliveries_per_s"],
            "latency_msgs_per_s": r["latency_msgs_per_s"],
            "latency_messages": r["tipline"]["latency"]["messages"],
            "first_delivery_p50_ms": r["first_delivery_p50_ms"],
            "fanout_spread_p50_ms": r["fanout_spread_p50_ms"],
            "kernel_floor_us_per_write": r["kernel_floor_us_per_write"],
            "kernel_floor_spread_ms": r["kernel_floor_spread_ms"],
            "spread_over_floor": round(r["fanout_spread_p50_ms"] / r["kernel_floor_spread_ms"], 2)
            if r["fanout_spread_p50_ms"] and r["kernel_floor_spread_ms"]
            else None,
            "p99_over_floor": round(r["p99_ms"] / r["kernel_floor_spread_ms"], 2)
            if r["p99_ms"] and r["kernel_floor_spread_ms"]
            else None,
            "server_us_per_delivery_unbatched": r["server_us_per_delivery_unbatched"],
            "bytes_per_conn": r["bytes_per_conn"],
            "connect_s": r["connect_s"],
            "frames_received_while_connecting": r["frames_received_while_connecting"],
            "seq_gaps": r["seq_gaps"],
            "closed_connections": r["closed_connections"],
            "typing_frames_received": sig["typing"]["typing_frames"],
            "typing_if_fanned_out": sig["typing"]["if_fanned_out"],
            "presence_frames_received": sig["presence"]["offline"]["presence_frames"]
            + sig["presence"]["online"]["presence_frames"],
            "presence_if_fanned_out": 2 * sig["presence"]["if_fanned_out"],
            "baseline_deliveries_per_s": r["baseline_deliveries_per_s"],
            "ratio_to_baseline": r["ratio_to_baseline"],
            "setup": r["tipline"]["setup"],
        }
    large_sig = rows[str(large)]
    result: dict[str, Any] = {
        "benchmark": "fanout-rooms",
        "sizes": args.sizes,
        "ws_impl": args.ws_impl,
        f"ratio_{large}_to_{small}": ratio,
        "ratio_large_to_small": ratio,
        "ratio_per_server_cpu": round(per_cpu_rate[large] / per_cpu_rate[small], 3) if per_cpu_rate[small] else None,
        "by_size": rows,
        "database": "embedded" if args.embedded else "postgresql (fresh database)",
        "senders": args.senders,
        "window_per_sender": args.window,
        "note": ARGON2_NOTE,
        **facts,
        "duration_s": round(time.monotonic() - t0, 1),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        # Each size's full record, shaped as fanout-<ws_impl>.json.
        "runs": {str(n): r for n, r in per_size.items()},
    }
    result["targets"] = {
        f"deliveries_per_s at {large} >= {ROOMS_TARGET_RATIO} x at {small}": ratio is not None
        and ratio >= ROOMS_TARGET_RATIO,
        f"typing does not fan out at {large}": large_sig["typing_frames_received"] == 0
        if large > TYPING_FANOUT_DEFAULT
        else None,
        f"presence does not fan out at {large}": large_sig["presence_frames_received"] == 0
        if large > PRESENCE_FANOUT_DEFAULT
        else None,
    }
    return result


TYPING_FANOUT_DEFAULT = 1000  # TYPING_FANOUT_MAX_MEMBERS, src/tipline/config.py
PRESENCE_FANOUT_DEFAULT = 100  # PRESENCE_FANOUT_MAX_MEMBERS


async def rooms_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    facts = run_facts()
    nofile = raise_nofile(max(args.sizes) + 1024)  # each process holds one end of N sockets
    log(f"fan-out rooms bench: {args.sizes} members, ws={args.ws_impl}, RLIMIT_NOFILE {nofile}. {ARGON2_NOTE}.")
    tip = await bench_rooms(args)
    per_size: dict[int, dict[str, Any]] = {}
    for n in args.sizes:
        sub = argparse.Namespace(**{**vars(args), "members": n})
        base = await bench_baseline(sub) if args.baseline else None
        size = round(tip[n]["saturation"].get("bytes_per_event") or 450)
        floor = await measure_floor(n, size)
        log(
            f"kernel floor: {floor['us_per_write_p50']} us per {size}-byte write to one of {n} loopback "
            f"sockets, so one fan-out spreads over at least {floor['spread_ms_p50']} ms"
        )
        per_size[n] = summarize(sub, tip[n], base, t0, facts, floor)
    result = summarize_rooms(args, per_size, t0, facts)
    log(
        "deliveries/s: "
        + ", ".join(f"{int(n):,} members {r['deliveries_per_s']:,}" for n, r in result["by_size"].items())
        + f"; ratio {result['ratio_large_to_small']}"
    )
    return result


# --- report ---------------------------------------------------------------------------------------


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    colors = ["#3b6fb6", "#9a9a9a"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    ax = axes[0]
    vals = [result["deliveries_per_s"], result["baseline_deliveries_per_s"] or 0]
    bars = ax.bar(["Tipline", "baseline"], vals, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in vals])
    ax.axhline(TARGETS["deliveries_per_s"], color="red", ls="--", lw=1, label="target 100k")
    ax.set_title(
        f"Deliveries/s at saturation, {result['members']} members\nratio to baseline {result['ratio_to_baseline']}"
    )
    ax.yaxis.set_major_formatter(thousands)
    ax.legend(loc="upper right")
    ax = axes[1]
    labels = ["p50", "p90", "p99"]
    tip = [result["p50_ms"], result["tipline"]["latency"]["p90_ms"], result["p99_ms"]]
    base = result.get("baseline") or {}
    bl = base.get("latency", {})
    base_vals = [bl.get("p50_ms"), bl.get("p90_ms"), bl.get("p99_ms")]
    x = range(len(labels))
    b1 = ax.bar([i - 0.2 for i in x], [v or 0 for v in tip], 0.4, color=colors[0], label="Tipline")
    b2 = ax.bar([i + 0.2 for i in x], [v or 0 for v in base_vals], 0.4, color=colors[1], label="baseline")
    ax.bar_label(b1, fmt="%.1f")
    ax.bar_label(b2, fmt="%.1f")
    ax.axhline(TARGETS["p99_ms"], color="red", ls="--", lw=1, label="p99 target 15 ms")
    if result.get("kernel_floor_spread_ms"):
        floor_ms = result["kernel_floor_spread_ms"]
        ax.axhline(floor_ms, color="black", ls=":", lw=1, label=f"kernel floor: {floor_ms} ms for one fan-out")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("ms")
    ax.set_title(f"Send-to-deliver latency\nat ~{result['latency_deliveries_per_s']:,} deliveries/s")
    ax.legend()
    ax = axes[2]
    vals = [result["bytes_per_conn"], result["baseline_bytes_per_conn"] or 0]
    bars = ax.bar(["Tipline", "baseline"], vals, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in vals])
    ax.axhline(TARGETS["bytes_per_conn"], color="red", ls="--", lw=1, label="target 32,000")
    ax.set_title("Server RSS per idle authenticated\nconnection (bytes)")
    ax.yaxis.set_major_formatter(thousands)
    ax.legend(loc="upper right")
    fig.suptitle(
        f"Tipline fan-out, ws={result['ws_impl']}, one server process, {result['cpu_count']} CPUs, {result['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_rooms(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    rows = result["by_size"]
    sizes = list(rows)
    names = [f"{int(n):,} members" for n in sizes]
    blue, grey = "#3b6fb6", "#c8c8c8"
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))

    ax = axes[0]
    vals = [rows[n]["deliveries_per_s"] for n in sizes]
    bars = ax.bar(names, vals, color=blue)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in vals])
    small = vals[0]
    ax.axhline(
        ROOMS_TARGET_RATIO * small, color="red", ls="--", lw=1, label=f"{ROOMS_TARGET_RATIO} x the smallest room"
    )
    ax.set_title(f"Deliveries/s at saturation, one room\nratio largest/smallest {result['ratio_large_to_small']}")
    ax.yaxis.set_major_formatter(thousands)
    ax.legend(loc="lower right")

    ax = axes[1]
    x = list(range(len(sizes)))
    p50 = [rows[n]["p50_ms"] or 0 for n in sizes]
    p99 = [rows[n]["p99_ms"] or 0 for n in sizes]
    floor = [rows[n]["kernel_floor_spread_ms"] or 0 for n in sizes]
    b1 = ax.bar([i - 0.27 for i in x], p50, 0.27, color="#8fb0de", label="p50")
    b2 = ax.bar(x, p99, 0.27, color=blue, label="p99")
    b3 = ax.bar([i + 0.27 for i in x], floor, 0.27, color=grey, label="kernel floor for one fan-out")
    for b in (b1, b2, b3):
        ax.bar_label(b, fmt="%.0f")
    ax.set_xticks(x, names)
    ax.set_ylabel("ms")
    ax.set_title("Send-to-deliver latency at ~2,000 deliveries/s\n(each room: 2,000/N messages/s)")
    ax.legend()

    ax = axes[2]
    typing = [rows[n]["typing_frames_received"] for n in sizes]
    typing_all = [rows[n]["typing_if_fanned_out"] for n in sizes]
    presence = [rows[n]["presence_frames_received"] for n in sizes]
    presence_all = [rows[n]["presence_if_fanned_out"] for n in sizes]
    ax.bar([i - 0.2 for i in x], typing_all, 0.4, color="none", edgecolor=grey, hatch="//", label="if fanned out")
    ax.bar([i + 0.2 for i in x], presence_all, 0.4, color="none", edgecolor=grey, hatch="//")
    t = ax.bar([i - 0.2 for i in x], typing, 0.4, color=blue, label="typing frames received")
    p = ax.bar([i + 0.2 for i in x], presence, 0.4, color="#e08a3c", label="presence frames received")
    ax.bar_label(t, labels=[f"{v:,}" for v in typing])
    ax.bar_label(p, labels=[f"{v:,}" for v in presence])
    ax.set_xticks(x, names)
    ax.yaxis.set_major_formatter(thousands)
    ax.set_title("Frames to the other members: one member types 3x;\none member goes offline and back online")
    ax.legend(loc="upper left")
    fig.suptitle(
        f"Tipline rooms, ws={result['ws_impl']}, one server process, {result['cpu_count']} CPUs, {result['date']}, "
        f"load avg at end {result['load_avg_at_end'][0]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def per_cpu(sat: dict[str, Any]) -> int:
    cpu = sat["server_cpu_pct"] / 100
    return round(sat["deliveries_per_s"] / cpu) if cpu else 0


def summarize(
    args: argparse.Namespace,
    tip: dict[str, Any],
    base: dict[str, Any] | None,
    t0: float,
    facts: dict[str, Any],
    floor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sat = tip["saturation"]
    base_rate = base["saturation"]["deliveries_per_s"] if base else None
    result: dict[str, Any] = {
        "benchmark": "fanout",
        "members": args.members,
        "ws_impl": args.ws_impl,
        "deliveries_per_s": sat["deliveries_per_s"],
        "baseline_deliveries_per_s": base_rate,
        "ratio_to_baseline": round(sat["deliveries_per_s"] / base_rate, 3) if base_rate else None,
        # Per second of server CPU: less sensitive to other work on the machine taking cores away.
        "deliveries_per_server_cpu_s": per_cpu(sat),
        "baseline_deliveries_per_server_cpu_s": per_cpu(base["saturation"]) if base else None,
        "ratio_per_server_cpu": round(per_cpu(sat) / per_cpu(base["saturation"]), 3)
        if base and per_cpu(base["saturation"])
        else None,
        "p50_ms": tip["latency"]["p50_ms"],
        "p99_ms": tip["latency"]["p99_ms"],
        "latency_deliveries_per_s": tip["latency"]["deliveries_per_s"],
        "latency_msgs_per_s": tip["latency"]["rate_msgs_per_s"],
        "bytes_per_conn": tip["bytes_per_conn"],
        "baseline_bytes_per_conn": base["bytes_per_conn"] if base else None,
        "baseline_p50_ms": base["latency"]["p50_ms"] if base else None,
        "baseline_p99_ms": base["latency"]["p99_ms"] if base else None,
        "server_cpu_pct": sat["server_cpu_pct"],
        "client_cpu_pct": sat["client_cpu_pct"],
        "steal_pct": sat["steal_pct"],
        "other_processes_cpu_pct": sat["other_processes_cpu_pct"],
        "baseline_other_processes_cpu_pct": base["saturation"]["other_processes_cpu_pct"] if base else None,
        "baseline_server_cpu_pct": base["saturation"]["server_cpu_pct"] if base else None,
        "events_per_frame": sat["events_per_frame"],
        # At the moderate rate nothing coalesces: one write per socket per message, as in the baseline.
        "server_us_per_delivery_unbatched": round(1000 * tip["latency"]["server_cpu_ms_per_message"] / args.members, 1),
        "baseline_server_us_per_delivery": round(1000 * base["latency"]["server_cpu_ms_per_message"] / args.members, 1)
        if base
        else None,
        "first_delivery_p50_ms": tip["latency"]["first_delivery_p50_ms"],
        "fanout_spread_p50_ms": tip["latency"]["fanout_spread_p50_ms"],
        # bench/fanout/floor.py: N bare transport writes from one process, nothing above them.
        "kernel_floor_us_per_write": floor["us_per_write_p50"] if floor else None,
        "kernel_floor_spread_ms": floor["spread_ms_p50"] if floor else None,
        "baseline_first_delivery_p50_ms": base["latency"]["first_delivery_p50_ms"] if base else None,
        "connect_s": tip["connect_s"],
        "frames_received_while_connecting": tip["frames_received_while_connecting"],
        "baseline_connect_s": base["connect_s"] if base else None,
        "seq_gaps": (tip["latency"]["seq_gaps"] or 0) + (sat["seq_gaps"] or 0),
        "closed_connections": sat["closed_connections"],
        "sockets_with_frames_before_ready": tip["sockets_with_frames_before_ready"],
        "database": "embedded" if args.embedded else "postgresql (fresh database)",
        "senders": args.senders,
        "window_per_sender": args.window,
        "note": ARGON2_NOTE,
        **facts,
        "duration_s": round(time.monotonic() - t0, 1),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "tipline": tip,
        "baseline": base,
        "kernel_floor": floor,
    }
    result["targets"] = {
        "ratio_to_baseline >= 0.6": None if result["ratio_to_baseline"] is None else result["ratio_to_baseline"] >= 0.6,
        "deliveries_per_s >= 100000": result["deliveries_per_s"] >= TARGETS["deliveries_per_s"],
        "p99_ms <= 15": result["p99_ms"] is not None and result["p99_ms"] <= TARGETS["p99_ms"],
        "bytes_per_conn <= 32000": result["bytes_per_conn"] <= TARGETS["bytes_per_conn"],
    }
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    facts = run_facts()
    log(f"fan-out bench: {args.members} members, ws={args.ws_impl}. {ARGON2_NOTE}.")
    tip = await bench_tipline(args)
    base = None if args.no_baseline else await bench_baseline(args)
    size = round(tip["saturation"].get("bytes_per_event") or 450)
    floor = await measure_floor(args.members, size)
    log(
        f"kernel floor: {floor['us_per_write_p50']} us per {size}-byte write to one of {args.members} loopback "
        f"sockets, so one fan-out spreads over at least {floor['spread_ms_p50']} ms"
    )
    return summarize(args, tip, base, t0, facts, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--embedded", action="store_true", help="run `tipline dev` (embedded PostgreSQL) instead")
    parser.add_argument(
        "--members",
        default="1000",
        help="members of the group; several, comma-separated (e.g. 1000,10000), for rooms mode: Tipline at "
        "each size in one run, written to fanout-rooms.json",
    )
    parser.add_argument("--ws-impl", default="websockets-sansio", choices=WS_IMPLS)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--senders", type=int, default=4, help="sender connections at saturation")
    parser.add_argument("--window", type=int, default=64, help="own messages each sender keeps in flight")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of saturation before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured at saturation")
    parser.add_argument("--latency-deliveries", type=float, default=2000.0, help="deliveries/s of the latency phase")
    parser.add_argument("--latency-duration", type=float, default=10.0)
    parser.add_argument("--pin", type=int, default=None, metavar="CPU", help="pin the servers to this CPU")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline", action="store_true", help="rooms mode: measure the baseline at each size too")
    parser.add_argument(
        "--latency-min-messages",
        type=int,
        default=20,
        help="rooms mode: the latency phase at each size lasts long enough for this many messages",
    )
    parser.add_argument(
        "--setup-concurrency", type=int, default=16, help="rooms mode: sign-ups and invites in flight at once"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the servers during the saturation window")
    args = parser.parse_args()
    args.sizes = sorted({int(n) for n in str(args.members).split(",") if n.strip()})
    install_sigterm_handler()
    pin_client(args.pin)
    if len(args.sizes) > 1:
        rooms = uvloop.run(rooms_async(args))
        name = "fanout-rooms" if args.ws_impl == "websockets-sansio" else f"fanout-rooms-{args.ws_impl}"
        path = write_result(rooms, args.out, name)
        chart_rooms(rooms, args.out / f"{name}.png")
        log(f"wrote {path} and {path.with_suffix('.png')}")
        print(orjson.dumps(rooms).decode())
        return
    args.members = args.sizes[0]
    result = uvloop.run(main_async(args))
    path = write_result(result, args.out, f"fanout-{args.ws_impl}")
    chart(result, args.out / f"fanout-{args.ws_impl}.png")
    log(f"wrote {path} and {path.with_suffix('.png')}")
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
