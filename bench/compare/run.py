"""Before and after, in one run: a benchmark of two checkouts, alternated round by round.

    uv run python bench/compare/run.py --base /path/to/older/checkout [--head .] --bench sends
                                       [--rounds 3] [--out bench/results] [-- extra args for the benchmark]

Each round runs the benchmark once in each checkout (each with its own environment: `uv run`
in that checkout), base first in odd rounds and head first in even ones, so a machine that
gets busier or quieter during the run weighs on both sides alike. The figures of every run,
their medians and the ratio head / base go to bench/results/compare-<bench>.json (+ .png).
A shared, noisy machine still moves single runs by 10-20 %: quote the medians, and the
per-CPU-second figures where the benchmark has them (they move least with load).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import BENCH, log, run_facts, write_result

# The figures compared per benchmark, and whether more is better.
FIGURES: dict[str, dict[str, bool]] = {
    "sends": {"acked_messages_per_s": True, "ack_p50_ms": False, "ack_p99_ms": False, "server_cpu_pct": False},
    "fanout": {
        "deliveries_per_s": True,
        "deliveries_per_server_cpu_s": True,
        "first_delivery_p50_ms": False,
        "p99_ms": False,
        "bytes_per_conn": False,
    },
    "history": {
        "server_cached_p50_ms": False,
        "server_cached_p99_ms": False,
        "server_db_p50_ms": False,
        "cpu_ms_per_page_cached": False,
        "cpu_ms_per_page_db": False,
    },
}


def git_commit(checkout: Path) -> str:
    out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def run_once(checkout: Path, bench: str, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tlcompare-") as out:
        cmd = ["uv", "run", "python", f"bench/{bench}/run.py", "--out", out, *extra]
        done = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"{bench} failed in {checkout} (exit {done.returncode})")
        last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
        result: dict[str, Any] = json.loads(last)
        return result


def summarize(runs: dict[str, list[dict[str, Any]]], figures: dict[str, bool]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, more_is_better in figures.items():
        values = {side: [r.get(name) for r in rs if r.get(name) is not None] for side, rs in runs.items()}
        if not values["base"] or not values["head"]:
            continue
        base, head = statistics.median(values["base"]), statistics.median(values["head"])
        summary[name] = {
            "base_runs": values["base"],
            "head_runs": values["head"],
            "base_median": base,
            "head_median": head,
            "head_over_base": round(head / base, 3) if base else None,
            "more_is_better": more_is_better,
        }
    return summary


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = result["figures"]
    fig, axes = plt.subplots(1, len(figures), figsize=(3.6 * len(figures), 4.2), squeeze=False)
    for ax, (name, f) in zip(axes[0], figures.items(), strict=True):
        ax.bar(["base", "head"], [f["base_median"], f["head_median"]], color=["#999999", "#3b6fb6"], alpha=0.6)
        ax.scatter([0] * len(f["base_runs"]), f["base_runs"], color="#444444", zorder=3, s=14)
        ax.scatter([1] * len(f["head_runs"]), f["head_runs"], color="#1d3f73", zorder=3, s=14)
        ax.set_title(f"{name}\nhead/base {f['head_over_base']}", fontsize=9)
        ax.set_ylim(bottom=0)
    fig.suptitle(
        f"{result['bench']}: {result['base_commit']} (base) vs {result['head_commit']} (head), "
        f"{result['rounds']} alternated rounds; bars = medians, dots = runs",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, required=True, help="the older checkout")
    p.add_argument("--head", type=Path, default=Path("."), help="the newer checkout (default: this one)")
    p.add_argument("--bench", choices=sorted(FIGURES), required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=BENCH / "results")
    p.add_argument("extra", nargs="*", help="after --: arguments for the benchmark itself")
    args = p.parse_args()
    sides = {"base": args.base.resolve(), "head": args.head.resolve()}
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    for i in range(args.rounds):
        order = ["base", "head"] if i % 2 == 0 else ["head", "base"]
        for side in order:
            log(f"round {i + 1}/{args.rounds}: {side} ({sides[side]})")
            result = run_once(sides[side], args.bench, args.extra)
            runs[side].append(result)
            shown = {k: result.get(k) for k in FIGURES[args.bench]}
            log(f"  {shown}")
    result = {
        "benchmark": "compare",
        "bench": args.bench,
        "rounds": args.rounds,
        "extra_args": args.extra,
        "base_commit": git_commit(sides["base"]),
        "head_commit": git_commit(sides["head"]),
        "figures": summarize(runs, FIGURES[args.bench]),
        "load_avg_per_run": {side: [r.get("load_avg_at_start") for r in rs] for side, rs in runs.items()},
        **run_facts(),
    }
    path = write_result(result, args.out, f"compare-{args.bench}")
    chart(result, path.with_suffix(".png"))
    log(f"wrote {path} and {path.with_suffix('.png')}")
    print(json.dumps({k: v for k, v in result.items() if k != "figures"} | {"figures": result["figures"]}))


if __name__ == "__main__":
    main()
