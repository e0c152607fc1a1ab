"""Cross-node send-to-deliver latency: 3 `tipline serve` nodes, many small group conversations.

    uv run python bench/crossnode/run.py [--conversations 100] [--members 10] [--rate 200]
                                         [--warmup 3] [--duration 20]
                                         [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

The scale-out target: cross-node send-to-deliver p99 <= 30 ms at 2,000 deliveries/s over 3 nodes.

`--nodes` (3) `tipline serve` processes on one fresh database, with the Redis bus on a
redis-server the run starts on a free port (bench/peers does the same). `--conversations` groups
of `--members` users; every user has one socket, user *u* connected straight to node *u* mod N
(no load balancer), so most of the members of a conversation sit on other nodes than its
sender. Messages go out at `--rate` per second over all conversations, each from a random member
of a random conversation, over its WebSocket; every socket decodes every frame and stamps each
`message.created` on arrival, tagged cross-node (the receiver's node is not the sender's),
same-node, or the sender's own echo. After `--warmup` s unmeasured, `--duration` s are measured;
then the run waits for stragglers and checks that every message reached every member exactly
once and that no socket saw a seq gap in any conversation.

Writes bench/results/crossnode.json and crossnode.png; the JSON is the last line of stdout. Exits
1 (after writing them) when a delivery is missing or a seq gap was seen. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: tests.bus.cluster starts the run's Redis
sys.path.insert(0, str(HERE.parent))  # bench/: common, fanout, peers
sys.path.insert(0, str(HERE.parent / "peers"))  # bench/peers: workload

from tests.bus.cluster import RedisServer, redis_server  # noqa: E402
from workload import ServerSet, connect_all, tipline_protocol, wait_idle  # noqa: E402

from common import (  # noqa: E402
    ARGON2_NOTE,
    BENCH,
    WS_IMPLS,
    TiplineServer,
    User,
    WSClient,
    client_pool,
    create_group,
    install_sigterm_handler,
    log,
    machine_cpu,
    machine_cpu_between,
    own_cpu_seconds,
    percentile,
    publish,
    redis_bus_env,
    rounded,
    run_facts,
    sign_up_users,
)
from fanout.run import body, tipline_payload  # noqa: E402

TARGET_CROSS_NODE_P99_MS = 30.0
KINDS = ("cross_node", "same_node", "echo")
CDF_QS = [*range(0, 100), 99.5, 99.9, 100]


@dataclass
class Sent:
    sender: int  # user index (= socket index)
    conversation: int  # index into the run's conversations
    measured: bool  # sent inside the measured window
    receivers: dict[int, int] = field(default_factory=dict)  # socket index -> arrival (ns)
    acked: bool = False


class Traffic:
    """What was sent and what every socket received: latency per kind, loss, seq order.

    Every socket has ``sink`` installed: it decodes each text frame (a ``batch`` frame into its
    frames) and handles ``message.created`` events, the sender's ``ack``\\s and ``error``\\s.
    """

    def __init__(self, nodes: int, members: int) -> None:
        self.nodes = nodes
        self.members = members
        self.sent: dict[str, Sent] = {}
        self.latency_ms: dict[str, list[float]] = {k: [] for k in KINDS}
        self.sent_ns: dict[str, int] = {}
        self.ack_ms: list[float] = []
        self.last_seq: dict[tuple[int, int], int] = {}
        self.seq_checked = 0
        self.seq_gaps = 0
        self.duplicates = 0
        self.foreign = 0  # message.created events of messages this run did not send
        self.errors: list[str] = []
        self.error_frames = 0
        self.measuring = False
        self.in_window = 0  # deliveries (echo included) arriving while measuring
        self.in_window_by_kind = dict.fromkeys(KINDS, 0)

    def kind(self, receiver: int, sender: int) -> str:
        if receiver == sender:
            return "echo"
        return "same_node" if receiver % self.nodes == sender % self.nodes else "cross_node"

    def sink(self, client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        frame = orjson.loads(memoryview(data)[start:end])
        for f in frame["frames"] if frame.get("type") == "batch" else [frame]:
            kind = f.get("type")
            if kind == "event":
                if f.get("event") == "message.created":
                    self._delivery(client.index, f, now)
            elif kind == "ack":
                s = self.sent.get(f.get("client_msg_id"))
                if s is not None and not s.acked:
                    s.acked = True
                    if s.measured:
                        self.ack_ms.append((now - self.sent_ns[f["client_msg_id"]]) / 1e6)
            elif kind == "error":
                self.error_frames += 1
                if len(self.errors) < 20:
                    self.errors.append(orjson.dumps(f).decode()[:300])

    def _delivery(self, receiver: int, f: dict[str, Any], now: int) -> None:
        key = (receiver, f["conversation_id"])
        seq = f["seq"]
        last = self.last_seq.get(key)
        if last is not None:
            self.seq_checked += 1
            if seq != last + 1:
                self.seq_gaps += 1
        self.last_seq[key] = seq
        data = f["data"]
        s = self.sent.get(data.get("client_msg_id"))
        if s is None:
            self.foreign += 1
            return
        if receiver in s.receivers:
            self.duplicates += 1
            return
        s.receivers[receiver] = now
        kind = self.kind(receiver, s.sender)
        if self.measuring:
            self.in_window += 1
            self.in_window_by_kind[kind] += 1
        if s.measured:
            text: str = data["body"]
            sent_ns = int(text[2 : text.index(" ")])  # every body starts with t=<time_ns>
            self.latency_ms[kind].append((now - sent_ns) / 1e6)

    def after_echo_ms(self) -> dict[str, list[float]]:
        """Per delivery of a measured message, its arrival minus the sender's echo's: what the
        receiver's node added after the sender's own node had the event back from Redis (the
        commit and the publish before it are common to both)."""
        out: dict[str, list[float]] = {"cross_node": [], "same_node": []}
        for s in self.sent.values():
            echo = s.receivers.get(s.sender)
            if not s.measured or echo is None:
                continue
            for receiver, arrival in s.receivers.items():
                if receiver != s.sender:
                    out[self.kind(receiver, s.sender)].append((arrival - echo) / 1e6)
        return out

    def delivered(self) -> int:
        return sum(len(s.receivers) for s in self.sent.values())

    def expected(self) -> int:
        return self.members * len(self.sent)


async def send_for(
    traffic: Traffic,
    clients: list[WSClient],
    conversations: list[int],
    *,
    rate: float,
    seconds: float,
    measured: bool,
    rng: random.Random,
) -> int:
    """Open loop: message i goes out at t0 + i/rate, from a random member of a random conversation."""
    members = traffic.members
    payloads = [tipline_payload(cid) for cid in conversations]
    count = max(1, round(rate * seconds))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    first = len(traffic.sent)
    for i in range(count):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        k = rng.randrange(len(conversations))
        sender = k * members + rng.randrange(members)
        cmid = f"x{first + i}"  # unique: a repeated client_msg_id would be an idempotent retry
        text = body(f"u{sender}")
        traffic.sent[cmid] = Sent(sender, k, measured)
        traffic.sent_ns[cmid] = int(text[2 : text.index(" ")])
        clients[sender].send_text(payloads[k](cmid, text))
    return count


async def setup_conversations(base_urls: list[str], users: list[User], conversations: int, members: int) -> list[int]:
    """Group k holds users k*members .. (k+1)*members-1, created by the first of them; the create
    calls go round-robin over the nodes, a few at a time."""
    sem = asyncio.Semaphore(4)

    async def one(k: int) -> int:
        group = users[k * members : (k + 1) * members]
        async with sem:
            cid, _timings = await create_group(base_urls[k % len(base_urls)], group[0], group, name=f"crossnode-{k}")
        return int(cid)

    t0 = time.monotonic()
    cids = await asyncio.gather(*(one(k) for k in range(conversations)))
    log(f"created {conversations} groups of {members} in {time.monotonic() - t0:.1f}s")
    return list(cids)


def cdf(values: list[float]) -> list[list[float]]:
    ordered = sorted(values)
    return [[q, round(v, 3)] for q in CDF_QS if (v := percentile(ordered, q)) is not None]


async def run(args: argparse.Namespace, redis: RedisServer) -> dict[str, Any]:
    server = TiplineServer(ws_impl=args.ws_impl, admin_url=args.database_url, nodes=args.nodes)
    server.extra_env = redis_bus_env(redis.url, "tlcross")
    n_users = args.conversations * args.members
    try:
        proc = await server.start()
        ports = [p.port for p in server.processes]
        t0 = time.monotonic()
        users = await sign_up_users(proc.base_url, n_users)
        urls = [p.base_url for p in server.processes]
        cids = await setup_conversations(urls, users, args.conversations, args.members)
        setup_s = round(time.monotonic() - t0, 1)

        servers = ServerSet()
        for i, p in enumerate(server.processes):
            assert p.server is not None
            servers.add(f"node{i + 1}", p.server)
        assert redis.process is not None
        servers.add("redis", psutil.Process(redis.process.pid))
        servers.postgres = server.pg_cpu_seconds

        wire = tipline_protocol("crossnode", ports, [u.token for u in users], cids[0])
        async with client_pool(heartbeat=True) as clients:
            connect_s = await connect_all(wire, n_users, into=clients)
            settle_s = await wait_idle(servers, below=0.1)
            traffic = Traffic(args.nodes, args.members)
            for c in clients:
                c.sink = traffic.sink
            rng = random.Random(args.seed)
            log(f"warm-up: {args.rate:g} msg/s for {args.warmup:g}s")
            await send_for(traffic, clients, cids, rate=args.rate, seconds=args.warmup, measured=False, rng=rng)
            log(f"measuring: {args.rate:g} msg/s for {args.duration:g}s")
            cpu0, c0, m0 = servers.cpu_by_kind(), own_cpu_seconds(), machine_cpu()
            w0 = time.monotonic()
            traffic.measuring = True
            count = await send_for(
                traffic, clients, cids, rate=args.rate, seconds=args.duration, measured=True, rng=rng
            )
            await asyncio.sleep(max(0.0, w0 + count / args.rate - time.monotonic()))
            traffic.measuring = False
            cpu1, c1, m1, w1 = servers.cpu_by_kind(), own_cpu_seconds(), machine_cpu(), time.monotonic()
            # Stragglers: until every member has every message, or --drain seconds.
            deadline = time.monotonic() + args.drain
            while traffic.delivered() < traffic.expected() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # anything late (a duplicate) still gets counted
            for c in clients:
                c.sink = None
            closed = [c for c in clients if c.lost or c.close_code is not None]
            per_node_sockets = [sum(1 for c in clients if c.index % args.nodes == i) for i in range(args.nodes)]
    finally:
        await server.stop()

    elapsed = w1 - w0
    cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    server_cpu = sum(cpu.values())
    lat = traffic.latency_ms
    sent = list(traffic.sent.values())
    measured_msgs = sum(1 for s in sent if s.measured)
    missing = traffic.expected() - traffic.delivered()
    incomplete = [s for s in sent if len(s.receivers) < args.members]
    figures: dict[str, Any] = {
        "messages_per_s": round(measured_msgs / elapsed, 1),
        "deliveries_per_s": round(traffic.in_window / elapsed),
        "deliveries_per_s_by_kind": {k: round(v / elapsed) for k, v in traffic.in_window_by_kind.items()},
    }
    for kind in KINDS:
        figures[f"{kind}_p50_ms"] = rounded(percentile(lat[kind], 50))
        figures[f"{kind}_p90_ms"] = rounded(percentile(lat[kind], 90))
        figures[f"{kind}_p99_ms"] = rounded(percentile(lat[kind], 99))
        figures[f"{kind}_max_ms"] = rounded(max(lat[kind]) if lat[kind] else None)
        figures[f"{kind}_deliveries"] = len(lat[kind])
    for kind, values in traffic.after_echo_ms().items():
        figures[f"{kind}_after_echo_p50_ms"] = rounded(percentile(values, 50))
        figures[f"{kind}_after_echo_p99_ms"] = rounded(percentile(values, 99))
    result = {
        **figures,
        "target_cross_node_p99_ms": TARGET_CROSS_NODE_P99_MS,
        "messages_sent": len(sent),
        "messages_measured": measured_msgs,
        "deliveries_expected": traffic.expected(),
        "missing_deliveries": missing,
        "messages_not_delivered_to_all": len(incomplete),
        "duplicate_deliveries": traffic.duplicates,
        "foreign_deliveries": traffic.foreign,
        "seq_gaps": traffic.seq_gaps,
        "seq_checked": traffic.seq_checked,
        "never_acked": sum(1 for s in sent if not s.acked),
        "ack_p50_ms": rounded(percentile(traffic.ack_ms, 50)),
        "ack_p99_ms": rounded(percentile(traffic.ack_ms, 99)),
        "error_frames": traffic.error_frames,
        "errors": traffic.errors,
        "closed_connections": len(closed),
        "close_codes": sorted({c.close_code for c in closed if c.close_code is not None}),
        "node_cpu_pct": {k: round(100 * v / elapsed, 1) for k, v in cpu.items() if k.startswith("node")},
        "redis_cpu_pct": round(100 * cpu.get("redis", 0.0) / elapsed, 1),
        "postgres_cpu_pct": round(100 * cpu["postgres"] / elapsed, 1) if "postgres" in cpu else None,
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "client_cpu_pct": round(100 * (c1 - c0) / elapsed, 1),
        **machine_cpu_between(m0, m1, 100 * (server_cpu + (c1 - c0)) / elapsed),
        "window_s": round(elapsed, 2),
        "sockets_per_node": per_node_sockets,
        "setup": {"signup_and_groups_s": setup_s, "connect_s": round(connect_s, 1), "settle_s": round(settle_s, 1)},
        "cdf_ms": {k: cdf(lat[k]) for k in KINDS},
    }
    log(
        f"{result['messages_per_s']} msg/s, {result['deliveries_per_s']:,} deliveries/s: cross-node p50 "
        f"{result['cross_node_p50_ms']} / p99 {result['cross_node_p99_ms']} ms ({result['cross_node_deliveries']}), "
        f"same-node p50 {result['same_node_p50_ms']} / p99 {result['same_node_p99_ms']} ms; cross-node after "
        f"echo p50 {result['cross_node_after_echo_p50_ms']} / p99 {result['cross_node_after_echo_p99_ms']} ms; "
        f"missing {missing}, seq gaps {traffic.seq_gaps}; node CPU {result['node_cpu_pct']}%, "
        f"client CPU {result['client_cpu_pct']}%"
    )
    return result


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    colors = {"cross_node": "#3b6fb6", "same_node": "#7fb07f", "echo": "#999"}
    labels = {"cross_node": "cross-node", "same_node": "same-node", "echo": "sender's echo"}
    target = result["target_cross_node_p99_ms"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    ax = axes[0]
    for kind in KINDS:
        points = result["cdf_ms"][kind]
        if points:
            ax.plot([p[1] for p in points], [p[0] for p in points], color=colors[kind], label=labels[kind])
    ax.axvline(target, color="red", ls="--", lw=1, label=f"target p99 {target:g} ms")
    ax.axhline(99, color="#ccc", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(round(v))[0] in "2345" else ""))
    ax.set_xlabel("send-to-deliver (ms, log)")
    ax.set_ylabel("percentile")
    ax.set_title("Latency CDF per delivery")
    ax.legend(loc="lower right")
    ax = axes[1]
    x = range(len(KINDS))
    p50 = [result[f"{k}_p50_ms"] or 0 for k in KINDS]
    p99 = [result[f"{k}_p99_ms"] or 0 for k in KINDS]
    ax.bar_label(ax.bar([i - 0.2 for i in x], p50, 0.4, color="#3b6fb6", label="p50"), fmt="%.1f")
    ax.bar_label(ax.bar([i + 0.2 for i in x], p99, 0.4, color="#d08030", label="p99"), fmt="%.1f")
    ax.axhline(target, color="red", ls="--", lw=1, label=f"cross-node p99 target {target:g} ms")
    ax.set_xticks(list(x), [f"{labels[k]}\n({result[f'{k}_deliveries']:,})" for k in KINDS])
    ax.set_ylabel("ms")
    ax.set_title(
        f"p50 / p99 at {result['messages_per_s']:g} msg/s, {result['deliveries_per_s']:,} deliveries/s\n"
        f"cross-node after the sender's echo: p99 {result['cross_node_after_echo_p99_ms']} ms; "
        f"missing {result['missing_deliveries']}, seq gaps {result['seq_gaps']}"
    )
    ax.set_ylim(0, 1.3 * max([*p99, target]))
    ax.legend(loc="upper left", ncol=3, fontsize=8)
    fig.suptitle(
        f"Tipline cross-node latency: {result['nodes']} nodes (Redis bus), {result['conversations']} groups of "
        f"{result['members']}, ws={result['ws_impl']}, {result['cpu_count']} CPUs, {result['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    facts = run_facts()
    log(
        f"cross-node bench: {args.nodes} nodes, {args.conversations} groups of {args.members}, "
        f"{args.rate:g} msg/s. {ARGON2_NOTE}."
    )
    async with redis_server() as redis:
        assert redis.process is not None
        log(f"redis-server of this run on {redis.url} (pid {redis.process.pid})")
        figures = await run(args, redis)
    return {
        "benchmark": "crossnode",
        "nodes": args.nodes,
        "conversations": args.conversations,
        "members": args.members,
        "users": args.conversations * args.members,
        "rate_msgs_per_s": args.rate,
        "warmup_s": args.warmup,
        "duration_s_measured": args.duration,
        "ws_impl": args.ws_impl,
        **figures,
        "meets_target": figures["cross_node_p99_ms"] is not None
        and figures["cross_node_p99_ms"] <= TARGET_CROSS_NODE_P99_MS,
        "note": (
            f"{ARGON2_NOTE}. Each user's one socket connects straight to node (user index mod nodes): no load "
            "balancer. Nodes share one fresh database and the run's own redis-server (bus, presence, cache), "
            "DB_POOL_SIZE=5 and DB_MAX_OVERFLOW=5 per node. Latency is measured in one client process (one clock); "
            "the sender's own echo is reported apart (echo_*). server_cpu_pct = the nodes + redis + the "
            "PostgreSQL backends of the bench database."
        ),
        **facts,
        "duration_s": round(time.monotonic() - t0, 1),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s over all conversations")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at --rate before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--drain", type=float, default=30.0, help="at most this long to wait for stragglers")
    parser.add_argument("--seed", type=int, default=1, help="of the random senders and conversations")
    parser.add_argument("--ws-impl", default="websockets-sansio", choices=WS_IMPLS)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if args.nodes < 2 or args.members < 2:
        parser.error("cross-node deliveries need at least 2 nodes and 2 members")
    install_sigterm_handler()
    result = uvloop.run(main_async(args))
    publish(result, args.out, "crossnode", chart)
    if result["missing_deliveries"] or result["seq_gaps"] or result["duplicate_deliveries"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
