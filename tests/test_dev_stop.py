"""`tipline dev` stopped with Ctrl-C: the SIGINT a terminal sends to the whole foreground
process group. The server shuts down gracefully with no error logged, and the anvil node and the
embedded PostgreSQL it started stop with it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.helpers import alive


def test_ctrl_c_stops_tipline_dev_and_everything_it_started() -> None:
    # Short: the embedded PostgreSQL's socket lives in DATA_DIR/pgdata (107-byte limit).
    data_dir = Path(tempfile.mkdtemp(prefix="tl-dev-", dir="/tmp"))
    log_path = data_dir / "dev.log"
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
        postmaster = data_dir / "pgdata" / "postmaster.pid"
        assert postmaster.exists() and alive(anvil_pid)

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        code = proc.wait(timeout=60)

        text = log_path.read_text()
        errors = [line for line in text.splitlines() if '"level":"error"' in line or "Traceback" in line]
        assert errors == [], errors[:3]
        assert "Application shutdown complete" in text
        assert code in (0, -signal.SIGINT, 128 + signal.SIGINT), code
        for _ in range(50):
            if not alive(anvil_pid) and not postmaster.exists():
                break
            time.sleep(0.2)
        assert not alive(anvil_pid), "anvil outlived tipline dev"
        assert not postmaster.exists(), "the embedded PostgreSQL outlived tipline dev"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
