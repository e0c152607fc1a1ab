"""Import benchmark: `tipline import mattermost` of a generated bulk-import file.

    uv run python bench/imports/run.py [--messages 1000000] [--batch-size 5000]
                                       [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--out bench/results]

Writes a Mattermost JSONL file of ``--messages`` messages (posts in 20 channels of one team, every
tenth post with two replies, every seventh with reactions, 200 users) into a temporary folder,
migrates a database of its own, and imports the file with the importer Tipline's CLI runs
(``domain/imports``: a validation pass over the whole file, then batches written with COPY).
The figure is messages (posts and replies) per second of wall time over the whole import,
validation pass included. Target: 20,000/s.

Prints one JSON object last on stdout and writes bench/results/imports.json and imports.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import BENCH, BenchDatabase, install_sigterm_handler, log, pg_backends_cpu_seconds, publish, run_facts

TARGET_PER_S = 20_000
WORDS = [
    "the",
    "a",
    "deploy",
    "build",
    "green",
    "red",
    "merge",
    "review",
    "ship",
    "fix",
    "bug",
    "test",
    "release",
    "alert",
    "page",
    "on",
    "call",
    "tip",
    "thanks",
]


def generate(path: Path, *, messages: int, channels: int, users: int, seed: int) -> dict[str, int]:
    """A bulk-import file of exactly ``messages`` posts and replies."""
    rng = random.Random(seed)
    names = [f"user{i:04d}" for i in range(users)]
    counts = {"posts": 0, "replies": 0, "reactions": 0}
    with path.open("wb") as fh:

        def line(obj: dict[str, Any]) -> None:
            fh.write(orjson.dumps(obj) + b"\n")

        line({"type": "version", "version": 1})
        line({"type": "team", "team": {"name": "bench", "display_name": "Bench", "type": "O"}})
        chans = [f"channel-{c:02d}" for c in range(channels)]
        for c in chans:
            line({"type": "channel", "channel": {"team": "bench", "name": c, "display_name": c, "type": "O"}})
        member_of = [{"name": c, "roles": "channel_user"} for c in chans]
        for n in names:
            line(
                {
                    "type": "user",
                    "user": {
                        "username": n,
                        "email": f"{n}@bench.example",
                        "teams": [{"name": "bench", "roles": "team_user", "channels": member_of}],
                    },
                }
            )
        ms = 1_600_000_000_000
        left = messages
        k = 0
        while left > 0:
            k += 1
            ms += 37
            body = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
            post: dict[str, Any] = {
                "team": "bench",
                "channel": chans[k % channels],
                "user": names[rng.randrange(users)],
                "message": f"{body} #{k}",
                "create_at": ms,
            }
            left -= 1
            counts["posts"] += 1
            if k % 10 == 0 and left >= 2:
                post["replies"] = [
                    {"user": names[rng.randrange(users)], "message": f"re {k}.{r}", "create_at": ms + 1 + r}
                    for r in range(2)
                ]
                left -= 2
                counts["replies"] += 2
            if k % 7 == 0:
                post["reactions"] = [{"user": names[rng.randrange(users)], "emoji_name": "+1", "create_at": ms + 5}]
                counts["reactions"] += 1
            line({"type": "post", "post": post})
    return counts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tipline.app import build_runtime
    from tipline.config import Settings
    from tipline.domain.imports.actions import do_import
    from tipline.domain.imports.mattermost import MattermostExport
    from tipline.storage.migrate import upgrade_async

    t_start = time.monotonic()
    facts = run_facts()
    work = Path(tempfile.mkdtemp(prefix="tipline-bench-imports-"))
    db = BenchDatabase(args.database_url)
    try:
        log(f"writing a bulk-import file of {args.messages:,} messages")
        source = work / "import.jsonl"
        counts = generate(source, messages=args.messages, channels=args.channels, users=args.users, seed=args.seed)
        log(f"{source.stat().st_size / 2**20:.0f} MiB, {counts}")
        url = await db.create()
        await upgrade_async(url)
        settings = Settings(_env_file=None, media_dir=work / "media", database_url=url)
        rt = build_runtime(settings, database_url=url, jwt_key=secrets.token_bytes(64))
        samples: list[tuple[float, int]] = []
        t0 = time.monotonic()

        def progress(done: int, total: int) -> None:
            samples.append((round(time.monotonic() - t0, 3), done))

        me = psutil.Process()
        cpu0 = me.cpu_times()
        pg0 = pg_backends_cpu_seconds(db.name)
        try:
            export = MattermostExport(source, max_file_bytes=1, team_as="none")
            summary = await do_import(rt, export=export, progress=progress, batch_size=args.batch_size)
            seconds = time.monotonic() - t0
            cpu1 = me.cpu_times()
            # Read while the pool's connections (and so their backends) are still open.
            pg_cpu = pg_backends_cpu_seconds(db.name) - pg0
        finally:
            await rt.engine.dispose()
        imported = summary.created["messages"] + summary.created["replies"]
        importer_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        first = next((t for t, d in samples if d > 0), 0.0)
        log(f"imported {imported:,} messages in {seconds:.1f} s: {imported / seconds:,.0f}/s")
        return {
            "benchmark": "imports",
            "messages": imported,
            "posts": counts["posts"],
            "replies": counts["replies"],
            "reactions": summary.created["reactions"],
            "users": summary.created["users"],
            "conversations": summary.created["conversations"],
            "file_mib": round(source.stat().st_size / 2**20, 1),
            "batch_size": args.batch_size,
            "seconds": round(seconds, 2),
            "messages_per_s": round(imported / seconds),
            "target_per_s": TARGET_PER_S,
            "target_met": imported / seconds >= TARGET_PER_S,
            "validation_pass_s": round(first, 2),
            "importer_cpu_s": round(importer_cpu, 1),
            "postgres_cpu_s": round(pg_cpu, 1),
            # The rate if the importer and PostgreSQL each had a core of their own (they work in
            # parallel, one batch apart): on a machine shared with other work, wall time says less.
            "cpu_bound_messages_per_s": round(imported / max(importer_cpu, pg_cpu, 1e-6)),
            "progress": samples,
            "skipped": dict(summary.skipped),
            **facts,
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            "duration_s": round(time.monotonic() - t_start, 1),
        }
    finally:
        await db.drop()
        shutil.rmtree(work, ignore_errors=True)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    ax = axes[0]
    bars = ax.bar(["imported"], [result["messages_per_s"]], color="#3b6fb6")
    ax.bar_label(bars, fmt="%d")
    ax.axhline(result["target_per_s"], color="red", ls="--", lw=1, label=f"target {result['target_per_s']:,}/s")
    ax.set_ylabel("messages/s (wall time, validation included)")
    ax.set_title(f"{result['messages']:,} messages in {result['seconds']} s")
    ax.legend(loc="lower right")
    ax = axes[1]
    if result["progress"]:
        ts, done = zip(*result["progress"], strict=True)
        ax.plot(ts, done, color="#3b6fb6")
    ax.set_xlabel("s since the import started")
    ax.set_ylabel("messages read")
    ax.set_title(
        f"validation {result['validation_pass_s']} s; CPU: importer {result['importer_cpu_s']} s, "
        f"PostgreSQL {result['postgres_cpu_s']} s (CPU-bound {result['cpu_bound_messages_per_s']:,}/s)",
        fontsize=9,
    )
    fig.suptitle(
        f"tipline import mattermost, batches of {result['batch_size']}, {result['cpu_count']} CPUs, {result['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    install_sigterm_handler()
    result = asyncio.run(run(args))
    publish(result, args.out, "imports", chart)


if __name__ == "__main__":
    main()
