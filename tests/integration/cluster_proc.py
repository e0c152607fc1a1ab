"""A real `tipline cluster` (N node processes behind HAProxy, with Redis) for the multi-node and
chaos tests, on a database of its own (created here, dropped at the end: the suite's per-test
table reset must not renumber conversations under a live cache)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import psutil

from tests.bus.redis_helpers import unique_prefix
from tests.conftest import ADMIN_URL, _with_db, free_port

FAST = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8192", "ARGON2_PARALLELISM": "1"}


@dataclass
class Node:
    name: str
    url: str
    pid: int

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"


@dataclass
class ClusterProc:
    process: subprocess.Popen[bytes]
    url: str
    ws_url: str
    redis_url: str
    nodes: list[Node]
    database_url: str
    bus_prefix: str
    env: dict[str, str] = field(default_factory=dict)  # the nodes' settings (for a node started apart)
    events: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def read_events(self) -> None:
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, self.process.stdout.readline):
            if line.startswith(b"{"):
                event = orjson.loads(line)
                self.events.append(event)
                if event["event"] == "node_restarted":
                    node = next(n for n in self.nodes if n.name == event["name"])
                    node.pid = event["pid"]

    def kill9(self, index: int) -> int:
        """kill -9 one node (the supervisor restarts it, like a process manager would)."""
        pid = self.nodes[index].pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def children(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.process.pid).children(recursive=True)
        return []


async def create_database(admin_url: str = ADMIN_URL) -> str:
    name = f"tipline_cluster_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _with_db(admin_url, name)


async def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def running_cluster(
    nodes: int = 3,
    *,
    redis_url: str | None = None,
    redis_cluster: bool = False,
    admin_url: str = ADMIN_URL,
    **env: str,
) -> AsyncIterator[ClusterProc]:
    """`tipline cluster --nodes N` as a child process; Ctrl-C (SIGINT) at the end, checked."""
    database_url = await create_database(admin_url)
    port = free_port()
    prefix = unique_prefix()
    with tempfile.TemporaryDirectory(prefix="tlcluster-") as data_dir:
        full_env = {
            **os.environ,
            **FAST,
            "DATA_DIR": data_dir,
            "DATABASE_URL": database_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "BUS_CHANNEL_PREFIX": prefix,
            "LOG_LEVEL": "warning",
            "SHUTDOWN_GRACE_S": "0.3",
            "EMAIL_VERIFICATION": "false",
            "MAIL_WORKER": "false",
            "RATE_SIGNUP_PER_IP": "100000/60",
            "RATE_SIGNIN_PER_IP": "100000/60",
            "RATE_CONNECT_PER_IP": "100000/60",
            "RATE_CONNECT_PER_USER": "100000/60",
            "RATE_SEND_PER_IP": "100000/10",
            "RATE_SEND_PER_USER": "100000/10",
            **env,
        }
        full_env.pop("REDIS_URL", None)
        if redis_url is not None:
            full_env["REDIS_URL"] = redis_url
        args = [sys.executable, "-m", "tipline.cli", "cluster", "--nodes", str(nodes), "--port", str(port)]
        if redis_cluster:
            args.append("--redis-cluster")
        process = subprocess.Popen(args, env=full_env, stdout=subprocess.PIPE)
        cluster: ClusterProc | None = None
        try:
            assert process.stdout is not None
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(90):
                while True:
                    line = await loop.run_in_executor(None, process.stdout.readline)
                    if not line:
                        raise RuntimeError("tipline cluster exited before it was ready")
                    if line.startswith(b'{"event":"cluster_ready"'):
                        ready = orjson.loads(line)
                        break
            cluster = ClusterProc(
                process=process,
                url=ready["url"],
                ws_url=ready["ws_url"],
                redis_url=ready["redis_url"],
                nodes=[Node(n["name"], n["url"], n["pid"]) for n in ready["nodes"]],
                database_url=database_url,
                bus_prefix=prefix,
                env=full_env,
            )
            cluster._reader = asyncio.create_task(cluster.read_events())
            yield cluster
        finally:
            children = cluster.children() if cluster is not None else []
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(asyncio.to_thread(process.wait), 40)
                except TimeoutError:
                    process.kill()
                    for child in children:
                        with contextlib.suppress(psutil.Error):
                            child.kill()
            if cluster is not None and cluster._reader is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(cluster._reader, 5)
            with contextlib.suppress(Exception):
                await drop_database(database_url, admin_url)
        # Ctrl-C stopped every child the cluster started.
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
