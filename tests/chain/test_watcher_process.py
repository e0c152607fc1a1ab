"""`tipline watcher`: the chain watcher as a process of its own (the AWS deployment runs it as a
service). It takes the watcher lock, reports the head and its lag in a JSON log line, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import orjson

from tests.chain_fixtures import Deployment
from tipline.chain.anvil import Anvil


async def test_the_watcher_runs_as_its_own_process(anvil: Anvil, deployment: Deployment, database_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CHAIN_RPC_URL": anvil.url,
        "CHAIN_ID": str(anvil.chain_id),
        "TIP_CONTRACT_ADDRESS": deployment.jar,
        "CHAIN_POLL_INTERVAL_S": "0.2",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tipline.cli", "watcher"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 30
        loop = asyncio.get_running_loop()
        while time.monotonic() < deadline and not any("watcher_lag_blocks" in e for e in seen):
            line = await loop.run_in_executor(None, proc.stdout.readline)
            if not line:
                break
            if line.startswith(b"{"):
                seen.append(orjson.loads(line))
        messages = [str(e.get("msg")) for e in seen]
        assert any(m.startswith("chain watcher active") for m in messages), messages
        lag = next(e for e in seen if "watcher_lag_blocks" in e)
        assert lag["watcher_lag_blocks"] == 0 and isinstance(lag["chain_head"], int)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0


def test_the_watcher_needs_a_chain() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAIN_", "TIP_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tipline.cli", "watcher"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "CHAIN_RPC_URL" in done.stderr
