"""A Tipline node as a process of its own, on a database of its own, for tests that cannot share
the suite's event loop with the server (browsers, fuzzers, floods).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_URL, _with_db, free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class NodeProcess:
    base_url: str
    ws_url: str
    database_url: str
    log: Path
    proc: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def node_process(command: list[str], log: Path, *, prefix: str, **env: str) -> AsyncIterator[NodeProcess]:
    """Start ``command`` with a fresh database and test-cheap settings; wait for /readyz; stop it by its PID."""
    name = f"tipline_{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    await _admin(f'CREATE DATABASE "{name}"')
    database_url = _with_db(ADMIN_URL, name)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": base_url,
        "ALLOWED_ORIGINS": base_url,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "ARGON2_PARALLELISM": "1",
        # Tests sign up and send far more than a person would, all from one address.
        "RATE_LIMITS": "false",
        # Users sign up and are signed in at once; the verification flow has tests of its own.
        "EMAIL_VERIFICATION": "false",
        # The suite's database, so its outbox, is shared: only the mail tests' servers send from it.
        "MAIL_WORKER": "false",
        # Links in the suite's messages are not fetched: the link preview tests turn it on.
        "LINK_PREVIEWS": "false",
        "LOG_LEVEL": "warning",
        "MEDIA_DIR": str(log.parent / "media"),
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    node = NodeProcess(base_url, f"ws://127.0.0.1:{port}/ws", database_url, log, proc)
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"the Tipline node exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"the Tipline node did not become ready:\n{log.read_text()[-4000:]}")
                await asyncio.sleep(0.1)
        yield node
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
