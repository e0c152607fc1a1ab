"""`tipline cluster`: N Tipline nodes on one machine behind HAProxy, on PostgreSQL and Redis.

The supervisor starts what is missing (the embedded PostgreSQL of `tipline dev` unless
DATABASE_URL is set; a redis-server of its own unless REDIS_URL is set, or the 3-shard Redis
Cluster of scripts/redis-cluster.sh with ``--redis-cluster``), migrates once, starts the nodes
as `tipline serve` processes and HAProxy in front of them, restarts a node or the Redis it
started when one dies (with backoff when it keeps dying), and on Ctrl-C (or SIGTERM) stops
every child it started, by PID. See docs/operations.md.

It prints one JSON line when the cluster is ready (``{"event": "cluster_ready", ...}`` with
the load balancer's URL and each node's URL and PID) and one per restart, so scripts and
tests can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tipline.config import Settings

log = logging.getLogger("tipline.cluster")

REPO = Path(__file__).resolve().parents[2]

# A child that dies again soon after a restart waits before the next one, the wait doubling up
# to RESTART_MAX_S, so a child that cannot start (a port taken, a bad setting) does not spin.
# One that ran RESTART_STABLE_S has recovered: its next death restarts it at once.
RESTART_MIN_S = 0.5
RESTART_MAX_S = 10.0
RESTART_STABLE_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def haproxy_maxconn() -> int:
    """Connections HAProxy may hold: two descriptors each, under the open-files limit it can raise
    itself to (the hard limit: 20,000 on many machines, so 9,900), never fewer than 1,000."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    return max(1_000, min(500_000, (hard - 200) // 2))


def haproxy_config(*, port: int, node_ports: list[int], maxconn: int | None = None) -> str:
    """Least connections (sockets are long-lived), /readyz checks every second, and timeouts
    that let an idle WebSocket live as long as the nodes' own idle timeout allows."""
    servers = "\n".join(f"    server node{i + 1} 127.0.0.1:{p} check" for i, p in enumerate(node_ports))
    return f"""global
    # Two descriptors per proxied connection, under the open-files limit (haproxy_maxconn).
    maxconn {maxconn or haproxy_maxconn()}

defaults
    mode http
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 90s
    timeout server 90s
    timeout http-request 10s
    # A WebSocket, once upgraded, is a tunnel: it lives while either side speaks within this.
    timeout tunnel 1h
    timeout client-fin 5s

frontend tipline
    bind 127.0.0.1:{port}
    # As an AWS ALB does: the address the request came from, appended to the X-Forwarded-For
    # it arrived with. The nodes trust that one hop (FORWARDED_TRUSTED_HOPS=1), as behind an ALB.
    acl forwarded req.fhdr(x-forwarded-for) -m found
    http-request set-header X-Forwarded-For "%[req.fhdr(x-forwarded-for)], %[src]" if forwarded
    http-request set-header X-Forwarded-For %[src] unless forwarded
    default_backend nodes

backend nodes
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    # Sockets already open stay when a node fails its check (a Redis blip makes every node
    # unready for a moment); a node that really goes away closes them itself.
    default-server inter 1s fall 2 rise 1
{servers}
"""


def ensure_haproxy() -> str:
    """HAProxy from Debian's packages, installed by scripts/lib.sh when missing."""
    found = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy")
    if found:
        return found
    lib = REPO / "scripts" / "lib.sh"
    subprocess.run(["bash", "-c", f"source {lib} && ensure_haproxy"], check=True)
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with {code}"


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    quick_deaths: int = 0
    died_seen_at: float = 0.0
    restart_at: float | None = None

    def start(self) -> None:
        out = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.started_at = time.monotonic()
        self.restart_at = None

    def schedule_restart(self, now: float) -> float:
        """Decide when this dead child starts again; returns the delay."""
        if now - self.started_at >= RESTART_STABLE_S:
            self.quick_deaths = 0
        delay = 0.0 if self.quick_deaths == 0 else min(RESTART_MAX_S, RESTART_MIN_S * 2 ** (self.quick_deaths - 1))
        self.quick_deaths += 1
        self.died_seen_at = now
        self.restart_at = now + delay
        return delay

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.returncode

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def stop(self, grace: float) -> None:
        """SIGTERM (a node drains: readiness false, 1012 to its sockets), then SIGKILL."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while process.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class Supervisor:
    settings: Settings
    nodes: int
    port: int
    redis_cluster: bool
    workdir: Path
    children: list[Child] = field(default_factory=list)
    node_children: list[Child] = field(default_factory=list)
    redis_cluster_dir: Path | None = None
    # The redis-server this supervisor started (None when REDIS_URL is set or with --redis-cluster).
    redis: Child | None = None
    redis_url: str = ""
    embedded_pg: bool = False
    stopping: bool = False
    _checks: set[asyncio.Task[None]] = field(default_factory=set)

    def _emit(self, event: str, **data: object) -> None:
        print(orjson.dumps({"event": event, **data}).decode(), flush=True)

    async def _database(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        from tipline.storage.db import start_embedded_postgres

        self.embedded_pg = True
        return await asyncio.to_thread(start_embedded_postgres, self.settings.data_dir)

    async def _redis(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        if self.redis_cluster:
            self.redis_cluster_dir = self.workdir / "redis-cluster"
            script = REPO / "scripts" / "redis-cluster.sh"
            await asyncio.to_thread(
                subprocess.run, ["bash", str(script), "start", str(self.redis_cluster_dir)], check=True
            )
            return f"redis://127.0.0.1:{os.environ.get('REDIS_CLUSTER_PORT', '7000')}"
        port = free_port()
        redis = Child(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", str(self.workdir)),
            ],
            dict(os.environ),
            self.workdir / "redis.log",
        )
        redis.start()
        self.children.append(redis)
        self.redis = redis
        return f"redis://127.0.0.1:{port}"

    def _node_env(self, *, port: int, database_url: str, redis_url: str, jwt_secret: str) -> dict[str, str]:
        env = dict(os.environ)
        public = f"http://127.0.0.1:{self.port}"
        env.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "REDIS_CLUSTER": "true" if self.redis_cluster else "false",
                "JWT_SECRET": jwt_secret,
                "PUBLIC_URL": env.get("PUBLIC_URL", public),
                # HAProxy appends the client's address to X-Forwarded-For: that one hop is trusted.
                # (Trusting HAProxy's address instead would also trust a client on loopback.)
                "FORWARDED_TRUSTED_HOPS": "1",
            }
        )
        env.pop("FORWARDED_ALLOW_IPS", None)
        if "ALLOWED_ORIGINS" not in os.environ:
            env["ALLOWED_ORIGINS"] = f"{public},http://localhost:{self.port}"
        return env

    async def start(self, jwt_secret: str) -> None:
        from tipline.storage.migrate import upgrade

        database_url = await self._database()
        redis_url = self.redis_url = await self._redis()
        await self._wait_redis(redis_url)
        node_ports = [free_port() for _ in range(self.nodes)]
        for i, port in enumerate(node_ports):
            node = Child(
                f"node{i + 1}",
                [sys.executable, "-m", "tipline.cli", "serve"],
                self._node_env(port=port, database_url=database_url, redis_url=redis_url, jwt_secret=jwt_secret),
                self.workdir / f"node{i + 1}.log",
            )
            node.start()
            self.node_children.append(node)
        # Nodes touch no table before their first request: migrate while they boot, and let
        # traffic in (HAProxy) only after both.
        await asyncio.to_thread(upgrade, database_url)
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(haproxy_config(port=self.port, node_ports=node_ports))
        haproxy = Child(
            "haproxy", [ensure_haproxy(), "-f", str(cfg), "-db"], dict(os.environ), self.workdir / "haproxy.log"
        )
        await asyncio.gather(
            *(self._wait_ready(f"http://127.0.0.1:{p}", n) for p, n in zip(node_ports, self.node_children, strict=True))
        )
        haproxy.start()
        self.children.append(haproxy)
        await self._wait_ready(f"http://127.0.0.1:{self.port}", haproxy)
        self._emit(
            "cluster_ready",
            url=f"http://127.0.0.1:{self.port}",
            ws_url=f"ws://127.0.0.1:{self.port}/ws",
            redis_url=redis_url,
            redis_cluster=self.redis_cluster,
            nodes=[
                {"name": n.name, "url": f"http://127.0.0.1:{p}", "pid": n.pid}
                for n, p in zip(self.node_children, node_ports, strict=True)
            ],
            logs=str(self.workdir),
        )

    async def _wait_redis(self, url: str) -> None:
        from redis.asyncio import Redis

        for _ in range(200):
            client = Redis.from_url(url, socket_connect_timeout=0.5)
            try:
                if await client.ping():
                    return
            except Exception:  # noqa: S110 - not up yet
                pass
            finally:
                await client.aclose()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"Redis at {url} did not answer")

    async def _wait_ready(self, url: str, child: Child, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
            while loop.time() < deadline:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited; see {child.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{child.name} at {url} not ready within {timeout:.0f}s; see {child.log_path}")

    async def watch(self) -> None:
        """Restart a node or the Redis that died (kill -9, a crash, OOM), as a process manager would.

        The Redis starts again on its port with its settings, empty: the nodes' buses reconnect
        by themselves and send `sync` to their sockets, and nothing Redis held needs keeping
        (docs/operations.md). Any other child that dies (HAProxy) stops the cluster.
        """
        restartable = [*self.node_children, *([self.redis] if self.redis is not None else [])]
        others = [c for c in self.children if c is not self.redis]
        while not self.stopping:
            await asyncio.sleep(0.2)
            for child in restartable:
                if not self.stopping and not child.alive():
                    self._restart(child)
            for child in others:
                if not self.stopping and not child.alive():
                    raise RuntimeError(f"{child.name} exited; see {child.log_path}")

    def _restart(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is None:
            delay = child.schedule_restart(now)
            log.warning(
                "%s (pid %s) %s after %.1f s; restarting it %s",
                child.name,
                child.pid,
                describe_exit(child.exit_code),
                now - child.started_at,
                "now" if delay == 0 else f"in {delay:.1f} s",
            )
        if child.restart_at is not None and now < child.restart_at:
            return
        old_pid, code = child.pid, child.exit_code
        child.start()
        if child is self.redis:
            log.warning("redis restarted as pid %s on %s (empty)", child.pid, self.redis_url)
            self._emit("redis_restarted", pid=child.pid, old_pid=old_pid, exit_code=code, url=self.redis_url)
            # The nodes' buses are down until this Redis answers; say when it does.
            check = asyncio.create_task(self._redis_back(child, since=child.died_seen_at))
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)
        else:
            self._emit("node_restarted", name=child.name, pid=child.pid, exit_code=code)

    async def _redis_back(self, redis: Child, *, since: float) -> None:
        pid = redis.pid
        try:
            await self._wait_redis(self.redis_url)
        except RuntimeError:
            log.warning("redis (pid %s) does not answer; see %s", pid, redis.log_path)
            return
        if redis.pid == pid and redis.alive():
            outage_s = time.monotonic() - since
            log.warning("redis (pid %s) answers again, %.1f s after its exit was seen", pid, outage_s)
            self._emit("redis_ready", pid=pid, url=self.redis_url, outage_s=round(outage_s, 3))

    async def stop(self) -> None:
        self.stopping = True
        for check in list(self._checks):
            check.cancel()
        await asyncio.gather(*(node.stop(15.0) for node in self.node_children))
        for child in reversed(self.children):
            await child.stop(5.0)
        if self.redis_cluster_dir is not None:
            script = REPO / "scripts" / "redis-cluster.sh"
            await asyncio.to_thread(
                subprocess.run, ["bash", str(script), "stop", str(self.redis_cluster_dir)], check=False
            )
        if self.embedded_pg:
            from tipline.storage.db import stop_embedded_postgres

            await asyncio.to_thread(stop_embedded_postgres)


async def _main(sup: Supervisor, jwt_secret: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sup.start(jwt_secret)
        print(f"Tipline cluster of {sup.nodes} nodes at http://127.0.0.1:{sup.port} (Ctrl-C stops it)", flush=True)
        watcher: asyncio.Task[Any] = asyncio.create_task(sup.watch())
        stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (watcher, stopper):
            task.cancel()
        for task in done:
            if task is watcher and not task.cancelled() and task.exception() is not None:
                log.error("%s", task.exception())
    finally:
        await sup.stop()
        print("cluster stopped", flush=True)


def run_cluster(settings: Settings, *, nodes: int, port: int, redis_cluster: bool, jwt_secret: str) -> None:
    if nodes < 1:
        sys.exit("--nodes must be at least 1")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cluster-", dir=settings.data_dir.resolve()))
    sup = Supervisor(settings=settings, nodes=nodes, port=port, redis_cluster=redis_cluster, workdir=workdir)
    asyncio.run(_main(sup, jwt_secret))
