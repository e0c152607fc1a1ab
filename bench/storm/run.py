"""Reconnect storm: N sockets (default 10,000) on ONE node of a 3-node `tipline cluster`, steady
traffic in their conversations, then that node is killed with kill -9. Its clients come back at
once through the balancer, each waiting as the web client does (web/src/realtime/backoff.ts:
equal jitter, base 500 ms, cap 30 s), resume each conversation and catch up.

    uv run python bench/storm/run.py [--sockets 10000] [--sockets-per-user 5] [--group 20]
                                     [--others 100] [--rate 20] [--out bench/results]

The cluster, its PostgreSQL (the machine's PG 15 binaries in a temporary directory) and its Redis
are the run's own (tests/integration/chaos.py, whose clients and oracle this run uses). Users hold
several sockets each (``--sockets-per-user``), as a person with a few tabs and devices does: N
sign-ups over HTTP would make the setup most of the run, and the server treats every socket alike.
Each user is in one group of ``--group`` users; ``--others`` more sockets sit on the two other
nodes, in the same conversations. Traffic: ``--rate`` messages/s from random sockets.

Measured from the kill: when each of the killed node's clients had a socket again (`ready`), and
when it had resumed every conversation and held everything stored at the moment of the kill (the
target is read right after the kill: that seq or later); PostgreSQL connections to the run's
database (pg_stat_activity) and CPU (the machine, each node, this client process) every 0.25 s;
error frames, reconnect attempts, `reload` frames and how far behind each was (a client less than
REPLAY_LIMIT behind must never be told to reload); then the chaos oracle after the traffic stops.
The cluster's supervisor restarts the killed node (it has no switch to leave it down): the JSON
says when it was seen restarted and ready, and clients that reconnect after that may land on it.
Writes bench/results/storm.json and storm.png; the last line on stdout is the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
from tests.bus.cluster import redis_server  # noqa: E402
from tests.helpers import User, create_conversation, signup  # noqa: E402
from tests.integration.chaos import (  # noqa: E402
    CHAOS_ENV,
    Chaos,
    Member,
    Workload,
    node_ready,
    own_postgres,
    passed,
    web_backoff,
)
from tests.integration.cluster_proc import running_cluster  # noqa: E402

from common import BENCH, install_sigterm_handler, log, percentile, publish, rounded, run_facts  # noqa: E402

REPLAY_LIMIT = 1000
TARGETS = {
    "caught_up_p95_s": 5.0,
    "unwarranted_reloads": 0,
    "nodes_fallen_over": 0,
    "acked_not_stored": 0,
    "stored_not_delivered": 0,
    "duplicates": 0,
}
STORM_ENV = {
    "REPLAY_LIMIT": str(REPLAY_LIMIT),  # the default (the chaos tests raise it)
    "WS_QUEUE_MAX": "2000",  # the default (the chaos tests lower it)
    # These clients send no heartbeat (the web client pings every 25 s); the setup of thousands
    # of sockets takes longer than the 75 s idle timeout.
    "WS_IDLE_TIMEOUT_S": "3600",
}


def raise_open_files() -> int:
    """Every socket is a descriptor here, in the nodes and in HAProxy (which inherit this limit)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def sign_up(api: httpx.AsyncClient, n: int, concurrency: int = 16) -> list[User]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> User:
        async with gate:
            return await signup(api)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def setup(chaos: Chaos, args: argparse.Namespace) -> tuple[list[Member], list[Member]]:
    """Users, groups, and the sockets: ``args.sockets`` straight to the node to be killed (their
    reconnects then go through the balancer), ``args.others`` to the two other nodes."""
    cluster = chaos.cluster
    users_n = -(-(args.sockets + args.others) // args.sockets_per_user)
    users_n = max(users_n, 2)
    rng = random.Random(7)
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=cluster.url, timeout=60) as api:
        users = await sign_up(api, users_n)
        log(f"signed up {users_n} users in {time.monotonic() - t0:.1f} s")
        conv_of: dict[int, int] = {}
        for i in range(0, users_n, args.group):
            group = users[i : i + args.group]
            if len(group) < 2:  # a lone last user joins the previous group's conversation
                conv_of[group[0].id] = chaos.conversations[-1]
                r = await api.post(
                    f"/conversations/{chaos.conversations[-1]}/members",
                    headers=users[0].headers,
                    json={"user_id": group[0].id},
                )
                r.raise_for_status()
                continue
            cid = (await create_conversation(api, group[0], "group", group[1:]))["id"]
            chaos.conversations.append(cid)
            for u in group:
                conv_of[u.id] = cid
    # Sockets dealt round the users, so each user's sockets are spread over both groups.
    victims: list[Member] = []
    others: list[Member] = []
    killed = cluster.nodes[args.node]
    rest = [n for i, n in enumerate(cluster.nodes) if i != args.node]
    for i in range(args.sockets + args.others):
        user = users[i % users_n]
        m = Member(user, [conv_of[user.id]], cluster.ws_url, backoff=web_backoff(rng), open_timeout_s=args.open_timeout)
        if i < args.sockets:
            m.direct_url = killed.ws_url
            victims.append(m)
        else:
            m.direct_url = rest[i % len(rest)].ws_url
            others.append(m)
        chaos.members.append(m)
    t1 = time.monotonic()
    batch = 250
    for i in range(0, len(chaos.members), batch):
        part = chaos.members[i : i + batch]
        for m in part:
            m.start()
        async with asyncio.timeout(120):
            await asyncio.gather(*(m._connected.wait() for m in part))
    log(f"{len(victims)} sockets on {killed.name}, {len(others)} on the others, in {time.monotonic() - t1:.1f} s")
    return victims, others


class Sampler:
    """PostgreSQL connections to the run's database and CPU (machine, nodes, this client) every
    ``interval`` seconds, from ``t0``."""

    def __init__(self, chaos: Chaos, admin_url: str, t0: float, interval: float = 0.25) -> None:
        self.chaos, self.admin_url, self.t0, self.interval = chaos, admin_url, t0, interval
        self.rows: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._procs: dict[int, psutil.Process] = {}
        self.me = psutil.Process()

    def _proc(self, pid: int) -> psutil.Process | None:
        if pid not in self._procs:
            try:
                self._procs[pid] = psutil.Process(pid)
                self._procs[pid].cpu_percent(None)
            except psutil.Error:
                return None
        return self._procs[pid]

    async def _run(self) -> None:
        db = await asyncpg.connect(self.admin_url)
        name = self.chaos.cluster.database_url.rsplit("/", 1)[1]
        psutil.cpu_percent(None)
        self.me.cpu_percent(None)
        for n in self.chaos.cluster.nodes:
            self._proc(n.pid)
        try:
            while True:
                woke = time.monotonic() + self.interval
                await asyncio.sleep(self.interval)
                lag = time.monotonic() - woke  # this process's event loop: late by this much
                conns = await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
                nodes: dict[str, float | None] = {}
                for n in self.chaos.cluster.nodes:
                    p = self._proc(n.pid)
                    try:
                        nodes[n.name] = None if p is None else round(p.cpu_percent(None), 1)
                    except psutil.Error:
                        nodes[n.name] = None  # dead, not yet restarted
                self.rows.append(
                    {
                        "t": round(time.monotonic() - self.t0, 2),
                        "pg_connections": int(conns),
                        "machine_cpu_pct": psutil.cpu_percent(None),
                        "client_cpu_pct": round(self.me.cpu_percent(None), 1),
                        "client_loop_lag_s": round(lag, 3),
                        "node_cpu_pct": nodes,
                    }
                )
        finally:
            await db.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


def caught_up(m: Member, target: dict[int, int]) -> bool:
    return not m._resuming and all(m.last.get(c, 0) >= target.get(c, 0) for c in m.conversations)


async def storm(chaos: Chaos, victims: list[Member], admin_url: str, args: argparse.Namespace) -> dict[str, Any]:
    cluster = chaos.cluster
    for m in chaos.members:
        m.caught_up_s.clear()
        m.reset_counters()
        m.reloads_behind.clear()
    attempts0 = {id(m): m.attempts for m in chaos.members}
    for m in chaos.members:
        m.failures.clear()
        m.closes.clear()
    sent0 = chaos.sent
    chaos.start_traffic()
    await asyncio.sleep(args.warmup)
    connects0 = {id(m): m.connects for m in victims}
    restarts0 = len([e for e in cluster.events if e["event"] == "node_restarted"])
    t0 = time.monotonic()
    sampler = Sampler(chaos, admin_url, t0)
    sampler.start()
    killed_pid = cluster.kill9(args.node)
    target = await chaos.db_last_seqs()
    log(f"killed {cluster.nodes[args.node].name} (pid {killed_pid}); {len(victims)} clients to move")
    reconnected: dict[int, float] = {}
    done: dict[int, float] = {}
    restarted_s: float | None = None
    ready_s: float | None = None
    ready_task: asyncio.Task[None] | None = None
    curve: list[tuple[float, int, int]] = []
    deadline = t0 + args.timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        for m in victims:
            key = id(m)
            if key in done:
                continue
            if m.connects > connects0[key] and m._connected.is_set():
                reconnected.setdefault(key, (m.ready_at or now) - t0)
                if caught_up(m, target):
                    done[key] = now - t0
        if restarted_s is None and len([e for e in cluster.events if e["event"] == "node_restarted"]) > restarts0:
            restarted_s = now - t0
            ready_task = asyncio.create_task(node_ready(cluster.nodes[args.node].url, timeout=args.timeout))
        if ready_task is not None and ready_s is None and ready_task.done():
            ready_s = time.monotonic() - t0
        curve.append((round(now - t0, 2), len(reconnected), len(done)))
        if len(done) == len(victims) and ready_s is not None:
            break
        await asyncio.sleep(0.1)
    storm_s = time.monotonic() - t0
    log(f"{len(done)}/{len(victims)} caught up after {storm_s:.1f} s")
    await asyncio.sleep(args.after)
    await sampler.stop()
    await chaos.stop_traffic()
    settle_s = await chaos.settle(timeout=max(30.0, args.timeout))
    if ready_task is not None:
        ready_task.cancel()
        with contextlib.suppress(BaseException):
            await ready_task

    times = sorted(done.values())
    n = len(victims)

    def at(q: float) -> float | None:
        need = max(1, -(-n * q // 100))
        return round(times[int(need) - 1], 3) if len(times) >= need else None

    errors: dict[str, int] = {}
    for m in chaos.members:
        for code, k in m.errors.items():
            errors[code] = errors.get(code, 0) + k
    reloads = [b for m in chaos.members for b in m.reloads_behind]
    failures: dict[str, int] = {}
    closes: dict[str, int] = {}
    for m in victims:
        for reason, k in m.failures.items():
            failures[reason] = failures.get(reason, 0) + k
        for code, k in m.closes.items():
            closes[str(code)] = closes.get(str(code), 0) + k
    alive = [psutil.pid_exists(nd.pid) for nd in cluster.nodes]
    rows = sampler.rows
    oracle = await chaos.oracle()
    result: dict[str, Any] = {
        "sockets_on_killed_node": n,
        "sockets_on_other_nodes": len(chaos.members) - n,
        "sockets_per_user": args.sockets_per_user,
        "users": len({m.user.id for m in chaos.members}),
        "conversations": len(chaos.conversations),
        "users_per_group": args.group,
        "rate_per_s": args.rate,
        "sent": chaos.sent - sent0,
        "killed_node": cluster.nodes[args.node].name,
        "killed_pid": killed_pid,
        "backoff": {"kind": "equal jitter", "base_s": 0.5, "cap_s": 30.0},
        "replay_limit": REPLAY_LIMIT,
        "reconnected_95_s": _q(sorted(reconnected.values()), 95, n),
        "reconnected_100_s": _q(sorted(reconnected.values()), 100, n),
        "caught_up_50_s": at(50),
        "caught_up_95_s": at(95),
        "caught_up_100_s": at(100),
        "caught_up_clients": len(done),
        "caught_up_p95_s": rounded(percentile(times, 95), 3),
        "killed_node_restarted_after_s": rounded(restarted_s, 2),
        "killed_node_ready_after_s": rounded(ready_s, 2),
        "storm_measured_s": round(storm_s, 2),
        "settle_s": round(settle_s, 2),
        "reconnect_attempts": sum(m.attempts - attempts0[id(m)] for m in victims),
        "reconnect_attempts_max_per_client": max((m.attempts - attempts0[id(m)] for m in victims), default=0),
        "error_frames": errors,
        "failed_attempts": failures,
        "close_codes_before_reconnect": closes,
        "reloads": len(reloads),
        "unwarranted_reloads": sum(1 for b in reloads if b < REPLAY_LIMIT),
        "nodes_alive_at_end": alive,
        "nodes_fallen_over": sum(1 for a in alive if not a),
        "pg_connections_max": max((r["pg_connections"] for r in rows), default=None),
        "pg_connections_before": rows[0]["pg_connections"] if rows else None,
        "machine_cpu_pct_mean": _mean([r["machine_cpu_pct"] for r in rows]),
        "machine_cpu_pct_max": max((r["machine_cpu_pct"] for r in rows), default=None),
        "client_cpu_pct_mean": _mean([r["client_cpu_pct"] for r in rows]),
        "client_cpu_pct_max": max((r["client_cpu_pct"] for r in rows), default=None),
        "client_loop_lag_p50_s": rounded(percentile([r["client_loop_lag_s"] for r in rows], 50), 3),
        "client_loop_lag_max_s": max((r["client_loop_lag_s"] for r in rows), default=None),
        "samples_taken": len(rows),
        "node_cpu_pct_max": {
            nd.name: max((r["node_cpu_pct"].get(nd.name) or 0.0 for r in rows), default=None) for nd in cluster.nodes
        },
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "curve": curve,
        "samples": rows,
        **oracle,
    }
    result["oracle_passed"] = passed(result)
    result |= client_limit(rows, until=max(done.values(), default=storm_s))
    return result


def client_limit(rows: list[dict[str, Any]], *, until: float) -> dict[str, Any]:
    """Was this one client process the limit while clients were coming back (until the last one
    caught up)? Yes when it was busy (a core's 85 %), or when its event loop ran late for over a
    quarter of that time (short of CPU on a shared machine): then its handshakes also time out on
    its side, and the figures measure the client as much as the cluster."""
    busy = [r for r in rows if r["t"] <= until]
    cpu = _mean([r["client_cpu_pct"] for r in busy])
    late = sum(r["client_loop_lag_s"] for r in busy)
    return {
        "client_cpu_pct_mean_while_returning": cpu,
        "client_loop_late_s_while_returning": round(late, 2),
        "client_was_the_limit": bool(busy) and ((cpu or 0.0) >= 85.0 or late >= 0.25 * until),
    }


def _q(values: list[float], q: float, n: int) -> float | None:
    need = max(1, int(-(-n * q // 100)))
    return round(values[need - 1], 3) if len(values) >= need else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    t = [c[0] for c in result["curve"]]
    n = max(1, result["sockets_on_killed_node"])
    left.plot(t, [100 * c[1] / n for c in result["curve"]], label="socket ready again")
    left.plot(t, [100 * c[2] / n for c in result["curve"]], label="resumed and caught up")
    left.axhline(95, color="grey", lw=0.6, ls=":")
    left.axvline(TARGETS["caught_up_p95_s"], color="red", lw=0.8, ls="--", label="target: 95 % by 5 s")
    for key, label in (("killed_node_restarted_after_s", "node restarted"), ("killed_node_ready_after_s", "ready")):
        if result.get(key) is not None:
            left.axvline(result[key], color="black", lw=0.6, ls="-.")
            left.text(result[key], 3, f" {label}", fontsize=7)
    left.set_xlabel("seconds since kill -9")
    left.set_ylabel(f"% of the killed node's {n} clients")
    left.set_title("Reconnect storm: clients back (web client's backoff)")
    left.legend(loc="lower right", fontsize=8)
    left.grid(alpha=0.3)
    rows = result["samples"]
    ts = [r["t"] for r in rows]
    right.plot(ts, [r["machine_cpu_pct"] for r in rows], label="machine CPU % (all cores)")
    right.plot(ts, [r["client_cpu_pct"] for r in rows], label="client process CPU %")
    for name in result["node_cpu_pct_max"]:
        right.plot(ts, [r["node_cpu_pct"].get(name) or 0.0 for r in rows], lw=0.8, label=f"{name} CPU %")
    right.set_xlabel("seconds since kill -9")
    right.set_ylabel("CPU % (100 = one core)")
    twin = right.twinx()
    twin.plot(ts, [r["pg_connections"] for r in rows], color="black", ls="--", label="PostgreSQL connections")
    twin.set_ylabel("PostgreSQL connections (run's database)")
    lines = right.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    right.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
    right.set_title("During the storm")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log(f"setup: {args.sockets} sockets on one node, {args.others} on the others, rate {args.rate}/s")
    async with own_postgres() as pg, redis_server() as redis:
        env = CHAOS_ENV | STORM_ENV
        async with running_cluster(3, redis_url=redis.url, admin_url=pg.admin_url, **env) as cluster:
            chaos = Chaos(cluster, Workload(clients=args.sockets + args.others, rate=args.rate))
            try:
                victims, _ = await setup(chaos, args)
                result = await storm(chaos, victims, pg.admin_url, args)
            finally:
                await chaos.stop_traffic()
                await asyncio.gather(*(m.stop() for m in chaos.members))
    result["note"] = (
        "The cluster's supervisor restarts a killed node at once (it has no switch to leave it down): "
        "killed_node_restarted_after_s and killed_node_ready_after_s say when; HAProxy (leastconn, checks "
        "every 1 s, fall 2) may send later reconnects to it once ready. Users hold "
        f"{args.sockets_per_user} sockets each (fewer sign-ups; the server treats each socket alike); each "
        "user is in one group conversation. Clients reconnect through the balancer with the web client's "
        "backoff (equal jitter, 0.5 s base, 30 s cap; the first retry waits 0.25-0.5 s), give a socket "
        f"{args.open_timeout:g} s to open (the web client waits 15 s for `ready`), and send no "
        "heartbeats, so WS_IDLE_TIMEOUT_S is raised; REPLAY_LIMIT and WS_QUEUE_MAX are the defaults. "
        "caught_up_*: a client's socket is ready again, each resume answered and it holds every "
        "conversation up to the last seq stored when the node was killed (or later). Clients, cluster, "
        "PostgreSQL and Redis share one machine: client_cpu_pct is the one Python process running every "
        "client (100 = one core)."
    )
    return result


def main() -> None:
    install_sigterm_handler()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=10_000, help="sockets on the node that is killed")
    p.add_argument("--others", type=int, default=100, help="sockets on the two other nodes")
    p.add_argument("--sockets-per-user", type=int, default=5)
    p.add_argument("--group", type=int, default=20, help="users per group conversation")
    p.add_argument("--rate", type=float, default=20.0, help="messages per second over all sockets")
    p.add_argument(
        "--open-timeout",
        type=float,
        default=15.0,
        help="seconds a client waits for its socket (the web client's readyTimeoutMs: 15 s)",
    )
    p.add_argument("--node", type=int, default=0, help="index of the node killed")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--after", type=float, default=3.0, help="traffic after everyone is back")
    p.add_argument("--timeout", type=float, default=120.0, help="longest the storm is watched")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    args = p.parse_args()
    limit = raise_open_files()
    facts = run_facts()  # the load average before the run
    result = asyncio.run(run(args))
    result = {"benchmark": "storm", "targets": TARGETS, "open_files_limit": limit, **result, **facts}
    publish(result, args.out, "storm", chart)


if __name__ == "__main__":
    main()
