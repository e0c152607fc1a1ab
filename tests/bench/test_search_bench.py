"""The search benchmark runs end to end on a small dataset (the full run is bench/search/run.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]


def test_search_bench_small_run(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "search" / "run.py"),
        *("--database-url", ADMIN_URL, "--messages", "3000", "--queries", "20", "--clients", "4"),
        *("--warmup", "0.3", "--duration", "1", "--rounds", "1", "--out", str(tmp_path)),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "search.json").read_text())
    assert (tmp_path / "search.png").stat().st_size > 0
    assert result["sends_with_index_per_s"] > 0 and result["sends_without_index_per_s"] > 0
    assert all(r["errors"] == 0 for r in result["sends_rounds"])
    search = result["search"]
    assert search["messages"] == 3000 and search["queries"] == 20 and len(search["latencies_ms"]) == 20
    # Each query is two words of a stored message the searcher can read half the time: most find something.
    assert search["queries_with_no_hits"] < 20
    assert search["p95_ms"] > 0
