"""Graceful shutdown of a real `tipline serve` process: readiness first, in-flight sends
finished and acknowledged, then every socket closed with 1012."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import free_port
from tests.helpers import Ws, create_conversation, signup


@pytest.fixture
async def node(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "ARGON2_PARALLELISM": "1",
        "RATE_LIMITS": "false",
        "EMAIL_VERIFICATION": "false",
        "MAIL_WORKER": "false",
        "SHUTDOWN_GRACE_S": "1.0",
        "LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tipline.cli", "serve"], env=env)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(200):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    yield proc, base
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


async def test_sigterm_drains_then_closes_with_1012(node: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = node
    async with httpx.AsyncClient(base_url=base, timeout=10) as api:
        alice = await signup(api)
        cid = (await create_conversation(api, alice, "group"))["id"]
        ws = await Ws.open(base.replace("http", "ws") + "/ws", alice)
        for i in range(30):
            await ws.send({"type": "send", "conversation_id": cid, "client_msg_id": f"f{i}", "body": f"in flight {i}"})
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        # Readiness turns false while the node still serves.
        ready = None
        for _ in range(40):
            ready = (await api.get("/readyz")).status_code
            if ready == 503:
                break
            await asyncio.sleep(0.02)
        assert ready == 503
        acks: set[str] = set()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frame = await ws.expect(lambda f: f.get("type") in ("ack", "error"), timeout=10)
                assert frame["type"] == "ack", frame
                acks.add(str(frame["client_msg_id"]))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert acks == {f"f{i}" for i in range(30)}  # every send accepted before the close was acked
        assert time.monotonic() - started >= 0.9  # the grace period came first
    # uvicorn re-raises the signal it handled once shut down, so the exit status is SIGTERM's.
    assert proc.wait(15) in (0, -signal.SIGTERM)
