"""Launch a local anvil node (npm ``@foundry-rs/anvil``, installed by scripts/lib.sh) on loopback.

Used by ``tipline dev`` and by the tests. anvil picks a free port itself (``--port 0``) and
prints it, so two launches never race for a port; it is stopped by its PID.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# anvil's well-known development accounts (mnemonic "test test ... junk"): unlocked on the
# node, funded with 10,000 ETH each. Only ever meaningful on a local chain.
DEV_ACCOUNTS = [
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
    "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
    "0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc",
    "0x976ea74026e726554db657fa54763abd0c3a0aa9",
    "0x14dc79964da2c08b23698b3d3cc7ca32193d9955",
    "0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f",
    "0xa0ee7a142d267c1f36714e4a8f75612f20a79720",
]
DEV_CHAIN_ID = 31337
PR_SET_PDEATHSIG = 1
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def find_anvil() -> str:
    """The anvil binary: the platform package npm installed under contracts/, else PATH."""
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    rel = Path("contracts/node_modules/@foundry-rs") / f"anvil-{platform.system().lower()}-{arch}" / "bin" / "anvil"
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (root / rel).is_file():
            return str(root / rel)
    found = shutil.which("anvil")
    if found:
        return found
    raise FileNotFoundError("anvil not found: run `cd contracts && npm ci` (scripts/lib.sh does it)")


@dataclass
class Anvil:
    process: subprocess.Popen[bytes]
    url: str
    chain_id: int
    workdir: Path
    state: Path | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "anvil.log"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                # A node with a state file writes it out on SIGTERM: give it the time to.
                self.process.wait(5 if self.state is None else 60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, anvil gets SIGTERM when Tipline's process ends,
    however it ends (uvicorn re-raises the stop signal after shutdown, skipping ``finally``)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_anvil(
    *,
    chain_id: int = DEV_CHAIN_ID,
    block_time: float | None = None,
    state: Path | None = None,
    timeout: float = 10.0,
) -> Anvil:
    """Start anvil on 127.0.0.1 at a port it chooses; returns once it answers JSON-RPC.

    With ``state``, the node starts from that file when it exists (blocks, receipts, logs and
    accounts, with the same hashes) and writes its chain back to it when it stops, so a chain
    outlives the process that runs it.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tipline-anvil-"))
    args = [find_anvil(), "--host", "127.0.0.1", "--port", "0", "--chain-id", str(chain_id)]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    if state is not None:
        args += ["--state", str(state.resolve())]
    log = (workdir / "anvil.log").open("wb")
    # A session of its own: a Ctrl-C in Tipline's terminal stops Tipline, which stops anvil
    # after its shutdown, instead of killing the chain under a watcher still running.
    proc = subprocess.Popen(  # noqa: S603
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + timeout
    pattern = re.compile(rb"Listening on 127\.0\.0\.1:(\d+)")
    while time.monotonic() < deadline:
        match = pattern.search((workdir / "anvil.log").read_bytes())
        if match:
            return Anvil(proc, f"http://127.0.0.1:{int(match.group(1))}", chain_id, workdir, state)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    output = (workdir / "anvil.log").read_text(errors="replace")[-2000:]
    Anvil(proc, "", chain_id, workdir, state).stop()
    raise RuntimeError(f"anvil did not start: {output}")
