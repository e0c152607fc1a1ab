"""Monthly AWS cost of Tipline for 1k, 10k, 100k and 1M daily active users, from its own benchmarks.

    uv run python -m infra.cost_model             # prints the table in docs/deploy-aws.md
    uv run python -m infra.cost_model --json      # the same, itemised, as JSON

Capacity comes from bench/results/*.json (measured on this project's 2-vCPU benchmark machine):

- memory.json `bytes_per_conn` (10,000 idle authenticated sockets on one process; without it,
  fanout-websockets-sansio.json's, at 1,000): server memory per connected socket;
- fanout-websockets-sansio.json `tipline.rss_before_connect_mib`: the process's own memory;
- fanout-websockets-sansio.json `server_us_per_delivery_unbatched`: server CPU per delivered event when
  nothing coalesces (the conservative figure: under load, coalescing makes deliveries far cheaper);
- sends.json `acked_messages_per_s` with `server_cpu_pct` and `postgres_cpu_pct`: server and database
  CPU per durable (committed, acknowledged) message;
- history.json `cpu_ms_per_page_db`: server CPU per history page read from PostgreSQL (the dearer of
  its two paths), counted for every HTTP request that reaches the app;
- memory.json `connections`: the most sockets one process was measured holding; a task is never
  sized for more, whatever its memory would allow;
- idle.json (idle authenticated sockets sending the protocol's heartbeat, up to 50,000 on one
  process): where it held more sockets than memory.json, its `bytes_per_socket_idle` and `sockets`
  replace those two, and its `idle.server_cpu_pct` above `base_cpu_pct` gives the CPU each held
  socket costs per second (heartbeats, the idle sweep).

Everything else is an assumption, listed in ASSUMPTIONS and PRICES and printed with the table.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.tipline_infra.config import ENVIRONMENTS, EnvConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HOURS = 730  # hours in a month, as AWS prices monthly

PRICES_DATE = "2025-06-01"
# us-east-1, on-demand, USD, as published on the AWS pricing pages on PRICES_DATE. This machine cannot
# reach the price lists: re-check them before relying on the totals.
PRICES: dict[str, float] = {
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
    "alb_hour": 0.0225,
    "alb_lcu_hour": 0.008,
    "nat_hour": 0.045,
    "nat_gb": 0.045,
    "public_ipv4_hour": 0.005,
    "aurora_acu_hour": 0.12,
    "aurora_storage_gb_month": 0.10,
    "aurora_io_million": 0.20,
    "cache.t4g.small_hour": 0.032,
    "cache.t4g.medium_hour": 0.065,
    "cache.r7g.large_hour": 0.219,
    "cache.r7g.xlarge_hour": 0.437,
    "s3_standard_gb_month": 0.023,
    "s3_ia_gb_month": 0.0125,
    "s3_ia_retrieval_gb": 0.01,
    # Glacier Instant Retrieval: a plain GET reads it (Flexible Retrieval, $0.0036, needs a restore first).
    "s3_glacier_ir_gb_month": 0.004,
    "s3_glacier_ir_retrieval_gb": 0.03,
    "cloudfront_gb": 0.085,
    "cloudfront_https_10k": 0.01,
    "waf_acl_month": 5.0,
    "waf_rule_month": 1.0,
    "waf_million_requests": 0.60,
    "logs_ingest_gb": 0.50,
    "logs_store_gb_month": 0.03,
    "cloudwatch_alarm_month": 0.10,
    "cloudwatch_dashboard_month": 3.0,
    "secret_month": 0.40,
    "kms_key_month": 1.0,
    "cognito_mau_over_10k": 0.015,
    "ecr_gb_month": 0.10,
}
REDIS_NODE_GB = {"cache.t4g.small": 1.37, "cache.t4g.medium": 3.09, "cache.r7g.large": 13.07, "cache.r7g.xlarge": 26.32}

ASSUMPTIONS: dict[str, float] = {
    "peak_online_share": 0.20,  # share of DAU online at the busiest hour
    "sockets_per_online_user": 1.5,  # tabs and devices
    "messages_per_dau_day": 40,
    "peak_hour_share": 0.10,  # share of a day's messages sent in its busiest hour
    "online_recipients_per_message": 10,  # deliveries per message (online members of the conversation)
    "requests_per_dau_day": 150,  # HTTP requests (history pages, sign-in, uploads' presign, static files)
    "cpu_target": 0.60,  # autoscaling CPU target: capacity is provisioned so peak stays below it
    "memory_usable_share": 0.70,  # of a task's memory, for sockets (the rest: runtime, buffers, spikes)
    "db_read_multiplier": 2.0,  # database CPU for reads (history, search) relative to the writes measured
    "vcpu_per_acu": 0.25,  # Aurora capacity unit vs one vCPU of the benchmark machine
    "db_average_to_peak": 0.40,  # average database load over the month relative to the peak hour
    "app_average_to_peak": 0.50,  # average task count relative to the peak hour's (autoscaling follows load)
    "bytes_per_message_stored": 1200,  # row plus indexes
    "media_mb_per_dau_month": 15,
    "transfer_mb_per_dau_day": 6,  # to browsers through CloudFront: events, history, media, the client once
    "alb_share_of_transfer": 0.5,  # the rest is the web client's static files, cached at the edge
    "log_bytes_per_request": 600,
    "mau_per_dau": 3.0,
    "cognito_share": 0.25,  # share of monthly users signing in through Cognito (the rest: Tipline passwords)
    "old_media_read_share_month": 0.05,  # of the media past its first month, the share read again each month
    "months_of_media": 12,  # the media table shows the bill after a year of uploads
}
TIERS = (1_000, 10_000, 100_000, 1_000_000)

# Mattermost's published reference architectures (docs.mattermost.com, "Scale Mattermost up to N
# users", read 2026-12): concurrent users, application nodes, vCPUs per node. The comparison puts
# Tipline's concurrent users per application vCPU beside theirs.
MATTERMOST_REFERENCE: tuple[tuple[int, int, int], ...] = (
    (200, 1, 2),
    (2_000, 2, 2),
    (30_000, 2, 8),
    (88_000, 6, 16),
)


@dataclass(frozen=True)
class Capacity:
    """What one Tipline process measured, read from the benchmark JSON."""

    bytes_per_conn: float
    base_rss_mib: float
    cpu_s_per_delivery: float
    cpu_s_per_send: float
    db_cpu_s_per_send: float
    cpu_s_per_request: float
    max_sockets_per_process: int
    cpu_s_per_socket_s: float  # an idle socket's heartbeats and sweeps, per second held
    sources: tuple[str, ...]

    @classmethod
    def from_results(cls, results: Path = RESULTS) -> Capacity:
        fanout = json.loads((results / "fanout-websockets-sansio.json").read_text())
        sends = json.loads((results / "sends.json").read_text())
        acked = float(sends["acked_messages_per_s"])
        sources = [
            f"fanout-websockets-sansio.json ({fanout['date'][:10]}, commit {fanout['git_commit']})",
            f"sends.json ({sends['date'][:10]}, commit {sends['git_commit']})",
        ]
        history = json.loads((results / "history.json").read_text())
        sources.append(f"history.json ({history['date'][:10]}, commit {history['git_commit']})")
        bytes_per_conn = float(fanout["bytes_per_conn"])
        max_sockets = int(fanout["members"])
        memory_path = results / "memory.json"
        if memory_path.exists():
            # Measured at 10,000 sockets, the scale a task holds: the 1,000-socket figure carries
            # more of the process's fixed overhead per socket.
            memory = json.loads(memory_path.read_text())
            bytes_per_conn = float(memory["bytes_per_conn"])
            max_sockets = max(max_sockets, int(memory["connections"]))
            sources.append(f"memory.json ({memory['date'][:10]}, commit {memory['git_commit']})")
        cpu_s_per_socket_s = 0.0
        idle_path = results / "idle.json"
        if idle_path.exists():
            idle = json.loads(idle_path.read_text())
            if int(idle["sockets"]) > max_sockets:
                bytes_per_conn = float(idle["bytes_per_socket_idle"])
                max_sockets = int(idle["sockets"])
            busy = max(0.0, float(idle["idle"]["server_cpu_pct"]) - float(idle["base_cpu_pct"]))
            cpu_s_per_socket_s = busy / 100 / int(idle["sockets"])
            sources.append(f"idle.json ({idle['date'][:10]}, commit {idle['git_commit']})")
        return cls(
            bytes_per_conn=bytes_per_conn,
            base_rss_mib=float(fanout["tipline"]["rss_before_connect_mib"]),
            cpu_s_per_delivery=float(fanout["server_us_per_delivery_unbatched"]) / 1e6,
            cpu_s_per_send=float(sends["server_cpu_pct"]) / 100 / acked,
            db_cpu_s_per_send=float(sends["postgres_cpu_pct"]) / 100 / acked,
            cpu_s_per_request=float(history["cpu_ms_per_page_db"]) / 1e3,
            max_sockets_per_process=max_sockets,
            cpu_s_per_socket_s=cpu_s_per_socket_s,
            sources=tuple(sources),
        )


def _redis(need_gb: float, min_shards: int) -> tuple[int, str]:
    """Shards and node type: the smallest node that holds a shard's share with 25 % free (the
    memory alarm is at 80 %); more shards of the largest node when even that is too small."""
    largest = max(REDIS_NODE_GB, key=REDIS_NODE_GB.__getitem__)
    shards = max(min_shards, 1, math.ceil(need_gb / (REDIS_NODE_GB[largest] * 0.75)))
    for node, gb in REDIS_NODE_GB.items():
        if gb * 0.75 >= need_gb / shards:
            return shards, node
    return shards, largest


@dataclass(frozen=True)
class PeakLoad:
    """The busiest hour of `dau` daily users, and the application CPU it needs."""

    sockets: float
    msgs_per_s: float
    deliveries_per_s: float
    requests_per_s: float
    cpu: float  # vCPU-seconds per second


def peak_load(dau: float, cap: Capacity, a: dict[str, float] = ASSUMPTIONS) -> PeakLoad:
    sockets = dau * a["peak_online_share"] * a["sockets_per_online_user"]
    msgs_per_s = dau * a["messages_per_dau_day"] * a["peak_hour_share"] / 3600
    deliveries_per_s = msgs_per_s * a["online_recipients_per_message"]
    requests_per_s = dau * a["requests_per_dau_day"] * a["peak_hour_share"] / 3600
    cpu = (
        deliveries_per_s * cap.cpu_s_per_delivery
        + msgs_per_s * cap.cpu_s_per_send
        + requests_per_s * cap.cpu_s_per_request
        + sockets * cap.cpu_s_per_socket_s
    )
    return PeakLoad(sockets, msgs_per_s, deliveries_per_s, requests_per_s, cpu)


def sockets_per_task(cfg: EnvConfig, cap: Capacity, a: dict[str, float] = ASSUMPTIONS) -> float:
    """By the task's memory, and never more than one process was measured holding."""
    by_memory = (cfg.app_memory_mib * a["memory_usable_share"] - cap.base_rss_mib) * 2**20 / cap.bytes_per_conn
    return min(by_memory, cap.max_sockets_per_process)


def concurrent_users_per_vcpu(cap: Capacity, a: dict[str, float] = ASSUMPTIONS) -> dict[str, float]:
    """Online users one application vCPU carries at the peak hour, by CPU (messages, deliveries,
    HTTP requests and held sockets at the autoscaling target) and by sockets (a prod task's, per
    vCPU), and the smaller of the two: the figure Mattermost's reference architectures give as
    concurrent users per application vCPU."""
    cfg = ENVIRONMENTS["prod"]
    vcpu = cfg.app_cpu / 1024
    online = 1_000_000 * a["peak_online_share"]
    by_cpu = a["cpu_target"] / (peak_load(1_000_000, cap, a).cpu / online)
    by_sockets = sockets_per_task(cfg, cap, a) / vcpu / a["sockets_per_online_user"]
    return {"by_cpu": round(by_cpu), "by_sockets": round(by_sockets), "users": round(min(by_cpu, by_sockets))}


def mattermost_comparison(cap: Capacity) -> list[dict[str, Any]]:
    ours = concurrent_users_per_vcpu(cap)["users"]
    rows = []
    for users, nodes, vcpus in MATTERMOST_REFERENCE:
        theirs = users / (nodes * vcpus)
        rows.append(
            {
                "concurrent_users": users,
                "mattermost_app_vcpus": nodes * vcpus,
                "mattermost_users_per_vcpu": round(theirs),
                "tipline_app_vcpus": max(1, math.ceil(users / ours)),
                "ratio": round(ours / theirs, 1),
            }
        )
    return rows


def estimate(
    dau: int, cap: Capacity, a: dict[str, float] = ASSUMPTIONS, p: dict[str, float] = PRICES
) -> dict[str, Any]:
    """Sizing and monthly cost, itemised, for `dau` daily active users."""
    cfg: EnvConfig = ENVIRONMENTS["dev" if dau <= 1_000 else "prod"]
    vcpu = cfg.app_cpu / 1024
    mem_gb = cfg.app_memory_mib / 1024

    load = peak_load(dau, cap, a)
    sockets, msgs_per_s = load.sockets, load.msgs_per_s
    per_task = sockets_per_task(cfg, cap, a)
    tasks_cpu = math.ceil(load.cpu / (vcpu * a["cpu_target"]))
    tasks_mem = math.ceil(sockets / per_task)
    peak_tasks = max(cfg.app_min_tasks, tasks_cpu, tasks_mem)
    avg_tasks = max(cfg.app_min_tasks, peak_tasks * a["app_average_to_peak"])
    task_hours = avg_tasks * HOURS
    watcher_hours = HOURS

    db_vcpu_peak = msgs_per_s * cap.db_cpu_s_per_send * (1 + a["db_read_multiplier"])
    acu_peak = max(cfg.db_min_acu, db_vcpu_peak / a["vcpu_per_acu"] / a["cpu_target"])
    acu_avg = max(cfg.db_min_acu, acu_peak * a["db_average_to_peak"])
    db_instances = 1 + cfg.db_readers
    msgs_month = dau * a["messages_per_dau_day"] * 30
    db_gb = msgs_month * a["bytes_per_message_stored"] * 12 / 1e9  # a year of history
    db_io_million = msgs_month * 10 / 1e6  # ~10 I/Os per stored message (row, indexes, WAL)

    redis_need_gb = sockets * 2048 / 1e9 + msgs_month / 30 * 1024 / 1e9
    redis_shards, redis_node = _redis(redis_need_gb, cfg.redis_shards)
    redis_nodes = redis_shards * (1 + cfg.redis_replicas_per_shard)
    # Past what the profile allows, say what to raise rather than price what it cannot run.
    over = []
    if peak_tasks > cfg.app_max_tasks:
        over.append(f"app_max_tasks {cfg.app_max_tasks} -> {peak_tasks}")
    if acu_peak > cfg.db_max_acu:
        over.append(f"db_max_acu {cfg.db_max_acu:g} -> {math.ceil(acu_peak)}")
    if redis_shards > cfg.redis_shards:
        over.append(f"redis_shards {cfg.redis_shards} -> {redis_shards}")

    requests_month = dau * a["requests_per_dau_day"] * 30
    transfer_gb = dau * a["transfer_mb_per_dau_day"] * 30 / 1024
    media_gb_year = dau * a["media_mb_per_dau_month"] * a["months_of_media"] / 1024
    # Lifecycle: the last month in Standard, the 5 before in IA, the rest in Glacier Instant Retrieval;
    # reading from the last two is charged per GB.
    months = a["months_of_media"]
    media_std = media_gb_year / months
    media_ia = media_gb_year * min(5, months - 1) / months
    media_glacier = media_gb_year - media_std - media_ia
    old_read = a["old_media_read_share_month"]
    logs_gb = requests_month * a["log_bytes_per_request"] / 1e9 + 1.0  # + flow logs and the watcher
    alarms = 5 + cfg.redis_shards + 2  # and the two connection-scaling alarms
    mau_cognito = dau * a["mau_per_dau"] * a["cognito_share"]
    # ALB LCUs: the larger of new connections (25/s per LCU), active connections (3,000 per LCU) and
    # bytes processed (1 GB/hour per LCU); averaged over the month.
    lcu = max(sockets * a["app_average_to_peak"] / 3000, transfer_gb * a["alb_share_of_transfer"] / HOURS, 1.0)

    items = {
        "Fargate (app tasks + watcher)": (task_hours * (vcpu * p["fargate_vcpu_hour"] + mem_gb * p["fargate_gb_hour"]))
        + watcher_hours
        * (cfg.watcher_cpu / 1024 * p["fargate_vcpu_hour"] + cfg.watcher_memory_mib / 1024 * p["fargate_gb_hour"]),
        "Aurora Serverless v2": acu_avg * db_instances * HOURS * p["aurora_acu_hour"]
        + db_gb * p["aurora_storage_gb_month"]
        + db_io_million * p["aurora_io_million"],
        "ElastiCache Redis": redis_nodes * HOURS * p[f"{redis_node}_hour"],
        "ALB": HOURS * (p["alb_hour"] + lcu * p["alb_lcu_hour"]),
        "NAT gateways + public IPv4": cfg.nat_gateways * HOURS * p["nat_hour"]
        + (cfg.nat_gateways + cfg.max_azs) * HOURS * p["public_ipv4_hour"]
        + 5 * p["nat_gb"],  # image pulls and chain RPC, ~5 GB
        "CloudFront": transfer_gb * p["cloudfront_gb"] + requests_month / 1e4 * p["cloudfront_https_10k"],
        "WAF": p["waf_acl_month"] + 5 * p["waf_rule_month"] + requests_month / 1e6 * p["waf_million_requests"],
        "S3 media": media_std * p["s3_standard_gb_month"]
        + media_ia * (p["s3_ia_gb_month"] + old_read * p["s3_ia_retrieval_gb"])
        + media_glacier * (p["s3_glacier_ir_gb_month"] + old_read * p["s3_glacier_ir_retrieval_gb"]),
        "CloudWatch (logs, alarms, dashboard)": logs_gb * (p["logs_ingest_gb"] + p["logs_store_gb_month"] * 3)
        + alarms * p["cloudwatch_alarm_month"]
        + p["cloudwatch_dashboard_month"],
        "Cognito": max(0.0, mau_cognito - 10_000) * p["cognito_mau_over_10k"],
        "Secrets, KMS, ECR": 6 * p["secret_month"] + 2 * p["kms_key_month"] + 1 * p["ecr_gb_month"],
    }
    items = {k: round(v, 2) for k, v in items.items()}
    return {
        "dau": dau,
        "profile": cfg.name,
        "sizing": {
            "peak_sockets": round(sockets),
            "peak_messages_per_s": round(msgs_per_s, 1),
            "peak_deliveries_per_s": round(load.deliveries_per_s),
            "peak_requests_per_s": round(load.requests_per_s),
            "sockets_per_task": round(per_task),
            "tasks_for_cpu": tasks_cpu,
            "tasks_for_memory": tasks_mem,
            "peak_tasks": peak_tasks,
            "task_size": f"{vcpu:g} vCPU / {mem_gb:g} GB",
            "aurora_acu_peak": round(acu_peak, 2),
            "aurora_instances": db_instances,
            "redis": f"{redis_nodes} x {redis_node}",
            "profile_limits_to_raise": over,
        },
        "items": items,
        "total": round(sum(items.values()), 2),
        "per_1000_dau": round(sum(items.values()) / dau * 1000, 2),
    }


def table(cap: Capacity | None = None) -> str:
    """The cost table of docs/deploy-aws.md, in Markdown."""
    cap = cap or Capacity.from_results()
    rows = [estimate(d, cap) for d in TIERS]
    head = "| Monthly, USD | " + " | ".join(f"{r['dau']:,} DAU ({r['profile']})" for r in rows) + " |"
    lines = [head, "| --- |" + " ---: |" * len(rows)]
    keys = ("peak_sockets", "peak_deliveries_per_s", "sockets_per_task", "peak_tasks", "task_size")
    for key in (*keys, "aurora_acu_peak", "redis"):
        values = [r["sizing"][key] for r in rows]
        shown = [f"{v:,}" if isinstance(v, int) else str(v) for v in values]
        lines.append(f"| *{key.replace('_', ' ')}* | " + " | ".join(shown) + " |")
    limits = [", ".join(r["sizing"]["profile_limits_to_raise"]) or "-" for r in rows]
    lines.append("| *profile limits to raise* | " + " | ".join(limits) + " |")
    for item in rows[0]["items"]:
        lines.append(f"| {item} | " + " | ".join(f"{r['items'][item]:,.2f}" for r in rows) + " |")
    lines.append("| **Total** | " + " | ".join(f"**{r['total']:,.2f}**" for r in rows) + " |")
    lines.append("| per 1,000 DAU | " + " | ".join(f"{r['per_1000_dau']:,.2f}" for r in rows) + " |")
    return "\n".join(lines)


def comparison_table(cap: Capacity | None = None) -> str:
    """Concurrent users per application vCPU, Tipline's (from the benchmarks) beside Mattermost's."""
    cap = cap or Capacity.from_results()
    per = concurrent_users_per_vcpu(cap)
    lines = [
        f"Tipline: **{per['users']:,} concurrent users per application vCPU** (by CPU {per['by_cpu']:,}, "
        f"by sockets {per['by_sockets']:,}).",
        "",
        "| Concurrent users | Mattermost app vCPUs | Mattermost users per vCPU | Tipline app vCPUs "
        "| Tipline / Mattermost |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in mattermost_comparison(cap):
        lines.append(
            f"| {r['concurrent_users']:,} | {r['mattermost_app_vcpus']} | {r['mattermost_users_per_vcpu']:,} "
            f"| {r['tipline_app_vcpus']} | {r['ratio']}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="itemised JSON instead of the Markdown table")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the benchmark JSON")
    args = parser.parse_args()
    cap = Capacity.from_results(args.results)
    if args.json:
        print(
            json.dumps(
                {
                    "capacity": asdict(cap),
                    "assumptions": ASSUMPTIONS,
                    "prices": PRICES,
                    "prices_date": PRICES_DATE,
                    "tiers": [estimate(d, cap) for d in TIERS],
                    "concurrent_users_per_app_vcpu": concurrent_users_per_vcpu(cap),
                    "mattermost_comparison": mattermost_comparison(cap),
                },
                indent=2,
            )
        )
    else:
        print(table(cap))
        print()
        print(comparison_table(cap))


if __name__ == "__main__":
    main()
