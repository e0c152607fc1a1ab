"""The import benchmark's short form (bench/imports/run.py runs 1,000,000 messages): 20,000
messages end to end. Checks behaviour, not speed: everything generated was imported, the JSON
has its figures and the chart is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_URL

ROOT = Path(__file__).resolve().parents[3]


def test_import_bench_short_run(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "imports" / "run.py"),
        *("--database-url", ADMIN_URL, "--messages", "20000", "--batch-size", "2000", "--out", str(tmp_path)),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "imports.json").read_text())
    assert (tmp_path / "imports.png").stat().st_size > 0
    assert result["messages"] == 20000 == result["posts"] + result["replies"]
    assert result["users"] == 200 and result["conversations"] == 20 and result["skipped"] == {}
    assert result["messages_per_s"] > 0 and result["target_per_s"] == 20000
    assert result["progress"][-1][1] == 20000
