"""`tipline dev` stopped with Ctrl-C (the SIGINT a terminal sends to the whole foreground process
group) or with SIGTERM to its process alone (`kill`, `docker stop`, systemd). The server shuts down
gracefully with no error logged, and the anvil node and the embedded PostgreSQL it started stop
with it; the local chain is written to DATA_DIR/chain for the next start."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.helpers import alive


def ctrl_c(pid: int) -> None:
    os.killpg(pid, signal.SIGINT)  # what Ctrl-C in its terminal does


def sigterm(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)  # `kill PID`, `docker stop`: the main process only


@pytest.mark.parametrize("stop", [ctrl_c, sigterm], ids=["ctrl-c", "sigterm"])
def test_stopping_tipline_dev_stops_everything_it_started(stop: Callable[[int], None]) -> None:
    # Short: the embedded PostgreSQL's socket lives in DATA_DIR/pgdata (107-byte limit).
    data_dir = Path(tempfile.mkdtemp(prefix="tl-dev-", dir="/tmp"))
    log_path = data_dir / "dev.log"
    postmaster_pid = data_dir / "pgdata" / "postmaster.pid"
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "PORT": str(port), "WEB_DIST": str(data_dir / "noweb")}
    for key in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "CHAIN_RPC_URL"):
        env.pop(key, None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tipline.cli", "dev"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.3)
        else:
            raise AssertionError(f"tipline dev did not get ready: {log_path.read_text()[-3000:]}")
        found = re.search(r"local chain \S+ \(chain id \d+, pid (\d+)\)", log_path.read_text())
        assert found, "tipline dev started no local chain"
        anvil_pid = int(found.group(1))
        assert postmaster_pid.exists() and alive(anvil_pid)

        stop(proc.pid)
        code = proc.wait(timeout=60)

        text = log_path.read_text()
        errors = [line for line in text.splitlines() if '"level":"error"' in line or "Traceback" in line]
        assert errors == [], errors[:3]
        assert "Application shutdown complete" in text
        assert code in (0, -signal.SIGINT, 128 + signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGTERM), code
        assert (data_dir / "chain" / "state.json").stat().st_size > 0, "the local chain was not kept"
        for _ in range(50):
            if not alive(anvil_pid) and not postmaster_pid.exists():
                break
            time.sleep(0.2)
        assert not alive(anvil_pid), "anvil outlived tipline dev"
        assert not postmaster_pid.exists(), "the embedded PostgreSQL outlived tipline dev"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # A failed run must not leave its PostgreSQL behind on a shared machine.
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(postmaster_pid.read_text().split()[0]), signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)
