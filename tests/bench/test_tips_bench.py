"""The tip latency benchmark runs end to end on a few tips (the full run is bench/tips/run.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]


def test_tips_bench_small_run(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "tips" / "run.py"), "--tips", "2", "--database-url", ADMIN_URL]
    done = subprocess.run([*cmd, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    written = json.loads((tmp_path / "tips.json").read_text())
    assert (tmp_path / "tips.png").stat().st_size > 0
    assert {k: v for k, v in written.items() if k != "samples"} == printed
    assert len(written["samples"]["pending_ms"]) == len(written["samples"]["confirmed_ms"]) == 2
    # Every tip reached both members in both states (times are the benchmark's business, not the suite's).
    assert all(x > 0 for x in written["samples"]["pending_ms"] + written["samples"]["confirmed_ms"])
