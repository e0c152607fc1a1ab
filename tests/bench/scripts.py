"""Running a benchmark script from a test."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench_script(script: str, args: list[str], *, timeout: float) -> tuple[int, str, str]:
    """`python bench/<script> <args>` from the repository root; returns (exit code, stdout, stderr).

    Past ``timeout`` the script gets SIGTERM, not SIGKILL, so that it stops the servers it started
    and drops its databases, and the test fails.
    """
    cmd = [sys.executable, str(ROOT / "bench" / script), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        raise AssertionError(f"bench/{script} took over {timeout:.0f} s: {stderr[-3000:]}") from None
    return proc.returncode, stdout, stderr
