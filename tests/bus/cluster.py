"""Throwaway Redis servers for the bus tests: one standalone server, or a 3-shard Redis Cluster.

Each server is a ``redis-server`` child process on a free loopback port with its files in a
temporary directory, started and stopped by PID; the machine's shared Redis is never touched.
``scripts/redis-cluster.sh`` does the same from a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

REDIS_SERVER = shutil.which("redis-server") or "redis-server"
REDIS_CLI = shutil.which("redis-cli") or "redis-cli"


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class RedisServer:
    """One ``redis-server`` process this test run started (standalone or a cluster node)."""

    port: int
    directory: Path
    cluster_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> None:
        args = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / f"redis-{self.port}.log"),
        ]
        if self.cluster_port is not None:
            args += [
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(self.cluster_port),
                "--cluster-config-file",
                str(self.directory / f"nodes-{self.port}.conf"),
                "--cluster-node-timeout",
                "2000",
            ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.wait_ready()

    async def wait_ready(self, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.process.returncode}")
            client = Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
            try:
                if await client.ping():
                    return
            except Exception:
                if loop.time() > deadline:
                    raise
            finally:
                await client.aclose()
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop this process (only this one, by its PID) and reap it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        for _ in range(250):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.02)
        process.kill()
        process.wait()


@dataclass
class RedisClusterProcs:
    """A Redis Cluster of ``len(nodes)`` primaries, no replicas, all slots assigned."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))


async def start_cluster(directory: Path, shards: int = 3) -> RedisClusterProcs:
    ports = free_ports(2 * shards)
    nodes = [RedisServer(port=ports[i], cluster_port=ports[shards + i], directory=directory) for i in range(shards)]
    cluster = RedisClusterProcs(nodes)
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        proc = await asyncio.create_subprocess_exec(
            REDIS_CLI,
            "--cluster",
            "create",
            *(f"127.0.0.1:{node.port}" for node in nodes),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        if proc.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {out.decode(errors='replace')[-2000:]}")
        await _wait_cluster_ok(nodes)
    except BaseException:
        await cluster.stop()
        raise
    return cluster


async def _wait_cluster_ok(nodes: list[RedisServer], timeout: float = 10.0) -> None:
    """Until every node reports ``cluster_state:ok`` and knows every primary."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ready = True
        for node in nodes:
            client = Redis(host="127.0.0.1", port=node.port)
            try:
                info = (await client.execute_command("CLUSTER", "INFO")).decode()
                known = (await client.execute_command("CLUSTER", "NODES")).decode().count("master")
            finally:
                await client.aclose()
            if "cluster_state:ok" not in info or known < len(nodes):
                ready = False
        if ready:
            return
        if loop.time() > deadline:
            raise TimeoutError("the Redis Cluster did not become ready")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def redis_cluster(shards: int = 3) -> AsyncIterator[RedisClusterProcs]:
    with tempfile.TemporaryDirectory(prefix="tipline-redis-cluster-") as tmp:
        cluster = await start_cluster(Path(tmp), shards)
        try:
            yield cluster
        finally:
            await cluster.stop()


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="tipline-redis-") as tmp:
        server = RedisServer(port=free_ports(1)[0], directory=Path(tmp))
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
