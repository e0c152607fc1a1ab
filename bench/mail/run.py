"""Mail benchmark: the outbox worker sending to a local SMTP server.

    uv run python bench/mail/run.py [--mails 2000] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                    [--out bench/results]

Migrates a database of its own, queues ``--mails`` notification-sized mails (text and HTML, with
List-Unsubscribe headers) in the outbox in one transaction, starts a real SMTP server (aiosmtpd, in
a process of its own, counting what it accepts) and one ``MailWorker`` (domain/mail/worker.py, the
code every node runs, with its production batch size and an SMTP connection per mail), and times
until the outbox is empty. The figure is mails per second of wall time from the worker's start to
the last mail marked sent. Target: 50/s (issue 20).

Prints one JSON object last on stdout and writes bench/results/mail.json and mail.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    BENCH,
    BenchDatabase,
    free_port,
    install_sigterm_handler,
    log,
    pg_backends_cpu_seconds,
    publish,
    run_facts,
)

TARGET_PER_S = 50

# The SMTP server: aiosmtpd's Controller with a handler that counts accepted mails and writes the
# count to a file when told to stop (SIGTERM).
SMTP_SERVER = """
import signal, sys, threading
from aiosmtpd.controller import Controller
count = 0
class Counter:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        return "250 OK"
c = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
done.wait()
c.stop()
open(sys.argv[2], "w").write(str(count))
"""


async def queue(url: str, mails: int) -> None:
    import asyncpg

    body = "Hello Bench,\n\nWhile you were away:\n\n#general\n  Someone: " + "words " * 40 + "\n"
    html = "<p>" + body.replace("\n", "<br>") + "</p>"
    headers = '{"List-Unsubscribe": "<https://tipline.example/notifications/unsubscribe?u=1&t=x>"}'
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            'INSERT INTO mail_outbox ("to", subject, text, html, headers) VALUES ($1, $2, $3, $4, $5::jsonb)',
            [
                (f"user{i}@example.com", f"{i} unread messages for you on Tipline", body, html, headers)
                for i in range(mails)
            ],
        )
    finally:
        await conn.close()


async def unsent(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        n: int = await conn.fetchval("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL")
        return n
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tipline.config import Settings
    from tipline.domain.mail.worker import BATCH, MailWorker
    from tipline.storage.db import create_engine
    from tipline.storage.migrate import upgrade_async

    t_start = time.monotonic()
    facts = run_facts()
    db = BenchDatabase(args.database_url)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="tipline-bench-mail-"))
    count_file = work / "count"
    smtp = subprocess.Popen([sys.executable, "-c", SMTP_SERVER, str(port), str(count_file)], stdout=subprocess.PIPE)
    try:
        assert smtp.stdout is not None and smtp.stdout.readline().strip() == b"ready"
        url = await db.create()
        await upgrade_async(url)
        await queue(url, args.mails)
        log(f"queued {args.mails} mails; SMTP server pid {smtp.pid} on port {port}")
        settings = Settings(
            _env_file=None,
            database_url=url,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_tls="none",
            mail_poll_interval_s=0.05,
            media_dir=work / "media",
        )
        engine = create_engine(url)
        worker = MailWorker(settings, engine)
        me = psutil.Process()
        smtp_proc = psutil.Process(smtp.pid)
        cpu0, smtp0 = me.cpu_times(), smtp_proc.cpu_times()
        pg0 = pg_backends_cpu_seconds(db.name)
        samples: list[tuple[float, int]] = []
        t0 = time.monotonic()
        worker.start()
        try:
            while worker.sent < args.mails:
                await asyncio.sleep(0.25)
                samples.append((round(time.monotonic() - t0, 2), worker.sent))
                if time.monotonic() - t0 > args.timeout:
                    raise SystemExit(f"only {worker.sent} of {args.mails} mails sent in {args.timeout} s")
            seconds = time.monotonic() - t0
            cpu1, smtp1 = me.cpu_times(), smtp_proc.cpu_times()
            pg_cpu = pg_backends_cpu_seconds(db.name) - pg0
        finally:
            await worker.stop()
            await engine.dispose()
        left = await unsent(url)
    finally:
        smtp.send_signal(signal.SIGTERM)
        smtp.wait(10)
        await db.drop()
    received = int(count_file.read_text()) if count_file.exists() else -1
    rate = args.mails / seconds
    worker_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    smtp_cpu = (smtp1.user + smtp1.system) - (smtp0.user + smtp0.system)
    log(f"sent {args.mails} mails in {seconds:.1f} s: {rate:.0f}/s; the SMTP server took {received}")
    return {
        "benchmark": "mail",
        "mails": args.mails,
        "seconds": round(seconds, 2),
        "mails_per_s": round(rate, 1),
        "target_per_s": TARGET_PER_S,
        "target_met": rate >= TARGET_PER_S,
        "received_by_smtp_server": received,
        "left_unsent": left,
        "worker_batch": BATCH,
        "worker_cpu_s": round(worker_cpu, 2),
        "smtp_server_cpu_s": round(smtp_cpu, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        # The rate if the worker, the SMTP server and PostgreSQL each had a core of their own: on a
        # machine shared with other work (see load_avg_*), wall time says less.
        "cpu_bound_mails_per_s": round(args.mails / max(worker_cpu, smtp_cpu, pg_cpu, 1e-6), 1),
        "progress": samples,
        "note": "one MailWorker (one node), a new SMTP connection per mail (aiosmtplib.send), SMTP server on loopback",
        **facts,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "duration_s": round(time.monotonic() - t_start, 1),
    }


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    ax = axes[0]
    bars = ax.bar(["mail worker"], [result["mails_per_s"]], color="#3b6fb6")
    ax.bar_label(bars, fmt="%.0f")
    ax.axhline(result["target_per_s"], color="red", ls="--", lw=1, label=f"target {result['target_per_s']}/s")
    ax.set_ylabel("mails/s (wall time)")
    ax.set_title(f"{result['mails']:,} mails in {result['seconds']} s")
    ax.legend(loc="lower right")
    ax = axes[1]
    if result["progress"]:
        ts, done = zip(*result["progress"], strict=True)
        ax.plot(ts, done, color="#3b6fb6")
    ax.set_xlabel("s since the worker started")
    ax.set_ylabel("mails sent")
    ax.set_title(
        f"CPU: worker {result['worker_cpu_s']} s, SMTP server {result['smtp_server_cpu_s']} s, "
        f"PostgreSQL {result['postgres_cpu_s']} s (CPU-bound {result['cpu_bound_mails_per_s']:.0f}/s)",
        fontsize=9,
    )
    fig.suptitle(f"Mail outbox to a local SMTP server, {result['cpu_count']} CPUs, {result['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    install_sigterm_handler()
    result = asyncio.run(run(args))
    publish(result, args.out, "mail", chart)


if __name__ == "__main__":
    main()
