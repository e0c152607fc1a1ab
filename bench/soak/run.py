"""Soak: the chaos workload (tests/integration/chaos.py) over a 3-node `tipline cluster` for a
long time (default 60 minutes), with one node killed (kill -9) every 10 minutes and restarted by
the cluster's supervisor, while per-node RSS, open file descriptors and PostgreSQL connections
are sampled (every 30 s by default).

    uv run python bench/soak/run.py [--duration-min 60] [--kill-every-min 10] [--clients 150]
                                    [--conversations 30] [--rate 25] [--sample-s 30]
                                    [--out bench/results]

PostgreSQL and Redis are the run's own (the chaos module starts them in a temporary directory
and on free ports of 127.0.0.1; the cluster's database is created and dropped there). Kills go
round-robin over every node but the first (node-1, node-2, node-1, ...): node-0 keeps one
process for the whole run, so its memory drift is measured without a restart in between.

At the end traffic stops, every client settles (outbox acknowledged, resumed to the stored last
seq), and the chaos oracle checks every conversation: every acknowledged message stored, every
stored message delivered to every member, no duplicate, no order violation. Prints one JSON
object last on stdout and writes bench/results/soak.json and soak.png. Everything started is
stopped by PID, also on Ctrl-C or SIGTERM. The short form runs in the suite
(tests/bench/test_soak_short.py) with this code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.integration.chaos import Chaos, Workload, chaos_cluster, node_ready, passed, percentile  # noqa: E402

from common import BENCH, log, rounded, run_facts, write_result  # noqa: E402

TARGETS = {
    "acked_stored_pct": 100.0,
    "delivered_after_resync_pct": 100.0,
    "duplicates": 0,
    "per_sender_order_inversions": 0,
    "memory_drift_pct_max": 10.0,
}
MB = 1024 * 1024


@dataclass
class Soak:
    chaos: Chaos
    admin_url: str
    database: str
    sample_s: float
    t0: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    # node name -> [(started at s, pid)], one entry per process the node has had
    lives: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note_life(self, name: str, pid: int) -> None:
        lives = self.lives.setdefault(name, [])
        if not lives or lives[-1][1] != pid:
            lives.append((self.now(), pid))

    async def sample_forever(self) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            while True:
                self.samples.append(await self.sample(admin))
                await asyncio.sleep(self.sample_s)
        finally:
            await admin.close()

    async def sample(self, admin: asyncpg.Connection) -> dict[str, Any]:
        # Each node's engine names its connections tipline-<pid>, so they count per node.
        rows = await admin.fetch(
            "SELECT application_name, count(*) AS n FROM pg_stat_activity WHERE datname = $1 GROUP BY 1",
            self.database,
        )
        by_app = {r["application_name"]: int(r["n"]) for r in rows}
        nodes: dict[str, dict[str, Any]] = {}
        for node in self.chaos.cluster.nodes:
            self.note_life(node.name, node.pid)
            entry: dict[str, Any] = {"pid": node.pid, "rss_mb": None, "fds": None}
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(node.pid)
                # A node just killed and not yet reaped reads as a zombie with no memory.
                if proc.status() != psutil.STATUS_ZOMBIE:
                    entry["rss_mb"] = round(proc.memory_info().rss / MB, 2)
                    entry["fds"] = proc.num_fds()
            entry["pg_connections"] = by_app.get(f"tipline-{node.pid}", 0)
            nodes[node.name] = entry
        return {
            "t_s": round(self.now(), 1),
            "sent": self.chaos.sent,
            "nodes": nodes,
            "pg_connections": sum(by_app.values()),
        }

    async def kill_loop(self, every_s: float, duration_s: float) -> None:
        nodes = self.chaos.cluster.nodes
        k = 1
        while k * every_s < duration_s:
            await asyncio.sleep(max(0.0, k * every_s - self.now()))
            index = 1 + (k - 1) % (len(nodes) - 1)
            self.kills.append(await self.kill(index))
            k += 1

    async def kill(self, index: int) -> dict[str, Any]:
        cluster = self.chaos.cluster
        node = cluster.nodes[index]
        restarts = sum(1 for e in cluster.events if e["event"] == "node_restarted")
        at = self.now()
        pid = cluster.kill9(index)
        log(f"kill -9 {node.name} (pid {pid}) at {at:.0f} s")
        started = time.monotonic()
        async with asyncio.timeout(90):
            while sum(1 for e in cluster.events if e["event"] == "node_restarted") <= restarts:
                await asyncio.sleep(0.05)
        await node_ready(node.url)
        back = time.monotonic()
        self.note_life(node.name, node.pid)
        caught = await self.chaos.caught_up_after(back)
        return {
            "t_s": round(at, 1),
            "node": node.name,
            "killed_pid": pid,
            "new_pid": node.pid,
            "kill_to_ready_s": round(back - started, 2),
            "all_caught_up_after_ready_s": rounded(caught),
        }


def windows(duration_s: float, drift_from_s: float | None, window_s: float | None) -> tuple[float, float, float]:
    """The drift's two windows: [start, start + w] (after warm-up) and [duration - w, duration]."""
    w = window_s if window_s is not None else min(300.0, duration_s / 12)
    start = drift_from_s if drift_from_s is not None else min(600.0, duration_s / 4)
    return start, w, duration_s - w


def drift(soak: Soak, duration_s: float, start: float, w: float, final: float) -> dict[str, Any]:
    """Per node: median RSS in each window and the drift between them, for a node whose process
    was the same from the start of the first window to the end of the run (a restarted process
    starts small again, so comparing across a restart would hide a leak)."""
    out: dict[str, Any] = {}
    for name, lives in soak.lives.items():
        restarted = any(start <= t <= duration_s for t, _ in lives[1:])
        first = [s["nodes"][name]["rss_mb"] for s in soak.samples if start <= s["t_s"] <= start + w]
        last = [s["nodes"][name]["rss_mb"] for s in soak.samples if final <= s["t_s"]]
        first = [v for v in first if v is not None]
        last = [v for v in last if v is not None]
        base = statistics.median(first) if first else None
        end = statistics.median(last) if last else None
        pct = None
        if not restarted and base and end is not None:
            pct = round(100.0 * (end - base) / base, 2)
        out[name] = {
            "restarted_in_span": restarted,
            "rss_mb_median_first_window": rounded(base),
            "rss_mb_median_last_window": rounded(end),
            "samples_first_window": len(first),
            "samples_last_window": len(last),
            "drift_pct": pct,
        }
    return out


def per_life(soak: Soak) -> list[dict[str, Any]]:
    """RSS of every node process the run saw: the same figures for a restarted process."""
    out = []
    for name, lives in soak.lives.items():
        for i, (t, pid) in enumerate(lives):
            rss = [s["nodes"][name]["rss_mb"] for s in soak.samples if s["nodes"][name]["pid"] == pid]
            rss = [v for v in rss if v is not None]
            out.append(
                {
                    "node": name,
                    "pid": pid,
                    "started_s": round(t, 1) if i else 0.0,
                    "samples": len(rss),
                    "rss_mb_first": rss[0] if rss else None,
                    "rss_mb_max": max(rss) if rss else None,
                    "rss_mb_last": rss[-1] if rss else None,
                }
            )
    return out


def series(soak: Soak, key: str) -> dict[str, Any]:
    values = [s["nodes"][n][key] for s in soak.samples for n in s["nodes"]]
    values = [v for v in values if v is not None]
    return {"min": min(values, default=None), "max": max(values, default=None)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    duration_s = args.duration_min * 60
    every_s = args.kill_every_min * 60
    workload = Workload(
        clients=args.clients, conversations=args.conversations, rate=args.rate, refresh_every_s=args.refresh_every_s
    )
    facts = run_facts()
    log(f"setup: {args.clients} clients, {args.conversations} conversations, {args.rate}/s over 3 nodes")
    # The clients renew their access tokens as the web client does, so tokens expire during the run.
    async with chaos_cluster(workload, ACCESS_TOKEN_TTL_S=str(args.token_ttl_s)) as (chaos, pg, _redis):
        database = chaos.cluster.database_url.rsplit("/", 1)[1]
        soak = Soak(chaos, pg.admin_url, database, args.sample_s)
        log(f"soak for {args.duration_min} min, kill every {args.kill_every_min} min, sample every {args.sample_s} s")
        chaos.start_traffic()
        sampler = asyncio.create_task(soak.sample_forever())
        killer = asyncio.create_task(soak.kill_loop(every_s, duration_s))
        try:
            await asyncio.sleep(duration_s)
            await killer  # a kill near the end finishes its restart before the checks
        finally:
            killer.cancel()
            await chaos.stop_traffic()
        settle_s = await chaos.settle(timeout=120.0)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        soak.samples.append(await _last_sample(soak))
        oracle = await chaos.oracle()
    start, w, final = windows(duration_s, args.drift_from_s, args.drift_window_s)
    nodes_drift = drift(soak, duration_s, start, w, final)
    measured = [d["drift_pct"] for d in nodes_drift.values() if d["drift_pct"] is not None]
    times = [t for m in chaos.members for t in m.caught_up_s]
    errors: dict[str, int] = {}
    for m in chaos.members:
        for code, n in m.errors.items():
            errors[code] = errors.get(code, 0) + n
    result: dict[str, Any] = {
        "benchmark": "soak",
        "targets": TARGETS,
        "clients": args.clients,
        "conversations": args.conversations,
        "rate_per_s": args.rate,
        "nodes": len(chaos.cluster.nodes),
        "duration_min": args.duration_min,
        "kill_every_min": args.kill_every_min,
        "sample_s": args.sample_s,
        "sent": chaos.sent,
        "kills": soak.kills,
        "reconnects": len(times),
        "reconnect_to_caught_up_p50_s": rounded(percentile(times, 50), 3),
        "reconnect_to_caught_up_p95_s": rounded(percentile(times, 95), 3),
        "reconnect_to_caught_up_max_s": rounded(max(times) if times else None, 3),
        "settle_s": round(settle_s, 2),
        "error_frames": errors,
        **oracle,
        "invariants_passed": passed(oracle),
        "memory": {
            "first_window_s": [round(start, 1), round(start + w, 1)],
            "last_window_s": [round(final, 1), round(duration_s, 1)],
            "per_node": nodes_drift,
            "per_process": per_life(soak),
        },
        "memory_drift_pct_max": max(measured, default=None),
        "memory_drift_nodes_measured": len(measured),
        "memory_drift_target_met": bool(measured) and max(measured) <= TARGETS["memory_drift_pct_max"],
        "rss_mb": series(soak, "rss_mb"),
        "fds": series(soak, "fds"),
        "pg_connections": {
            "min": min((s["pg_connections"] for s in soak.samples), default=None),
            "max": max((s["pg_connections"] for s in soak.samples), default=None),
        },
        "samples": soak.samples,
        **facts,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    return result


async def _last_sample(soak: Soak) -> dict[str, Any]:
    admin = await asyncpg.connect(soak.admin_url)
    try:
        return await soak.sample(admin)
    finally:
        await admin.close()


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    names = list(samples[0]["nodes"]) if samples else []
    t = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    colors = ["#3b6fb6", "#d98c2b", "#4a9a5b"]
    panels = [(axes[0][0], "rss_mb", "RSS (MiB)"), (axes[0][1], "fds", "open file descriptors")]
    panels.append((axes[1][0], "pg_connections", "PostgreSQL connections"))
    for ax, key, label in panels:
        for i, name in enumerate(names):
            ax.plot(t, [s["nodes"][name][key] for s in samples], color=colors[i % 3], lw=1.2, label=name)
        ax.set_ylabel(label)
    axes[1][0].plot(t, [s["pg_connections"] for s in samples], color="black", lw=1, ls=":", label="all (database)")
    mem = result["memory"]
    for lo, hi in (mem["first_window_s"], mem["last_window_s"]):
        axes[0][0].axvspan(lo / 60, hi / 60, color="#dddddd", zorder=0)
    drift = result["memory_drift_pct_max"]
    axes[0][0].set_title(f"RSS per node; drift {drift} % (grey: the windows compared)")
    axes[0][1].set_title("Open file descriptors per node")
    axes[1][0].set_title("PostgreSQL connections (pg_stat_activity)")
    ax = axes[1][1]
    rate = [(b["sent"] - a["sent"]) / max(1e-9, b["t_s"] - a["t_s"]) for a, b in itertools.pairwise(samples)]
    ax.plot(t[1:], rate, color="#3b6fb6", lw=1.2)
    ax.set_ylabel("messages sent/s")
    ax.set_title(
        f"Traffic; acked stored {result['acked_stored_pct']} %, delivered {result['delivered_after_resync_pct']} %, "
        f"dup {result['duplicates']}, order inversions {result['per_sender_order_inversions']}",
        fontsize=9,
    )
    for row in axes:
        for a in row:
            for k in result["kills"]:
                a.axvline(k["t_s"] / 60, color="red", lw=0.8, ls="--")
            a.grid(alpha=0.3)
    axes[0][0].legend(loc="lower right")
    axes[1][0].legend(loc="lower right")
    for a in axes[1]:
        a.set_xlabel("minutes (red: kill -9 of a node)")
    fig.suptitle(
        f"Tipline soak: {result['clients']} clients, {result['conversations']} conversations, "
        f"{result['rate_per_s']}/s, 3 nodes, {result['duration_min']} min, {result['cpu_count']} CPUs, "
        f"{result['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration-min", type=float, default=60.0)
    p.add_argument("--kill-every-min", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=150)
    p.add_argument("--conversations", type=int, default=30)
    p.add_argument("--rate", type=float, default=25.0, help="messages per second over all clients")
    p.add_argument("--token-ttl-s", type=int, default=900, help="access token lifetime on the nodes")
    p.add_argument("--refresh-every-s", type=float, default=600.0, help="how often each client renews its token")
    p.add_argument("--sample-s", type=float, default=30.0, help="seconds between RSS/fd/connection samples")
    p.add_argument(
        "--drift-from-s", type=float, default=None, help="start of the first drift window (default min(600, run/4))"
    )
    p.add_argument(
        "--drift-window-s", type=float, default=None, help="length of each drift window (default min(300, run/12))"
    )
    p.add_argument("--out", type=Path, default=BENCH / "results")
    args = p.parse_args()
    try:
        result = asyncio.run(_main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted: everything the run started is stopped; no result written")
        sys.exit(130)
    path = write_result(result, args.out, "soak")
    chart(result, args.out / "soak.png")
    print(json.dumps(result), flush=True)
    log(f"wrote {path} and {path.with_suffix('.png')}")


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM cancels the run like Ctrl-C does, so every `finally` stops what it started.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(args)


if __name__ == "__main__":
    main()
