"""Running a benchmark's short form as a subprocess, stopped with SIGTERM (so that it stops what it
started) if it takes too long."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, args: list[str], *, timeout: float) -> tuple[int, str, str]:
    """``python bench/<script> <args>``: the exit code, stdout and stderr.

    ``timeout`` guards against a hung run, not a slow one: give it several times the run's usual
    length (on a busy 2-core machine a server alone can take 25 s to start)."""
    cmd = [sys.executable, str(ROOT / "bench" / script), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the run then stops the servers, Redis and PostgreSQL it started.
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        raise AssertionError(f"{script} took over {timeout:.0f} s: {stderr[-3000:]}") from None
    return proc.returncode, stdout, stderr
