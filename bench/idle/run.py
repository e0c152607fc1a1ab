"""Idle benchmark: 50,000 idle authenticated WebSockets on one Tipline server process.

    uv run python bench/idle/run.py [--sockets 50000] [--users 10000] [--room 1000]
                                    [--per-source 10000] [--idle-window 60]
                                    [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                    [--out bench/results]

One `tipline serve` process (production defaults: the idle sweeper, the presence refresher and
the socket re-check all run), ``--users`` users signed up over HTTP, each in one group of
``--group-size``; the first ``--room`` of them are also in one room (a group of that many). The
room's members hold one socket each; the other ``--sockets`` - ``--room`` sockets are spread
round-robin over the remaining users (several sockets per user, as several tabs and devices
do: Tipline has no per-user socket cap, only a connect rate limit, which the bench turns off).
Every socket sends the web client's heartbeat, ``{"type":"ping"}`` every ``heartbeat_s`` (25 s,
from `ready`), and answers transport pings.

0. The server's CPU with no socket, over ``--base-window`` seconds.
1. **Connect**: the N sockets from loopback source addresses 127.0.0.2, .3, ... (``--per-source``
   each: one address has ~28k ephemeral ports), sampling the server's RSS and CPU and the
   number connected every half second (the chart's left panel).
2. **Idle**: the server left to settle, then ``--idle-window`` seconds measured with heartbeats
   flowing: server CPU (% of one core), the bench client's CPU, pings sent and pongs received,
   RSS at the end. When fewer sockets are held than ``--sockets`` asks for (the descriptor
   limit, or ``--hold``), another window with the held sockets pinging as often as the
   requested count would, and an estimate for the requested count from the two, labelled so.
   Then ``--profile-idle`` seconds more under py-spy (`py-spy` from PATH, else `uvx py-spy`),
   summarized in the JSON: where the idle CPU goes.
3. **Room**: bench/fanout's latency phase (2,000 deliveries/s: 2 messages/s to the 1,000 members)
   and saturation phase (4 senders, 64 of their messages in flight each), on the room's sockets
   while the other sockets stay connected and keep their heartbeats.

The bench raises RLIMIT_NOFILE before starting the server, which inherits it: the soft limit to
the hard one, and the hard one too where that is allowed (root with CAP_SYS_RESOURCE, up to
/proc/sys/fs/nr_open); what does not fit is not connected (step 2 says how it is accounted for).
Prints one JSON object last on stdout and writes bench/results/idle.json and idle.png. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    ARGON2_NOTE,
    BENCH,
    TMP,
    WS_IMPLS,
    Heartbeat,
    PySpy,
    ServerProcess,
    TiplineServer,
    User,
    WSClient,
    close_all,
    connect_many,
    create_group,
    install_sigterm_handler,
    log,
    machine_cpu,
    machine_cpu_between,
    own_cpu_seconds,
    publish,
    run_facts,
    sign_up_users,
    wait_server_idle,
)
from fanout.run import latency_phase, saturation_phase, tipline_payload

TARGET_RSS_BYTES = 2**30
TARGET_IDLE_CPU_PCT = 10.0
NOFILE_RESERVE = 1000
PONG = b'"type":"pong"'
NOTE = (
    f"{ARGON2_NOTE}; RLIMIT_NOFILE raised by the bench (soft and hard, as root, within /proc/sys/fs/nr_open) and "
    "inherited by the server; access tokens last an hour (ACCESS_TOKEN_TTL_S=3600) so that sign-ups made before "
    "a long connect are still valid at its end (open sockets never expire with their session's access token); "
    "one node with the embedded bus and presence (no Redis), everything else the production default, the idle "
    "sweeper (every second), the presence refresher (every 20 s) and the socket re-check against PostgreSQL "
    "(SOCKET_RECHECK_S, 30 s) included"
)


def raise_nofile(needed: int) -> dict[str, Any]:
    """Raise RLIMIT_NOFILE towards ``needed`` (the server started from this process inherits it).

    The soft limit goes up to the hard one; root with CAP_SYS_RESOURCE may raise the hard limit
    too, up to /proc/sys/fs/nr_open. Where that is refused (a container that drops the
    capability, even for root), the limit stays at the hard one and the run fits its sockets in
    it (see ``fit_sockets``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    facts: dict[str, Any] = {"before": {"soft": soft, "hard": hard}, "needed": needed, "hard_raised": False}
    if hard != resource.RLIM_INFINITY and hard < needed:
        nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        facts["nr_open"] = nr_open
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, nr_open), min(needed, nr_open)))
            facts["hard_raised"] = True
        except (ValueError, OSError) as exc:
            facts["hard_raise_refused"] = f"{type(exc).__name__}: {exc} (euid {os.geteuid()})"
            log(f"RLIMIT_NOFILE hard limit {hard} could not be raised to {needed}: {exc}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    facts.update(soft=soft, hard=hard)
    return facts


def fit_sockets(requested: int, nofile: dict[str, Any]) -> int:
    """As many of the requested sockets as the file-descriptor limit leaves room for: the server
    needs one descriptor per socket plus NOFILE_RESERVE (its database pool, log, event loop), and
    so does this process."""
    soft = int(nofile["soft"])
    if soft == resource.RLIM_INFINITY:
        return requested
    return min(requested, soft - NOFILE_RESERVE)


class CountingHeartbeat(Heartbeat):
    """bench/common's heartbeat (each socket pings ``interval_s`` after its last ping, so sockets
    connected over a minute ping spread over the interval), counting the pings sent."""

    def __init__(self, clients: list[WSClient], interval_s: float) -> None:
        super().__init__(clients, interval_s)
        self.sent = 0

    async def _run(self) -> None:
        frame = b'{"type":"ping"}'
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            sent = 0
            for c in self.clients:
                if now - c.last_ping >= self.interval_s and not c.lost:
                    c.last_ping = now
                    c.send_text(frame)
                    sent += 1
            self.sent += sent


class Pongs:
    """A text-frame sink counting the `pong` frames each socket gets (alone or inside a batch)."""

    def __init__(self) -> None:
        self.count = 0
        self.frames = 0

    def __call__(self, client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        self.frames += 1
        self.count += data.count(PONG, start, end)


class Sampler:
    """Every ``interval`` s: (seconds, sockets connected, server RSS, server CPU % since the last)."""

    def __init__(self, proc: ServerProcess, connected: Callable[[], int], interval: float = 0.5) -> None:
        self.proc = proc
        self.connected = connected
        self.interval = interval
        self.t0 = time.monotonic()
        self.rows: list[tuple[float, int, int, float]] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last_t, last_cpu = time.monotonic(), self.proc.cpu_seconds()
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(Exception):
                t, cpu = time.monotonic(), self.proc.cpu_seconds()
                pct = 100 * (cpu - last_cpu) / max(1e-6, t - last_t)
                self.rows.append((round(t - self.t0, 2), self.connected(), self.proc.rss(), round(pct, 1)))
                last_t, last_cpu = t, cpu

    def mark(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def socket_tokens(users: list[User], room: int, sockets: int) -> list[str | None]:
    """Socket i < room: room member i, alone; the rest round-robin over the users after the room."""
    others = users[room:]
    tokens: list[str | None] = [users[i].token for i in range(room)]
    return tokens + [others[k % len(others)].token for k in range(sockets - room)]


async def create_groups(base_url: str, users: list[User], size: int) -> int:
    """Each user in one group of ``size`` (made by its first member), as bench/memory does."""
    if size < 2:
        return 0
    sem = asyncio.Semaphore(8)
    groups = [g for g in (users[i : i + size] for i in range(0, len(users), size)) if len(g) >= 2]

    async def one(k: int, members: list[User]) -> None:
        async with sem:
            await create_group(base_url, members[0], members, name=f"idle{k}")

    await asyncio.gather(*(one(k, g) for k, g in enumerate(groups)))
    return len(groups)


def closed(clients: list[WSClient]) -> list[WSClient]:
    return [c for c in clients if c.lost or c.close_code is not None]


async def idle_window(
    proc: ServerProcess, server: TiplineServer, clients: list[WSClient], beat: CountingHeartbeat, seconds: float
) -> dict[str, Any]:
    """Server and client CPU over ``seconds`` of heartbeats only; every pong counted."""
    pongs = Pongs()
    for c in clients:
        c.sink = pongs
    pings0 = beat.sent
    s0, c0, p0, m0, t0 = server_cpu(proc), own_cpu_seconds(), server.pg_cpu_seconds(), machine_cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    s1, c1, p1, m1, t1 = server_cpu(proc), own_cpu_seconds(), server.pg_cpu_seconds(), machine_cpu(), time.monotonic()
    pings = beat.sent - pings0
    # The pongs of the window's last pings are on their way: wait for them before comparing.
    deadline = time.monotonic() + 10
    while pongs.count < pings and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for c in clients:
        c.sink = None
    wall = t1 - t0
    server_pct = 100 * (s1 - s0) / wall
    client_pct = 100 * (c1 - c0) / wall
    pg_pct = None if p0 is None or p1 is None else 100 * (p1 - p0) / wall
    return {
        "window_s": round(wall, 1),
        "server_cpu_pct": round(server_pct, 2),
        "client_cpu_pct": round(client_pct, 2),
        "postgres_cpu_pct": None if pg_pct is None else round(pg_pct, 2),
        "pings_sent": pings,
        "pongs_received": pongs.count,
        # Pongs for pings sent just before the window count too, so every ping answered means >= 0.
        "pongs_minus_pings": pongs.count - pings,
        "other_frames_received": pongs.frames - pongs.count,
        "pings_per_s": round(pings / wall, 1),
        "server_us_per_ping": round(1e6 * (s1 - s0) / pings, 1) if pings else None,
        **machine_cpu_between(m0, m1, server_pct + client_pct + (pg_pct or 0.0)),
    }


def server_cpu(proc: ServerProcess) -> float:
    return proc.cpu_seconds()


async def measure(args: argparse.Namespace, server: TiplineServer, facts: dict[str, Any]) -> dict[str, Any]:
    proc = await server.start()
    t0 = time.monotonic()
    users = await sign_up_users(proc.base_url, args.users, concurrency=args.signup_concurrency, prefix="i")
    signup_s = time.monotonic() - t0
    t1 = time.monotonic()
    groups = await create_groups(proc.base_url, users, args.group_size)
    groups_s = time.monotonic() - t1
    room_id, room_timings = await create_group(proc.base_url, users[0], users[: args.room], name="room")
    log(
        f"{len(users)} users signed up in {signup_s:.1f}s, {groups} groups of {args.group_size} in {groups_s:.1f}s, "
        f"room {room_id} of {args.room}: {room_timings}"
    )
    tokens = socket_tokens(users, args.room, args.sockets)
    n = len(tokens)
    n_sources = -(-n // args.per_source)
    addrs = [f"127.0.0.{args.first_source + k}" for k in range(n_sources)]

    clients: list[WSClient] = []
    beat = CountingHeartbeat(clients, args.heartbeat_s)
    sampler = Sampler(proc, lambda: len(clients))
    beat.start()
    try:
        await wait_server_idle(proc, timeout=60)
        await asyncio.sleep(1.0)
        # The process's own idle cost, before any socket: its workers' polling, the health probe.
        b0, tb = proc.cpu_seconds(), time.monotonic()
        await asyncio.sleep(args.base_window)
        base_cpu_pct = 100 * (proc.cpu_seconds() - b0) / (time.monotonic() - tb)
        rss_before = proc.rss()
        sampler.start()
        connect_from = sampler.mark()
        s0, c0, m0, t0 = proc.cpu_seconds(), own_cpu_seconds(), machine_cpu(), time.monotonic()
        clients[:] = await connect_many(
            proc.port,
            tokens,
            origin=f"http://127.0.0.1:{proc.port}",
            concurrency=args.connect_concurrency,
            into=clients,
            sources=lambda i: addrs[i // args.per_source],
            timeout=120.0,
        )
        s1, c1, m1, t1 = proc.cpu_seconds(), own_cpu_seconds(), machine_cpu(), time.monotonic()
        connect_s = t1 - t0
        rss_connected = proc.rss()
        frames_while_connecting = sum(c.frames for c in clients)
        connect_to = sampler.mark()
        ready = orjson.loads(clients[0].ready.result())
        frames = ready["frames"] if ready.get("type") == "batch" else [ready]
        heartbeat_s = next(f["heartbeat_s"] for f in frames if f.get("type") == "ready")
        connect_server_pct = 100 * (s1 - s0) / connect_s
        connect_client_pct = 100 * (c1 - c0) / connect_s
        log(
            f"connected {n:,} sockets in {connect_s:.1f}s ({n / connect_s:,.0f}/s; server CPU "
            f"{connect_server_pct:.0f}%, client {connect_client_pct:.0f}%): RSS {rss_before / 2**20:.1f} -> "
            f"{rss_connected / 2**20:.1f} MiB"
        )
        # The connect storm's presence announcements drain; then heartbeats alone keep it busy.
        settle_s = await wait_server_idle(proc, below=args.settle_below, interval=2.0, timeout=180)
        await asyncio.sleep(args.settle_extra)
        idle_from = sampler.mark()
        idle = await idle_window(proc, server, clients, beat, args.idle_window)
        idle_to = sampler.mark()
        rss_idle = proc.rss()
        log(
            f"idle {idle['window_s']}s: server CPU {idle['server_cpu_pct']}% of a core, client "
            f"{idle['client_cpu_pct']}%, {idle['pings_sent']:,} pings / {idle['pongs_received']:,} pongs; RSS "
            f"{rss_idle / 2**20:.1f} MiB"
        )
        scaled = None
        scaled_span = None
        if n < args.requested_sockets:
            # Fewer sockets than asked for (the descriptor limit): the same sockets ping as often
            # as the requested number would at the web client's interval, so the ping traffic of
            # the requested count is measured, not extrapolated.
            beat.interval_s = args.heartbeat_s * n / args.requested_sockets
            await asyncio.sleep(beat.interval_s + args.settle_extra)
            scaled_from = sampler.mark()
            scaled = await idle_window(proc, server, clients, beat, args.idle_window)
            scaled_span = [scaled_from, sampler.mark()]
            scaled["heartbeat_interval_s"] = round(beat.interval_s, 2)
            log(
                f"idle at the ping rate of {args.requested_sockets:,} sockets ({scaled['pings_per_s']:,}/s): "
                f"server CPU {scaled['server_cpu_pct']}% of a core, client {scaled['client_cpu_pct']}%"
            )
        profile = None
        if args.profile_idle > 0 and proc.server is not None:
            # After the measured window, so that the sampler's own cost is not in the figure.
            spy = PySpy(proc.server.pid, args.profile_idle, TMP / f"pyspy-idle-{os.getpid()}.txt", rate=100)
            await spy.start()
            profile = await spy.finish(top=20)
        beat.interval_s = args.heartbeat_s
        closed_while_idle = len(closed(clients))
        room = clients[: args.room]
        make = tipline_payload(room_id)
        await latency_phase(room, make, proc, rate=10, duration=1, check=False, name="warm")
        latency = await latency_phase(
            room,
            make,
            proc,
            rate=args.latency_deliveries / len(room),
            duration=args.latency_duration,
            check=True,
            name="lat",
        )
        saturation = await saturation_phase(
            room,
            make,
            proc,
            senders=args.senders,
            window=args.window,
            warmup=args.warmup,
            duration=args.duration,
            check=True,
            pg_cpu=server.pg_cpu_seconds,
        )
        await asyncio.sleep(1.0)
        gone = closed(clients)
        rss_end = proc.rss()
    finally:
        await sampler.stop()
        await beat.stop()
        close_all(clients)
        await asyncio.sleep(0.5)

    samples = sampler.rows
    peak_during_connect = max((r[3] for r in samples if connect_from <= r[0] <= connect_to), default=None)
    client_limited = connect_client_pct >= 90 or (saturation["client_cpu_pct"] or 0) >= 90
    result: dict[str, Any] = {
        "benchmark": "idle",
        "sockets": n,
        "users": len(users),
        "room_members": args.room,
        "sockets_per_user_outside_room": round((n - args.room) / max(1, len(users) - args.room), 2),
        "group_size": args.group_size,
        "source_addresses": addrs,
        # The interval the sockets pinged at (the web client's: `heartbeat_s` of `ready`, at most 25 s).
        "ping_interval_s": args.heartbeat_s,
        "heartbeat_s": heartbeat_s,
        "idle_timeout_s": next(f["idle_timeout_s"] for f in frames if f.get("type") == "ready"),
        "rss_before_connect_mib": round(rss_before / 2**20, 1),
        "rss_after_connect_mib": round(rss_connected / 2**20, 1),
        "rss_idle_mib": round(rss_idle / 2**20, 1),
        "rss_end_mib": round(rss_end / 2**20, 1),
        "bytes_per_socket_after_connect": (rss_connected - rss_before) // n,
        "bytes_per_socket_idle": (rss_idle - rss_before) // n,
        "target_rss_bytes": TARGET_RSS_BYTES,
        "connect_s": round(connect_s, 1),
        "connect_per_s": round(n / connect_s),
        "connect_concurrency": args.connect_concurrency,
        "connect_server_cpu_pct": round(connect_server_pct, 1),
        "connect_server_cpu_peak_pct": peak_during_connect,
        "connect_client_cpu_pct": round(connect_client_pct, 1),
        **{f"connect_{k}": v for k, v in machine_cpu_between(m0, m1, connect_server_pct + connect_client_pct).items()},
        "frames_received_while_connecting": frames_while_connecting,
        "sockets_with_frames_before_ready": sum(1 for c in clients if c.frames_before_ready),
        "settle_s": round(settle_s, 1),
        "idle_server_cpu_pct": idle["server_cpu_pct"],
        "target_idle_cpu_pct": TARGET_IDLE_CPU_PCT,
        "idle_client_cpu_pct": idle["client_cpu_pct"],
        "idle": idle,
        "base_cpu_pct": round(base_cpu_pct, 2),
        "requested_sockets": args.requested_sockets,
        "idle_at_requested_ping_rate": scaled,
        "closed_while_idle": closed_while_idle,
        "closed_by_server": len(gone),
        "close_codes": sorted({c.close_code for c in gone if c.close_code is not None}),
        "room_delivered": latency["delivered"],
        "room_expected": latency["expected"],
        "room_p50_ms": latency["p50_ms"],
        "room_p99_ms": latency["p99_ms"],
        "room_latency_deliveries_per_s": latency["deliveries_per_s"],
        "room_deliveries_per_s": saturation["deliveries_per_s"],
        "room_seq_gaps": (latency["seq_gaps"] or 0) + (saturation["seq_gaps"] or 0),
        "room_server_cpu_pct": saturation["server_cpu_pct"],
        "room_client_cpu_pct": saturation["client_cpu_pct"],
        "client_limited": client_limited,
        "rlimit_nofile": args.nofile,
        "note": NOTE,
        "setup": {
            "signup_s": round(signup_s, 1),
            "groups": groups,
            "groups_s": round(groups_s, 1),
            "room": room_timings,
        },
        **facts,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        # py-spy over --profile-idle seconds after the measured window: where the idle CPU goes.
        "idle_profile": profile,
        "latency": latency,
        "saturation": saturation,
        "phases": {"connect": [connect_from, connect_to], "idle": [idle_from, idle_to], "idle_scaled": scaled_span},
        # (seconds, sockets connected, server RSS bytes, server CPU % of one core over the last interval)
        "samples": samples,
    }
    result["meets_targets"] = {
        "rss_idle <= 1 GiB": rss_idle <= TARGET_RSS_BYTES,
        "idle_server_cpu_pct <= 10": idle["server_cpu_pct"] <= TARGET_IDLE_CPU_PCT,
    }
    result["estimate_at_requested"] = estimate(result) if scaled is not None else None
    return result


def estimate(r: dict[str, Any]) -> dict[str, Any]:
    """The requested count from what was measured at fewer sockets, labelled as an estimate.

    RSS: before + bytes per idle socket x requested. CPU: the two idle windows (N sockets pinging
    every heartbeat_s, then as often as the requested count would) give a cost per ping and a
    rest that grows with the sockets held (idle sweeper, presence refresher, socket re-check);
    that rest above the process's own idle cost is scaled by requested / N, the pings counted at
    the requested count's rate, which the second window measured."""
    n, m = r["sockets"], r["requested_sockets"]
    w1, w2 = r["idle"], r["idle_at_requested_ping_rate"]
    extra_pings = w2["pings_per_s"] - w1["pings_per_s"]
    # Two windows at (almost) the same ping rate say nothing of a ping's cost: count it as zero.
    per_ping_pct = max(0.0, (w2["server_cpu_pct"] - w1["server_cpu_pct"]) / extra_pings) if extra_pings > 1 else 0.0
    held = w1["server_cpu_pct"] - per_ping_pct * w1["pings_per_s"]
    cpu = r["base_cpu_pct"] + max(0.0, held - r["base_cpu_pct"]) * m / n + per_ping_pct * m / r["ping_interval_s"]
    rss = r["rss_before_connect_mib"] * 2**20 + r["bytes_per_socket_idle"] * m
    return {
        "sockets": m,
        "rss_idle_mib": round(rss / 2**20, 1),
        "idle_server_cpu_pct": round(cpu, 1),
        "server_us_per_ping": round(per_ping_pct * 1e4, 1),
        "held_sockets_cpu_pct_at_n": round(held, 2),
        "meets_targets": {
            "rss_idle <= 1 GiB": rss <= TARGET_RSS_BYTES,
            "idle_server_cpu_pct <= 10": cpu <= TARGET_IDLE_CPU_PCT,
        },
        "how": "RSS before connecting + bytes per idle socket x sockets; CPU = the process's idle CPU without sockets "
        "+ (CPU at N sockets without pings - that) x sockets / N + CPU per ping x the sockets' ping rate, from two "
        "idle windows at N sockets (pings every heartbeat_s, then at the requested count's rate)",
    }


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    rows = result["samples"]
    c0, c1 = result["phases"]["connect"]
    i0, i1 = result["phases"]["idle"]
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.2))
    ax = axes[0]
    # While connecting, RSS against sockets connected; the idle point at the end.
    conn = [(0, result["rss_before_connect_mib"])] + [(r[1], r[2] / 2**20) for r in rows if c0 <= r[0] <= c1 + 1]
    ax.plot([x for x, _ in conn], [y for _, y in conn], color="#3b6fb6", lw=1.5, label="while connecting")
    idle_label = f"idle: {result['rss_idle_mib']} MiB"
    ax.scatter([result["sockets"]], [result["rss_idle_mib"]], color="black", zorder=3, label=idle_label)
    est = result.get("estimate_at_requested")
    if est:
        ax.plot(
            [result["sockets"], est["sockets"]],
            [result["rss_idle_mib"], est["rss_idle_mib"]],
            color="gray",
            ls=":",
            label=f"estimate at {est['sockets']:,}: {est['rss_idle_mib']} MiB",
        )
    ax.axhline(result["target_rss_bytes"] / 2**20, color="red", ls="--", lw=1, label="target 1 GiB")
    ax.set_xlabel("sockets connected")
    ax.set_ylabel("server RSS (MiB)")
    ax.xaxis.set_major_formatter(thousands)
    top = max(result["target_rss_bytes"] / 2**20, result["rss_end_mib"], est["rss_idle_mib"] if est else 0)
    ax.set_ylim(0, top * 1.1)
    ax.set_title(
        f"Server RSS vs sockets: {result['bytes_per_socket_idle']:,} bytes per idle socket\n"
        f"connected at {result['connect_per_s']:,} sockets/s"
    )
    ax.legend(loc="upper left")
    ax = axes[1]
    scaled = result["idle_at_requested_ping_rate"]
    last = result["phases"]["idle_scaled"][1] if scaled else i1
    idle = [r for r in rows if i0 - 5 <= r[0] <= last + 1]
    ax.plot(
        [r[0] - i0 for r in idle], [r[3] for r in idle], color="#3b6fb6", lw=0.8, label="server CPU (0.5 s samples)"
    )
    first = f"{result['sockets']:,} sockets, every {result['ping_interval_s']:g} s"
    windows = [(result["phases"]["idle"], result["idle"], first)]
    if scaled:
        windows.append(
            (
                result["phases"]["idle_scaled"],
                scaled,
                f"pings at {result['requested_sockets']:,} sockets' rate (every {scaled['heartbeat_interval_s']:g} s)",
            )
        )
    for (a, b), w, what in windows:
        ax.axvspan(a - i0, b - i0, color="#e8eef8")
        ax.hlines(w["server_cpu_pct"], a - i0, b - i0, color="black", lw=2)
        ax.annotate(
            f"{what}:\n{w['pings_per_s']:,.0f} pings/s, mean {w['server_cpu_pct']}%",
            ((a + b) / 2 - i0, w["server_cpu_pct"]),
            textcoords="offset points",
            xytext=(0, 12),
            ha="center",
            fontsize=8,
        )
    ax.axhline(result["target_idle_cpu_pct"], color="red", ls="--", lw=1, label="target 10 %")
    ax.set_xlabel("seconds into the idle window")
    ax.set_ylabel("% of one core")
    ax.set_ylim(0, max(result["target_idle_cpu_pct"] * 3, *(w["server_cpu_pct"] * 2 for _, w, _ in windows)))
    est = result.get("estimate_at_requested")
    extra = f"; estimate at {est['sockets']:,} sockets: {est['idle_server_cpu_pct']}%" if est else ""
    ax.set_title(
        f"Server CPU while idle (shaded: measured windows)\nclient {result['idle_client_cpu_pct']}% of a core{extra}"
    )
    ax.legend(loc="upper right")
    fig.suptitle(
        f"Tipline, {result['sockets']:,} idle authenticated WebSockets ({result['users']:,} users), one server "
        f"process, {result['cpu_count']} CPUs, {result['date']}; room of {result['room_members']:,}: "
        f"{result['room_deliveries_per_s']:,} deliveries/s, p50/p99 {result['room_p50_ms']}/{result['room_p99_ms']} ms",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    facts = run_facts()
    log(
        f"idle bench: {args.sockets:,} sockets, {args.users:,} users, room of {args.room:,}, RLIMIT_NOFILE "
        f"{args.nofile}. {NOTE}."
    )
    server = TiplineServer(ws_impl=args.ws_impl, admin_url=args.database_url, extra_env={"ACCESS_TOKEN_TTL_S": "3600"})
    try:
        result = await measure(args, server, facts)
    finally:
        await server.stop()
    result["duration_s"] = round(time.monotonic() - t0, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--sockets", type=int, default=50_000, help="idle authenticated sockets (N)")
    parser.add_argument(
        "--hold",
        type=int,
        default=None,
        help="hold at most this many sockets and estimate --sockets from them (default: all RLIMIT_NOFILE allows)",
    )
    parser.add_argument("--users", type=int, default=10_000, help="users signed up (the room's and the rest)")
    parser.add_argument("--room", type=int, default=1_000, help="room members (one socket each)")
    parser.add_argument("--group-size", type=int, default=10, help="each user in one group of this size (0: none)")
    parser.add_argument("--per-source", type=int, default=10_000, help="sockets per loopback source address")
    parser.add_argument("--first-source", type=int, default=2, help="first source address 127.0.0.<n>")
    parser.add_argument("--heartbeat-s", type=float, default=25.0, help="ping interval (the web client's: 25 s)")
    parser.add_argument("--connect-concurrency", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--signup-concurrency", type=int, default=16)
    parser.add_argument("--settle-below", type=float, default=0.25, help="server CPU share taken as settled")
    parser.add_argument("--settle-extra", type=float, default=5.0, help="seconds waited after settling")
    parser.add_argument("--idle-window", type=float, default=60.0, help="seconds of heartbeats measured")
    parser.add_argument("--base-window", type=float, default=10.0, help="seconds of server CPU before any socket")
    parser.add_argument(
        "--profile-idle", type=float, default=30.0, help="seconds of py-spy after the idle window (0: none)"
    )
    parser.add_argument("--latency-deliveries", type=float, default=2000.0, help="deliveries/s of the latency phase")
    parser.add_argument("--latency-duration", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=4, help="sender sockets at saturation")
    parser.add_argument("--window", type=int, default=64, help="own messages each sender keeps in flight")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured at saturation")
    parser.add_argument("--ws-impl", default="websockets-sansio", choices=WS_IMPLS)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if not 0 < args.room < args.users or args.sockets <= args.room:
        parser.error("need 0 < room < users and room < sockets")
    install_sigterm_handler()
    # Before the server starts: it inherits the limit. Sockets, plus the server's database
    # connections, log files and the like.
    args.nofile = raise_nofile(args.sockets + NOFILE_RESERVE)
    args.requested_sockets = args.sockets
    args.sockets = min(fit_sockets(args.sockets, args.nofile), args.hold or args.sockets)
    if args.sockets < args.requested_sockets:
        log(
            f"{args.sockets:,} of the {args.requested_sockets:,} sockets held (RLIMIT_NOFILE {args.nofile['soft']}, "
            f"--hold {args.hold}): measuring {args.sockets:,}, then heartbeats at the rate of "
            f"{args.requested_sockets:,} sockets, and estimating {args.requested_sockets:,} from both"
        )
    if args.sockets <= args.room:
        sys.exit(f"{args.sockets} sockets fit in RLIMIT_NOFILE: not enough for a room of {args.room}")
    result = uvloop.run(main_async(args))
    publish(result, args.out, "idle", chart)


if __name__ == "__main__":
    main()
