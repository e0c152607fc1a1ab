"""Send-throughput benchmark: many small conversations, every client sending as fast as acks come back.

    uv run python bench/sends/run.py [--clients 200] [--window 1] [--duration 15]
                                     [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                     [--embedded] [--ws-impl websockets-sansio] [--out bench/results]

200 clients in 100 groups of two. Each client keeps ``--window`` sends in flight (default 1:
the next send goes out when the previous one's ack arrives), so the server sees up to
clients x window concurrent sends and its group commit batches them. After warm-up, acks are
counted over a fixed window. At the end every client waits for its last acks, and the
number of rows in the messages table must equal the number of (non-duplicate) acks: every
acknowledged message is durable, and nothing was stored without an ack.

Prints one JSON object last on stdout, and writes bench/results/sends.json and sends.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
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
    TiplineServer,
    User,
    WSClient,
    close_all,
    connect_many,
    install_sigterm_handler,
    log,
    machine_cpu,
    machine_cpu_between,
    own_cpu_seconds,
    percentile,
    publish,
    rounded,
    run_facts,
    sign_up_users,
    wait_server_idle,
)

TARGET_ACKS_PER_S = 2000
PAD = "lorem ipsum dolor sit amet, consectetur adipiscing"


async def create_pairs(base_url: str, users: list[User]) -> list[int]:
    """One group per two users (the even one creates it and invites the odd one)."""
    sem = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60.0) as client:

        async def one(i: int) -> int:
            owner, peer = users[2 * i], users[2 * i + 1]
            async with sem:
                r = await client.post(
                    "/conversations",
                    json={"kind": "group", "name": f"pair {i}", "member_ids": [peer.id]},
                    headers={"Authorization": f"Bearer {owner.token}"},
                )
            if r.status_code != 201:
                raise RuntimeError(f"create conversation failed: {r.status_code} {r.text[:300]}")
            return int(r.json()["id"])

        return list(await asyncio.gather(*(one(i) for i in range(len(users) // 2))))


@dataclass
class Stats:
    acks: int = 0
    acks_new: int = 0
    duplicates: int = 0
    events: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seq_gaps: int = 0
    measuring: bool = False
    ack_ms: list[float] = field(default_factory=list)


class Sender:
    """One client: keeps ``window`` sends in flight in its conversation, stamps each ack."""

    def __init__(self, client: WSClient, conversation_id: int, window: int, stats: Stats) -> None:
        self.client = client
        self.conversation_id = conversation_id
        self.window = window
        self.stats = stats
        self.pending: dict[str, int] = {}  # client_msg_id -> send time (ns)
        self.sent = 0
        self.running = False
        self.last_seq: int | None = None
        client.sink = self.sink

    def send(self) -> None:
        cmid = f"c{self.client.index}-{self.sent}"
        self.sent += 1
        now = time.time_ns()
        self.pending[cmid] = now
        frame = {
            "type": "send",
            "conversation_id": self.conversation_id,
            "client_msg_id": cmid,
            "body": f"t={now} {PAD}",
        }
        self.client.send_text(orjson.dumps(frame))

    def start(self) -> None:
        self.running = True
        for _ in range(self.window):
            self.send()

    def sink(self, client: WSClient, data: bytes, start: int, end: int, now: int) -> None:
        frame = orjson.loads(memoryview(data)[start:end])
        stats = self.stats
        for f in frame["frames"] if frame.get("type") == "batch" else [frame]:
            kind = f.get("type")
            if kind == "ack":
                sent = self.pending.pop(f.get("client_msg_id"), None)
                if sent is None:
                    continue
                stats.acks += 1
                if f.get("duplicate"):
                    stats.duplicates += 1
                else:
                    stats.acks_new += 1
                if stats.measuring:
                    stats.ack_ms.append((now - sent) / 1e6)
            elif kind == "event":
                if f.get("event") == "message.created":
                    stats.events += 1
                    seq = f["seq"]
                    if self.last_seq is not None and seq != self.last_seq + 1:
                        stats.seq_gaps += 1
                    self.last_seq = seq
            elif kind == "error":
                stats.errors += 1
                if len(stats.error_samples) < 10:
                    stats.error_samples.append(orjson.dumps(f).decode()[:300])
                self.pending.pop(f.get("client_msg_id"), None)
        while self.running and len(self.pending) < self.window:
            self.send()


async def count_rows(db_url: str | None) -> int | None:
    if db_url is None:
        return None
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages"))
    finally:
        await conn.close()


async def sample_series(stats: Stats, series: list[tuple[float, int]], t0: float) -> None:
    while True:
        series.append((round(time.monotonic() - t0, 2), stats.acks))
        await asyncio.sleep(0.5)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.monotonic()
    facts = run_facts()
    log(f"sends bench: {args.clients} clients in {args.clients // 2} groups of 2, window {args.window}. {ARGON2_NOTE}.")
    server = TiplineServer(ws_impl=args.ws_impl, admin_url=args.database_url, embedded=args.embedded)
    clients: list[WSClient] = []
    beat = Heartbeat(clients)
    stats = Stats()
    series: list[tuple[float, int]] = []
    try:
        proc = await server.start()
        users = await sign_up_users(proc.base_url, args.clients, prefix="s")
        conversations = await create_pairs(proc.base_url, users)
        beat.start()
        clients[:] = await connect_many(
            proc.port, [u.token for u in users], origin=f"http://127.0.0.1:{proc.port}", into=clients
        )
        await wait_server_idle(proc)
        senders = [Sender(c, conversations[c.index // 2], args.window, stats) for c in clients]
        series_t0 = time.monotonic()
        sampler = asyncio.get_running_loop().create_task(sample_series(stats, series, series_t0))
        for s in senders:
            s.start()
        await asyncio.sleep(args.warmup)
        spy = PySpy(proc.server.pid, args.duration, TMP / "pyspy-sends.txt") if args.profile and proc.server else None
        if spy is not None:
            await spy.start()
        pg_cpu: Callable[[], float | None] = server.pg_cpu_seconds
        a0, e0 = stats.acks, stats.events
        s0, c0, p0, t0 = proc.cpu_seconds(), own_cpu_seconds(), pg_cpu(), time.monotonic()
        m0 = machine_cpu()
        stats.measuring = True
        await asyncio.sleep(args.duration)
        stats.measuring = False
        a1, e1 = stats.acks, stats.events
        s1, c1, p1, t1 = proc.cpu_seconds(), own_cpu_seconds(), pg_cpu(), time.monotonic()
        m1 = machine_cpu()
        # Stop sending; wait for every outstanding ack.
        for s in senders:
            s.running = False
        deadline = time.monotonic() + 30
        while any(s.pending for s in senders) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        sampler.cancel()
        outstanding = sum(len(s.pending) for s in senders)
        profile = await spy.finish() if spy is not None else None
        rows = await count_rows(server.db_url)
        elapsed = t1 - t0
        lat = stats.ack_ms
        closed = [c for c in clients if c.lost or c.close_code is not None]
        result: dict[str, Any] = {
            "benchmark": "sends",
            "acked_messages_per_s": round((a1 - a0) / elapsed),
            "ack_p50_ms": rounded(percentile(lat, 50)),
            "ack_p90_ms": rounded(percentile(lat, 90)),
            "ack_p99_ms": rounded(percentile(lat, 99)),
            "ack_max_ms": rounded(max(lat) if lat else None),
            "deliveries_per_s": round((e1 - e0) / elapsed),
            "acks_total": stats.acks,
            "acks_new": stats.acks_new,
            "duplicate_acks": stats.duplicates,
            "message_rows": rows,
            "acks_equal_rows": rows is not None and rows == stats.acks_new and outstanding == 0,
            "outstanding_after_stop": outstanding,
            "errors": stats.errors,
            "error_samples": stats.error_samples,
            "seq_gaps": stats.seq_gaps,
            "closed_connections": len(closed),
            "server_cpu_pct": round(100 * (s1 - s0) / elapsed, 1),
            "postgres_cpu_pct": None if p0 is None or p1 is None else round(100 * (p1 - p0) / elapsed, 1),
            "client_cpu_pct": round(100 * (c1 - c0) / elapsed, 1),
            **machine_cpu_between(
                m0, m1, 100 * ((s1 - s0) + (c1 - c0) + (0 if p0 is None or p1 is None else p1 - p0)) / elapsed
            ),
            "clients": args.clients,
            "conversations": len(conversations),
            "window_per_client": args.window,
            "warmup_s": args.warmup,
            "measured_s": round(elapsed, 2),
            "ws_impl": args.ws_impl,
            "database": "embedded" if args.embedded else "postgresql (fresh database)",
            "target_acked_messages_per_s": TARGET_ACKS_PER_S,
            "target_met": (a1 - a0) / elapsed >= TARGET_ACKS_PER_S,
            "note": ARGON2_NOTE,
            **facts,
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            "duration_s": round(time.monotonic() - t_start, 1),
            "profile": profile,
            "series": {
                "t_s": [t for t, _ in series],
                "acks": [a for _, a in series],
                "window": [round(t0 - series_t0, 2), round(t1 - series_t0, 2)],
            },
        }
        log(
            f"{result['acked_messages_per_s']:,} acked messages/s, ack p50 {result['ack_p50_ms']} ms, "
            f"p99 {result['ack_p99_ms']} ms; rows {rows} vs acks {stats.acks_new}; server CPU "
            f"{result['server_cpu_pct']}%, PostgreSQL {result['postgres_cpu_pct']}%, client {result['client_cpu_pct']}%"
        )
        return result
    finally:
        await beat.stop()
        close_all(clients)
        await asyncio.sleep(0.3)
        await server.stop()


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    ax = axes[0]
    t, acks = result["series"]["t_s"], result["series"]["acks"]
    rates = [(acks[i] - acks[i - 1]) / (t[i] - t[i - 1]) for i in range(1, len(t)) if t[i] > t[i - 1]]
    ax.plot(t[1 : len(rates) + 1], rates, color="#3b6fb6", lw=1.2, label="acked messages/s")
    lo, hi = result["series"]["window"]
    ax.axvspan(lo, hi, color="#3b6fb6", alpha=0.08, label="measured window")
    ax.axhline(TARGET_ACKS_PER_S, color="red", ls="--", lw=1, label=f"target {TARGET_ACKS_PER_S:,}/s")
    ax.set_xlabel("s")
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"{result['acked_messages_per_s']:,} acked messages/s "
        f"({result['clients']} clients, {result['conversations']} groups of 2, window {result['window_per_client']})"
    )
    ax.legend(loc="lower right")
    ax = axes[1]
    labels = ["p50", "p90", "p99", "max"]
    vals = [result["ack_p50_ms"], result["ack_p90_ms"], result["ack_p99_ms"], result["ack_max_ms"]]
    bars = ax.bar(labels, [v or 0 for v in vals], color="#3b6fb6")
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("ms")
    ax.set_title(f"Send-to-ack latency (acks == rows: {result['acks_equal_rows']})")
    fig.suptitle(
        f"Tipline sends, ws={result['ws_impl']}, one server process, {result['cpu_count']} CPUs, {result['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--embedded", action="store_true", help="run `tipline dev` (embedded PostgreSQL) instead")
    parser.add_argument("--clients", type=int, default=200, help="an even number: groups of two")
    parser.add_argument("--window", type=int, default=1, help="sends each client keeps in flight")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--ws-impl", default="websockets-sansio", choices=WS_IMPLS)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during the measured window")
    args = parser.parse_args()
    if args.clients < 2 or args.clients % 2:
        parser.error("--clients must be an even number >= 2")
    install_sigterm_handler()
    result = uvloop.run(run(args))
    publish(result, args.out, "sends", chart)


if __name__ == "__main__":
    main()
