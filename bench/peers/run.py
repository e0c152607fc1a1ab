"""Tipline against peer chat servers: the same workload and the same client, one run.

    uv run python bench/peers/run.py [--members 1000] [--no-synapse]
                                     [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Targets, one after another, each with N members in one room:

* ``tipline_1``: one `tipline serve` process (in-process bus) on a bench database of its own;
* ``tipline_4``: four `tipline serve` processes on the same database with the Redis bus on the
  run's Redis; clients connect round-robin straight to the four ports (no load balancer);
* ``django_channels``: the Channels tutorial's chat (bench/peers/django_chat) with
  channels-redis on the run's Redis, served by uvicorn;
* ``python_socketio``: bench/peers/sio_server.py, python-socketio with AsyncRedisManager on the
  run's Redis, served by uvicorn.

The peers are installed from PyPI into virtualenvs of their own under bench/results/tmp/peers
(pinned: bench/peers/requirements-*.txt). The run starts a redis-server of its own on a free
port. Then, unless --no-synapse, bench/peers/synapse.py compares durable sends with Matrix
Synapse. Writes bench/results/peers.json and peers.png; the JSON is the last line of stdout.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: tests.bus.cluster starts the run's Redis
sys.path.insert(0, str(HERE.parent))  # bench/: common, fanout
sys.path.insert(0, str(HERE))  # bench/peers: synapse, workload

from tests.bus.cluster import RedisServer, redis_server  # noqa: E402
from workload import ServerSet, Wire, django_protocol, measure, socketio_protocol, tipline_protocol  # noqa: E402

from common import (  # noqa: E402
    ARGON2_NOTE,
    BENCH,
    TMP,
    WS_IMPLS,
    ServerProcess,
    TiplineServer,
    create_group,
    free_port,
    install_sigterm_handler,
    log,
    pin_client,
    publish,
    redis_bus_env,
    run_facts,
    sign_up_users,
)

TARGETS = ("tipline_1", "tipline_4", "django_channels", "python_socketio")
GOALS = {
    "vs_django_channels": 3.0,
    "vs_python_socketio": 1.5,
    "four_nodes_vs_one": 0.85,
}
EQUAL_LOAD_GOAL = 0.85  # four_nodes_vs_one_at_equal_load, at each offered load
VENVS = TMP / "peers"
PYTHON = "3.11"


# --- the peers' virtualenvs ---------------------------------------------------------------------------


def peer_python(name: str) -> Path:
    """bench/results/tmp/peers/<name>, made with `uv venv` and `uv pip install -r` from the pinned
    requirements; reused while the requirements file is unchanged."""
    requirements = HERE / f"requirements-{name}.txt"
    venv = VENVS / name
    python = venv / "bin" / "python"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / ".requirements-sha256"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    t0 = time.monotonic()
    subprocess.run(["uv", "venv", "-q", "--clear", "--python", PYTHON, str(venv)], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), "-r", str(requirements)], check=True)
    stamp.write_text(digest)
    log(f"installed {name} into {venv} in {time.monotonic() - t0:.1f}s")
    return python


def uvicorn_flags(ws_impl: str) -> list[str]:
    """Tipline's stack for every peer: uvloop, httptools, the same WebSocket implementation."""
    return ["--loop", "uvloop", "--http", "httptools", "--ws", ws_impl, "--log-level", "warning"]


# --- targets ---------------------------------------------------------------------------------------


def server_set(redis: RedisServer, apps: list[ServerProcess]) -> ServerSet:
    servers = ServerSet()
    for app in apps:
        assert app.server is not None
        servers.add("app", app.server)
    assert redis.process is not None
    servers.add("redis", psutil.Process(redis.process.pid))
    return servers


async def bench_tipline(args: argparse.Namespace, redis: RedisServer) -> dict[str, dict[str, Any]]:
    """tipline_1, then tipline_4 on the same database, users and group (the JWT secret is kept)."""
    server = TiplineServer(ws_impl=args.ws_impl, admin_url=args.database_url, cpu=args.pin)
    out: dict[str, dict[str, Any]] = {}
    try:
        proc = await server.start()
        t0 = time.monotonic()
        users = await sign_up_users(proc.base_url, args.members)
        cid, timings = await create_group(proc.base_url, users[0], users)
        setup = {"signup_and_group_s": round(time.monotonic() - t0, 1), **timings}
        log(f"group {cid} with {len(users)} members: {timings}")
        tokens = [u.token for u in users]
        for name, nodes in (("tipline_1", 1), ("tipline_4", 4)):
            if name not in args.targets:
                continue
            if nodes != server.nodes:
                await server.stop_nodes()
                server.nodes = nodes
                server.extra_env = redis_bus_env(redis.url, "tlpeers")
            if server.process is None:
                await server.start()
            servers = server_set(redis, server.processes)
            servers.postgres = server.pg_cpu_seconds
            wire = tipline_protocol(name, [p.port for p in server.processes], tokens, cid)
            # Only Tipline's configurations run the steady load: the peers saturate far below it.
            out[name] = await measure_wire(args, wire, servers, steady=True)
            out[name]["setup"] = setup
            out[name]["nodes"] = nodes
    finally:
        await server.stop()
    return out


async def bench_django(args: argparse.Namespace, redis: RedisServer) -> dict[str, Any]:
    python = await asyncio.to_thread(peer_python, "django")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "CHAT_REDIS_URL": redis.url,
        "CHAT_REDIS_PREFIX": f"tlpeers{secrets.token_hex(3)}:",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
    }
    app_dir = HERE / "django_chat"
    cmd = [str(python), "-m", "uvicorn", "chatsite.asgi:application", "--app-dir", str(app_dir)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), *uvicorn_flags(args.ws_impl)]
    async with peer_server("django-channels", cmd, env, port, cpu=args.pin) as proc:
        return await measure_wire(args, django_protocol(port), server_set(redis, [proc]))


async def bench_socketio(args: argparse.Namespace, redis: RedisServer) -> dict[str, Any]:
    python = await asyncio.to_thread(peer_python, "socketio")
    port = free_port()
    cmd = [str(python), str(HERE / "sio_server.py"), "--port", str(port), "--redis-url", redis.url]
    cmd += ["--channel", f"tlpeers{secrets.token_hex(3)}", "--ws-impl", args.ws_impl]
    async with peer_server("python-socketio", cmd, dict(os.environ), port, cpu=args.pin) as proc:
        return await measure_wire(args, socketio_protocol(port), server_set(redis, [proc]))


@contextlib.asynccontextmanager
async def peer_server(
    name: str, cmd: list[str], env: dict[str, str], port: int, *, cpu: int | None
) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(name, cmd, env=env, port=port)
    try:
        await asyncio.to_thread(proc.start, cpu=cpu)
        yield proc
    finally:
        await asyncio.to_thread(proc.stop)


async def measure_wire(
    args: argparse.Namespace, wire: Wire, servers: ServerSet, *, steady: bool = False
) -> dict[str, Any]:
    return await measure(
        wire,
        servers,
        args.members,
        latency_deliveries=args.latency_deliveries,
        latency_duration=args.latency_duration,
        senders=args.senders,
        window=args.window,
        warmup=args.warmup,
        duration=args.duration,
        steady_msgs_per_s=args.steady_msgs_per_s if steady else (),
    )


# --- report ---------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def summarize(
    args: argparse.Namespace, results: dict[str, dict[str, Any]], facts: dict[str, Any], t0: float
) -> dict[str, Any]:
    def pick(fn: Any) -> dict[str, Any]:
        return {name: fn(r) for name, r in results.items()}

    per_cpu = pick(lambda r: r["saturation"]["deliveries_per_cpu_s"])
    tip = per_cpu.get("tipline_1")
    # Per offered load (--steady-msgs-per-s), keyed by its rate: {"30": {"tipline_1": ...}}.
    steady: dict[str, dict[str, dict[str, Any]]] = {}
    for name, r in results.items():
        for held in r.get("steady") or []:
            steady.setdefault(f"{held['msgs_per_s']:g}", {})[name] = held

    def at_load(key: str) -> dict[str, Any]:
        return {rate: {name: h[key] for name, h in by.items()} for rate, by in steady.items()}

    steady_per_cpu = at_load("deliveries_per_cpu_s")
    result: dict[str, Any] = {
        "benchmark": "peers",
        "members": args.members,
        "ws_impl": args.ws_impl,
        "vs_django_channels": ratio(tip, per_cpu.get("django_channels")),
        "vs_python_socketio": ratio(tip, per_cpu.get("python_socketio")),
        "four_nodes_vs_one": ratio(per_cpu.get("tipline_4"), tip),
        # The same comparison at fixed offered loads (--steady-msgs-per-s), where both
        # configurations deliver the same events: CPU per delivery for the same work. At
        # saturation one process coalesces far more events per socket write than four less
        # loaded ones, which the loads below its saturation leave out.
        "four_nodes_vs_one_at_equal_load": {
            rate: ratio(by.get("tipline_4"), by.get("tipline_1")) for rate, by in steady_per_cpu.items()
        },
        "steady_msgs_per_s": [float(rate) for rate in steady],
        "steady_deliveries_per_cpu_s": steady_per_cpu,
        "steady_server_cpu_pct": at_load("server_cpu_pct"),
        "steady_events_per_frame": at_load("events_per_frame"),
        "steady_p99_ms": at_load("p99_ms"),
        "saturation_events_per_frame": pick(lambda r: r["saturation"]["events_per_frame"]),
        "deliveries_per_cpu_s": per_cpu,
        "deliveries_per_s": pick(lambda r: r["saturation"]["deliveries_per_s"]),
        "acked_per_s": pick(lambda r: r["saturation"]["acked_per_s"]),
        "p50_ms": pick(lambda r: r["latency"]["p50_ms"]),
        "p99_ms": pick(lambda r: r["latency"]["p99_ms"]),
        "bytes_per_conn": pick(lambda r: r["bytes_per_conn"]),
        "latency_delivered": pick(lambda r: r["latency"]["delivered"]),
        "latency_expected": pick(lambda r: r["latency"]["expected"]),
        "server_cpu_pct_by_kind": pick(lambda r: r["saturation"]["server_cpu_pct_by_kind"]),
        "client_cpu_pct": pick(lambda r: r["saturation"]["client_cpu_pct"]),
        "machine_busy_pct": pick(lambda r: r["saturation"]["machine_busy_pct"]),
        "steal_pct": pick(lambda r: r["saturation"]["steal_pct"]),
        "other_processes_cpu_pct": pick(lambda r: r["saturation"]["other_processes_cpu_pct"]),
        "lost_at_saturation": pick(lambda r: r["saturation"]["lost"] + r["saturation"]["unreturned"]),
        "deliveries_missing": pick(lambda r: r["deliveries_missing"]),
        "closed_connections": pick(lambda r: r["saturation"]["closed_connections"]),
        "senders": args.senders,
        "window_per_sender": args.window,
        "pinned_cpu": args.pin,
        "latency_deliveries_per_s_target": args.latency_deliveries,
        "note": (
            f"{ARGON2_NOTE}. Server CPU = the app processes + the run's own redis-server + (Tipline) the "
            "PostgreSQL backends of its bench database. Clients connect straight to each server's "
            "port(s): no load balancer."
        ),
        **facts,
        "duration_s": round(time.monotonic() - t0, 1),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }
    result["goals"] = {
        f"{key} >= {goal}": None if result[key] is None else result[key] >= goal for key, goal in GOALS.items()
    }
    for rate, value in result["four_nodes_vs_one_at_equal_load"].items():
        result["goals"][f"four_nodes_vs_one_at_equal_load[{rate}] >= {EQUAL_LOAD_GOAL}"] = (
            None if value is None else value >= EQUAL_LOAD_GOAL
        )
    return result


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    names = list(result["deliveries_per_cpu_s"])
    palette = {"tipline_1": "#3b6fb6", "tipline_4": "#7fa7de", "django_channels": "#0c4b33", "python_socketio": "#999"}
    palette |= {"tipline (sends)": "#3b6fb6", "synapse (sends)": "#b04040"}
    colors = [palette.get(n, "#bbb") for n in names]
    fig, axes = plt.subplots(1, 4, figsize=(20, 5))

    def bars(ax: Any, key: str, title: str) -> None:
        vals = [result[key][n] or 0 for n in names]
        drawn = ax.bar(names, vals, color=colors)
        ax.bar_label(drawn, labels=[f"{v:,.0f}" for v in vals])
        ax.set_title(title)
        ax.yaxis.set_major_formatter(thousands)
        ax.tick_params(axis="x", labelrotation=20)

    bars(
        axes[0],
        "deliveries_per_cpu_s",
        "Deliveries per server CPU-second\n"
        + ", ".join(
            f"{label} {result[key] if result[key] is not None else 'n/a'}"
            for label, key in (("vs Django", "vs_django_channels"), ("vs socketio", "vs_python_socketio"))
        )
        + f", 4 nodes/1 {result['four_nodes_vs_one'] if result['four_nodes_vs_one'] is not None else 'n/a'}"
        + (
            " (at "
            + ", ".join(f"{rate} msg/s: {v}" for rate, v in result["four_nodes_vs_one_at_equal_load"].items())
            + ")"
            if result["four_nodes_vs_one_at_equal_load"]
            else ""
        ),
    )
    ax = axes[1]
    x = range(len(names))
    p50 = [result["p50_ms"][n] or 0 for n in names]
    p99 = [result["p99_ms"][n] or 0 for n in names]
    ax.bar_label(ax.bar([i - 0.2 for i in x], p50, 0.4, color="#3b6fb6", label="p50"), fmt="%.1f")
    ax.bar_label(ax.bar([i + 0.2 for i in x], p99, 0.4, color="#d08030", label="p99"), fmt="%.1f")
    ax.set_xticks(list(x), names, rotation=20)
    ax.set_ylabel("ms")
    ax.set_title(f"Send-to-deliver latency\nat ~{result['latency_deliveries_per_s_target']:,.0f} deliveries/s")
    ax.legend()
    acked = dict(result["acked_per_s"])
    sends = result.get("sends") or {}
    for side in ("tipline", "synapse"):  # the durable-send comparison, when it ran
        figures = sends.get(side) or {}
        rate = next((figures[k] for k in ("acked_messages_per_s", "acked_per_s") if k in figures), None)
        if isinstance(rate, int | float):
            acked[f"{side} (sends)"] = rate
    ax = axes[2]
    drawn = ax.bar(list(acked), [v or 0 for v in acked.values()], color=[palette.get(n, "#b04040") for n in acked])
    ax.bar_label(drawn, labels=[f"{v or 0:,.0f}" for v in acked.values()])
    ax.set_title("Acknowledged messages/s\n(Tipline: ack frames; peers: own message back; sends: Synapse run)")
    ax.yaxis.set_major_formatter(thousands)
    ax.tick_params(axis="x", labelrotation=20)
    bars(axes[3], "bytes_per_conn", "Server RSS per idle connection (bytes)\napp processes + Redis")
    fig.suptitle(
        f"Tipline vs peers, one room of {result['members']} members, ws={result['ws_impl']}, "
        f"{result['cpu_count']} CPUs, {result['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    facts = run_facts()
    log(f"peers bench: {args.members} members, targets {', '.join(args.targets)}. {ARGON2_NOTE}.")
    results: dict[str, dict[str, Any]] = {}
    async with redis_server() as redis:
        assert redis.process is not None
        log(f"redis-server of this run on {redis.url} (pid {redis.process.pid})")
        if args.pin is not None:
            psutil.Process(redis.process.pid).cpu_affinity([args.pin])
        if {"tipline_1", "tipline_4"} & set(args.targets):
            results.update(await bench_tipline(args, redis))
        if "django_channels" in args.targets:
            results["django_channels"] = await bench_django(args, redis)
        if "python_socketio" in args.targets:
            results["python_socketio"] = await bench_socketio(args, redis)
    result = summarize(args, results, facts, t0)
    if not args.no_synapse:
        from synapse import sends_comparison  # bench/peers/synapse.py

        try:
            sends = await sends_comparison(
                args.database_url,
                clients=args.sends_clients,
                duration_s=args.sends_duration,
                warmup_s=args.sends_warmup,
            )
        except Exception as exc:  # the fan-out figures above are still published; the exit code says it failed
            log(f"the Synapse comparison failed: {exc!r}")
            sends = {"error": repr(exc)[:500]}
        result["sends"] = sends
        result["vs_synapse_sends"] = sends.get("vs_synapse_sends")
        result["duration_s"] = round(time.monotonic() - t0, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--ws-impl", default="websockets-sansio", choices=WS_IMPLS)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--senders", type=int, default=4, help="sender connections at saturation")
    parser.add_argument(
        "--window", type=int, default=64, help="own messages each sender keeps in flight (as bench/fanout)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of saturation before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured at saturation")
    parser.add_argument("--latency-deliveries", type=float, default=2000.0, help="deliveries/s of the latency phase")
    parser.add_argument("--latency-duration", type=float, default=10.0)
    parser.add_argument(
        "--steady-msgs-per-s",
        type=float,
        nargs="*",
        default=[30.0, 100.0],
        help="Tipline only: messages/s of each fixed-load phase (none: skip them)",
    )
    parser.add_argument(
        "--pin",
        type=int,
        default=None,
        metavar="CPU",
        help="pin the app processes and the run's Redis to this CPU and the client to the others",
    )
    parser.add_argument("--no-synapse", action="store_true", help="skip the durable-send comparison with Synapse")
    parser.add_argument("--sends-clients", type=int, default=100, help="Synapse comparison: clients")
    parser.add_argument("--sends-duration", type=float, default=15.0, help="Synapse comparison: seconds measured")
    parser.add_argument("--sends-warmup", type=float, default=3.0, help="Synapse comparison: seconds of warm-up")
    args = parser.parse_args()
    if not args.no_synapse and not (HERE / "synapse.py").exists():
        parser.error("bench/peers/synapse.py is missing: run with --no-synapse")
    install_sigterm_handler()
    pin_client(args.pin)
    result = uvloop.run(main_async(args))
    publish(result, args.out, "peers", chart)
    if "error" in (result.get("sends") or {}):
        sys.exit(1)


if __name__ == "__main__":
    main()
