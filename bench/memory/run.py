"""Memory benchmark: server memory per idle authenticated WebSocket connection, and where it goes.

    uv run python bench/memory/run.py [--connections 10000] [--group-size 10]
                                      [--ws-impl websockets-sansio --ws-impl websockets ...]
                                      [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                      [--out bench/results]

N users sign up (each in one group of ``--group-size``), then for each ``WS_IMPL`` (all three
by default) one `tipline serve` process on the same database, run through bench/memory/serve.py
(the same command with a tracemalloc probe on SIGUSR1/SIGUSR2, for the benchmark only):

1. a warm-up of a few sockets, connected and closed, so one-time costs (lazy imports, caches,
   pools) are not counted per connection;
2. **RSS**: the server's RSS, N authenticated sockets connected (each user once), the server
   left to go idle, RSS again; (after - before) / N is ``bytes_per_conn``. No tracing runs.
3. the N sockets closed; then **tracemalloc**: tracing started in the server, the first
   ``--traced-connections`` (2,000) of them connected again (tracing slows every allocation
   down, and the breakdown per socket is the same at any count), the server idle, and what is
   still allocated since tracing started, grouped by package, file, line and origin (the
   innermost frame outside the standard library), divided by N; plus the change in live
   objects by type.

The bench client raises its RLIMIT_NOFILE soft limit to what N sockets need (the server inherits
it) and connects from several 127.0.0.x source addresses, a fresh one for each 15,000 sockets,
so neither file descriptors nor one address's ephemeral ports run out.

Prints one JSON object last on stdout, and writes bench/results/memory.json and memory.png
(the previous memory.json's figures are kept in it under ``previous``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    ARGON2_NOTE,
    BENCH,
    TMP,
    WS_IMPLS,
    ServerProcess,
    TiplineServer,
    User,
    client_pool,
    connect_many,
    create_group,
    install_sigterm_handler,
    log,
    publish,
    run_facts,
    sign_up_users,
    wait_server_idle,
)

TARGET_BYTES_PER_CONN = 16 * 1024
PER_SOURCE_ADDRESS = 15_000
NOTE = (
    f"{ARGON2_NOTE}; access tokens last a day (ACCESS_TOKEN_TTL_S=86400) so that one sign-up serves "
    "every WS_IMPL's server; the health probe relaxed (HEALTH_PROBE_S=5, NODE_UNHEALTHY_CLOSE_S=600) so that a "
    "traced server on a busy machine does not close its sockets as unhealthy; RLIMIT_NOFILE raised in the bench "
    "(inherited by the server)"
)


def raise_nofile(needed: int) -> dict[str, int]:
    """Raise this process's soft RLIMIT_NOFILE (the server started from it inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {needed} needed for this many sockets")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"soft": soft, "hard": hard}


class Sources:
    """Loopback source addresses, a fresh one per PER_SOURCE_ADDRESS sockets and per phase (the
    sockets of a closed phase may sit in TIME_WAIT on their address's ports)."""

    def __init__(self, first: int = 2) -> None:
        self.first = self.next = first

    def take(self, n: int) -> tuple[list[str], Any]:
        count = max(1, -(-n // PER_SOURCE_ADDRESS))
        if self.next + count > 255:
            self.next = self.first
        addrs = [f"127.0.0.{self.next + k}" for k in range(count)]
        self.next += count
        return addrs, lambda i: addrs[i // PER_SOURCE_ADDRESS]


async def create_groups(base_url: str, users: list[User], size: int) -> int:
    if size < 2:
        return 0
    sem = asyncio.Semaphore(8)

    async def one(k: int, members: list[User]) -> None:
        async with sem:
            await create_group(base_url, members[0], members, name=f"mem{k}")

    groups = [users[i : i + size] for i in range(0, len(users), size)]
    groups = [g for g in groups if len(g) >= 2]
    t0 = time.monotonic()
    await asyncio.gather(*(one(k, g) for k, g in enumerate(groups)))
    log(f"created {len(groups)} groups of {size} in {time.monotonic() - t0:.1f}s")
    return len(groups)


async def connect(
    proc: ServerProcess, tokens: list[str | None], sources: Sources, clients: list[Any], *, traced: bool = False
) -> dict[str, Any]:
    addrs, source = sources.take(len(tokens))
    t0 = time.monotonic()
    clients[:] = await connect_many(
        proc.port,
        tokens,
        origin=f"http://127.0.0.1:{proc.port}",
        into=clients,
        sources=source,
        # A traced server answers slowly; on a busy machine 30 s per handshake was not enough.
        timeout=120.0 if traced else 30.0,
    )
    connect_s = time.monotonic() - t0
    # Every socket has its `ready`; what is left is the presence each connect announced. Traced,
    # the heartbeats alone cost the server more than the untraced idle threshold.
    settle_s = await wait_server_idle(proc, below=0.25 if traced else 0.05, timeout=120 if traced else 300)
    await asyncio.sleep(1.0)
    return {"connect_s": round(connect_s, 1), "settle_s": round(settle_s, 1), "source_addresses": addrs}


async def signal_report(proc: ServerProcess, path: Path, timeout: float = 300) -> dict[str, Any]:
    assert proc.server is not None
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    proc.server.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no memory report from the server after {timeout:.0f}s:\n{proc.log_tail()}")
        await asyncio.sleep(0.5)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def per_conn(entries: list[dict[str, Any]], n: int, top: int) -> list[dict[str, Any]]:
    return [
        {"where": e["where"], "bytes_per_conn": round(e["bytes"] / n), "blocks_per_conn": round(e["blocks"] / n, 2)}
        for e in entries[:top]
    ]


def breakdown(report: dict[str, Any], n: int, top: int) -> dict[str, Any]:
    return {
        "bytes_per_conn": round(report["traced_bytes"] / n),
        "blocks_per_conn": round(report["traced_blocks"] / n, 1),
        "by_package": per_conn(report["by_package"], n, top),
        "by_origin": per_conn(report["by_origin"], n, top),
        "by_file": per_conn(report["by_file"], n, top),
        "by_line": per_conn(report["by_line"], n, top),
        "object_types": [
            {"type": t["type"], "count_per_conn": round(t["count"] / n, 2), "bytes_per_conn": round(t["bytes"] / n)}
            for t in report["object_types"][:top]
        ],
        "tracemalloc_frames": report["tracemalloc_frames"],
        "tracemalloc_overhead_mib": round(report["tracemalloc_overhead_bytes"] / 2**20, 1),
        "report_s": report["report_s"],
    }


async def measure_impl(
    args: argparse.Namespace, server: TiplineServer, impl: str, users: list[User] | None, sources: Sources
) -> tuple[dict[str, Any], list[User]]:
    report_path = TMP / f"memory-report-{os.getpid()}-{impl}.json"
    server.ws_impl = impl
    server.extra_env["TIPLINE_BENCH_MEMORY_REPORT"] = str(report_path)
    server.extra_env["TIPLINE_BENCH_TRACEMALLOC_FRAMES"] = str(args.tracemalloc_frames)
    proc = await server.start()
    try:
        if users is None:
            users = await sign_up_users(
                proc.base_url, args.connections, concurrency=args.signup_concurrency, prefix="m"
            )
            await create_groups(proc.base_url, users, args.group_size)
        tokens: list[str | None] = [u.token for u in users]
        n = len(tokens)
        n_traced = min(n, args.traced_connections)
        # 1. warm-up: one-time costs are not per connection.
        async with client_pool(heartbeat=True) as clients:
            await connect(proc, tokens[: args.warmup_connections], sources, clients)
        await wait_server_idle(proc)
        # 2. RSS, without tracing.
        async with client_pool(heartbeat=True) as clients:
            await asyncio.sleep(1.0)
            rss_before = proc.rss()
            conn_facts = await connect(proc, tokens, sources, clients)
            rss_after = proc.rss()
            closed = sum(1 for c in clients if c.close_code is not None or c.lost)
        bytes_per_conn = (rss_after - rss_before) // n
        mib = f"{rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB"
        log(f"{impl}: RSS {mib} = {bytes_per_conn:,} bytes per connection")
        await wait_server_idle(proc, timeout=300)
        # 3. tracemalloc over a second connect of the same N.
        assert proc.server is not None
        await asyncio.sleep(1.0)
        proc.server.send_signal(signal.SIGUSR1)
        await asyncio.sleep(2.0)
        async with client_pool(heartbeat=True) as clients:
            traced_facts = await connect(proc, tokens[:n_traced], sources, clients, traced=True)
            report = await signal_report(proc, report_path)
            closed_traced = sum(1 for c in clients if c.close_code is not None or c.lost)
        traced = breakdown(report, n_traced, args.top)
        log(f"{impl}: traced {traced['bytes_per_conn']:,} bytes per connection; top: {traced['by_origin'][:5]}")
        result = {
            "ws_impl": impl,
            "connections": n,
            "bytes_per_conn": bytes_per_conn,
            "rss_before_connect_mib": round(rss_before / 2**20, 1),
            "rss_after_connect_mib": round(rss_after / 2**20, 1),
            **conn_facts,
            "closed_by_server": closed + closed_traced,
            "traced": {
                **traced,
                "connections": n_traced,
                "connect_s": traced_facts["connect_s"],
                "settle_s": traced_facts["settle_s"],
            },
            # What tracemalloc does not see: C allocations outside Python's allocators (the event
            # loop's handles, OpenSSL if any), allocator overhead and fragmentation.
            "untraced_bytes_per_conn": bytes_per_conn - traced["bytes_per_conn"],
        }
        return result, users
    finally:
        await server.stop_nodes()
        with contextlib.suppress(FileNotFoundError):
            report_path.unlink()


def previous_figures(path: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        old = json.loads(path.read_text())
        return {
            "date": old["date"],
            "git_commit": old.get("git_commit"),
            "src_dirty": old.get("src_dirty"),
            "connections": old["connections"],
            "bytes_per_conn_by_impl": old["bytes_per_conn_by_impl"],
            "traced_bytes_per_conn_by_impl": old.get("traced_bytes_per_conn_by_impl"),
        }
    return None


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    facts = run_facts()
    impls: list[str] = args.ws_impl or list(WS_IMPLS)
    nofile = raise_nofile(args.connections + 2048)
    log(f"memory bench: {args.connections} connections, ws={impls}, RLIMIT_NOFILE {nofile}. {NOTE}.")
    server = TiplineServer(
        ws_impl=impls[0],
        admin_url=args.database_url,
        launcher=["python", str(BENCH / "memory" / "serve.py")],
        # A traced server on a busy machine can miss its 2 s database probe and would then close
        # every socket as unhealthy (gateway/health.py): probe every 5 s, close after 10 minutes.
        extra_env={"ACCESS_TOKEN_TTL_S": "86400", "HEALTH_PROBE_S": "5", "NODE_UNHEALTHY_CLOSE_S": "600"},
    )
    sources = Sources(args.first_source)
    by_impl: dict[str, Any] = {}
    users: list[User] | None = None
    try:
        for impl in impls:
            by_impl[impl], users = await measure_impl(args, server, impl, users, sources)
            # Each WS_IMPL's figures as soon as they are known (the run takes a while).
            (TMP / f"memory-{os.getpid()}-partial.json").write_text(json.dumps(by_impl, indent=1))
    finally:
        await server.stop()
    first = by_impl[impls[0]]
    return {
        "benchmark": "memory",
        "connections": args.connections,
        "group_size": args.group_size,
        "ws_impl": impls[0],
        "bytes_per_conn": first["bytes_per_conn"],
        "target_bytes_per_conn": TARGET_BYTES_PER_CONN,
        "meets_target": first["bytes_per_conn"] <= TARGET_BYTES_PER_CONN,
        "bytes_per_conn_by_impl": {k: v["bytes_per_conn"] for k, v in by_impl.items()},
        "traced_bytes_per_conn_by_impl": {k: v["traced"]["bytes_per_conn"] for k, v in by_impl.items()},
        "top_by_origin": first["traced"]["by_origin"][:10],
        "warmup_connections": args.warmup_connections,
        "rlimit_nofile": nofile,
        "closed_by_server": sum(v["closed_by_server"] for v in by_impl.values()),
        "previous": previous_figures(args.out / "memory.json"),
        "note": NOTE,
        **facts,
        "duration_s": round(time.monotonic() - t0, 1),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "by_impl": by_impl,
    }


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), gridspec_kw={"width_ratios": [1, 1.6]})
    ax = axes[0]
    impls = list(result["bytes_per_conn_by_impl"])
    rss = [result["bytes_per_conn_by_impl"][k] for k in impls]
    traced = [result["traced_bytes_per_conn_by_impl"][k] for k in impls]
    x = range(len(impls))
    b1 = ax.bar([i - 0.2 for i in x], rss, 0.4, color="#3b6fb6", label="RSS delta / N")
    b2 = ax.bar([i + 0.2 for i in x], traced, 0.4, color="#9a9a9a", label="tracemalloc / N")
    ax.bar_label(b1, labels=[f"{v:,}" for v in rss])
    ax.bar_label(b2, labels=[f"{v:,}" for v in traced])
    ax.axhline(result["target_bytes_per_conn"], color="red", ls="--", lw=1, label="target 16 KiB")
    ax.set_xticks(list(x), impls)
    ax.set_ylabel("bytes per idle authenticated connection")
    ax.set_title(f"Server memory per connection, N = {result['connections']:,}")
    ax.legend(loc="upper right")
    ax = axes[1]
    entries = result["by_impl"][result["ws_impl"]]["traced"]["by_origin"][:14][::-1]
    bars = ax.barh([e["where"][-60:] for e in entries], [e["bytes_per_conn"] for e in entries], color="#3b6fb6")
    ax.bar_label(bars, labels=[f"{e['bytes_per_conn']:,}" for e in entries], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("bytes per connection (tracemalloc, innermost frame outside the standard library)")
    ax.set_title(f"Where it goes, ws={result['ws_impl']}")
    title = f"Tipline memory per socket, one server process, {result['cpu_count']} CPUs, {result['date']}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--connections", type=int, default=10_000, help="idle authenticated sockets (N)")
    parser.add_argument("--group-size", type=int, default=10, help="each user is in one group of this size (0: none)")
    parser.add_argument("--ws-impl", action="append", choices=WS_IMPLS, help="repeatable; default: all three")
    parser.add_argument("--warmup-connections", type=int, default=100)
    parser.add_argument(
        "--traced-connections", type=int, default=2000, help="sockets connected while tracing (at most N)"
    )
    parser.add_argument("--tracemalloc-frames", type=int, default=12)
    parser.add_argument(
        "--first-source", type=int, default=2, help="first source address 127.0.0.<n> (runs side by side: apart)"
    )
    parser.add_argument("--signup-concurrency", type=int, default=16)
    parser.add_argument("--top", type=int, default=15, help="entries kept per breakdown")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    install_sigterm_handler()
    result = uvloop.run(main_async(args))
    publish(result, args.out, "memory", chart)


if __name__ == "__main__":
    main()
