"""Shared pieces of the benchmarks: servers as subprocesses, a database of their own, account
setup over HTTP, and a WebSocket client fast enough to count 100k+ events/s on one core.

Everything here talks to 127.0.0.1 only. Processes are started and stopped by PID; nothing
is killed by name.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TMP = BENCH / "results" / "tmp"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
WS_IMPLS = ("websockets-sansio", "websockets", "wsproto")
ARGON2_FAST = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8192", "ARGON2_PARALLELISM": "1"}
ARGON2_NOTE = (
    "argon2id lowered to t=1, 8 MiB, p=1 so that signing up the bench users is quick, and rate limits "
    "off (RATE_LIMITS=false: one client IP opens every socket): these benchmarks measure messaging, "
    "not password hashing or abuse limits"
)

_T0 = time.monotonic()


def log(*parts: object) -> None:
    """Progress goes to stderr; stdout ends with the one JSON result."""
    print(f"[{time.monotonic() - _T0:7.1f}s]", *parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def run_facts() -> dict[str, Any]:
    import uvicorn
    import websockets

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "uvicorn": uvicorn.__version__,
        "websockets": websockets.__version__,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        **_git_facts(),
    }


def _git_facts() -> dict[str, Any]:
    """Which code was measured: the commit, and whether src/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "src_dirty": None}
    return {"git_commit": commit or None, "src_dirty": bool(dirty)}


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def install_sigterm_handler() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop servers and drop databases."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def write_result(result: dict[str, Any], out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def publish(result: dict[str, Any], out_dir: Path, name: str, chart: Callable[[dict[str, Any], Path], None]) -> None:
    """Every benchmark's ending: the JSON and the PNG in ``out_dir``, and the JSON last on stdout."""
    path = write_result(result, out_dir, name)
    chart(result, out_dir / f"{name}.png")
    log(f"wrote {path} and {path.with_suffix('.png')}")
    print(json.dumps(result, separators=(",", ":")))


# --- database ---------------------------------------------------------------------------------


def check_local(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOCAL_HOSTS:
        sys.exit(f"refusing a non-local database host {host!r}: the benchmarks talk to 127.0.0.1 only")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@dataclass
class BenchDatabase:
    """A database of the benchmark's own on an existing PostgreSQL, dropped at the end."""

    admin_url: str
    name: str = field(default_factory=lambda: f"tipline_bench_{os.getpid()}_{secrets.token_hex(2)}")
    created: bool = False

    @property
    def url(self) -> str:
        return with_database(self.admin_url, self.name)

    async def create(self) -> str:
        check_local(self.admin_url)
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
            self.created = True
        finally:
            await conn.close()
        log(f"created database {self.name}")
        return self.url

    async def drop(self) -> None:
        if not self.created:
            return
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False
        finally:
            await conn.close()
        log(f"dropped database {self.name}")


def pg_backends_cpu_seconds(database: str) -> float:
    """CPU used so far by the PostgreSQL backends connected to ``database`` (of the local server)."""
    marker = f" {database} "
    total = 0.0
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        cmd = " ".join(p.info["cmdline"] or []) + " "
        if p.info["name"] == "postgres" and marker in cmd and p.info["cpu_times"] is not None:
            total += p.info["cpu_times"].user + p.info["cpu_times"].system
    return total


# --- servers ----------------------------------------------------------------------------------


class CpuMeter(Protocol):
    """Anything whose CPU use can be read: a server process, or a set of processes."""

    def cpu_seconds(self) -> float: ...


class ServerProcess:
    """A server started as a subprocess (usually through `uv run`), stopped by PID.

    ``uv run`` spawns the Python process as its child, so memory and CPU are read from the
    Python process (the child), not from uv.
    """

    def __init__(
        self, name: str, cmd: list[str], *, env: dict[str, str], port: int, health_path: str = "/healthz"
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.port = port
        self.health_path = health_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.server: psutil.Process | None = None
        self.extra: list[psutil.Process] = []  # processes it started that outlive it (embedded PostgreSQL)
        TMP.mkdir(parents=True, exist_ok=True)
        self.log_path = TMP / f"{name}-{os.getpid()}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 90.0, cpu: int | None = None) -> None:
        log(f"starting {self.name}: {' '.join(self.cmd)} (port {self.port})")
        with self.log_path.open("wb") as fh:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}{self.health_path}").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not healthy after {timeout:.0f}s:\n{self.log_tail()}")
                time.sleep(0.2)
        self.server = self._find_server_process()
        if cpu is not None:
            with contextlib.suppress(OSError, psutil.Error):
                self.server.cpu_affinity([cpu])
        log(f"{self.name} up (pid {self.server.pid})")

    def _find_server_process(self) -> psutil.Process:
        assert self.proc is not None
        parent = psutil.Process(self.proc.pid)
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "python" in Path(child.exe()).name:
                    return child
        return parent  # the command exec'd into Python itself

    def track(self, process: psutil.Process) -> None:
        self.extra.append(process)

    def rss(self) -> int:
        assert self.server is not None
        return int(self.server.memory_info().rss)

    def cpu_seconds(self) -> float:
        assert self.server is not None
        t = self.server.cpu_times()
        return float(t.user + t.system)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, *, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        procs: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        if self.server is not None and self.server.is_running():
            with contextlib.suppress(psutil.Error):
                self.server.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown
        elif self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {timeout:.0f}s: killing pid {self.proc.pid} and its children")
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            self.proc.kill()
            self.proc.wait(timeout=5)
        # Whatever it started and left behind, by PID (is_running() also checks the start time,
        # so a recycled PID is never signalled).
        leftovers = [p for p in [*procs, *self.extra] if p.is_running()]
        for p in leftovers:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _gone, alive = psutil.wait_procs(leftovers, timeout=10)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        log(f"{self.name} stopped (exit {self.proc.returncode})")
        self.proc = None


def redis_bus_env(redis_url: str, prefix: str) -> dict[str, str]:
    """What several `tipline serve` nodes on one database need: a Redis as their bus (and
    presence and cache), a channel prefix of their own, and small pools (several pools on one
    PostgreSQL: keep them within its connection limit)."""
    return {
        "REDIS_URL": redis_url,
        "BUS_CHANNEL_PREFIX": f"{prefix}{secrets.token_hex(3)}:",
        "DB_POOL_SIZE": "5",
        "DB_MAX_OVERFLOW": "5",
    }


@dataclass
class TiplineServer:
    """`uv run tipline serve --migrate` on a fresh database, or `tipline dev` (embedded) in a temp dir.

    ``nodes`` > 1 starts that many `tipline serve` processes on the same database (give them a
    bus in ``extra_env``, e.g. REDIS_URL); ``process`` is the first, ``processes`` all of them.
    ``stop_nodes()`` stops the processes and keeps the database (and the JWT secret, so tokens
    stay valid) for a later ``start()`` with other settings; ``stop()`` also drops it.
    """

    ws_impl: str
    admin_url: str
    embedded: bool = False
    cpu: int | None = None
    db: BenchDatabase | None = None
    data_dir: Path | None = None
    process: ServerProcess | None = None
    db_url: str | None = None
    nodes: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[ServerProcess] = field(default_factory=list)
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48)[:64])
    # What runs in place of the `tipline` command (e.g. bench/memory/serve.py, which wraps it).
    launcher: list[str] = field(default_factory=lambda: ["tipline"])

    async def start(self) -> ServerProcess:
        assert self.nodes == 1 or not self.embedded, "several nodes share one external PostgreSQL"
        ports = [free_port() for _ in range(self.nodes)]
        origins = ",".join(f"http://127.0.0.1:{p}" for p in ports)
        env = dict(os.environ)
        for key in ("DATABASE_URL", "DATA_DIR", "JWT_SECRET"):
            env.pop(key, None)
        env.update(ARGON2_FAST)
        env.update(
            {
                "JWT_SECRET": self.jwt_secret,
                "HOST": "127.0.0.1",
                "WS_IMPL": self.ws_impl,
                "LOG_LEVEL": "warning",
                "ALLOWED_ORIGINS": origins,
                "DB_POOL_SIZE": "20",
                # The benchmarks measure throughput: one client IP opens every socket and sends
                # every message, far past the per-IP and per-user limits meant for abuse.
                "RATE_LIMITS": "false",
                # Benchmark users sign up and are signed in at once, without a mail round trip.
                "EMAIL_VERIFICATION": "false",
            }
        )
        env.update(self.extra_env)
        if self.embedded:
            self.data_dir = Path(tempfile.mkdtemp(prefix="tlbench-"))
            env["DATA_DIR"] = str(self.data_dir)
            cmd = ["uv", "run", "--no-sync", *self.launcher, "dev"]
        else:
            if self.db is None:
                self.db = BenchDatabase(self.admin_url)
                await self.db.create()
            env["DATABASE_URL"] = self.db_url = self.db.url
            cmd = ["uv", "run", "--no-sync", *self.launcher, "serve", "--migrate"]
        suffix = "" if self.nodes == 1 else "-node{}"
        self.processes = []
        for i, port in enumerate(ports):
            node_env = {**env, "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"}
            node_cmd = cmd if i == 0 else [c for c in cmd if c != "--migrate"]  # the first node migrates
            self.processes.append(
                ServerProcess(f"tipline-{self.ws_impl}{suffix.format(i + 1)}", node_cmd, env=node_env, port=port)
            )
        self.process = self.processes[0]
        await asyncio.to_thread(self.process.start, cpu=self.cpu)
        if self.embedded:
            self._track_embedded_postgres()
        await asyncio.gather(*(asyncio.to_thread(p.start, cpu=self.cpu) for p in self.processes[1:]))
        return self.process

    def _track_embedded_postgres(self) -> None:
        assert self.data_dir is not None and self.process is not None
        pidfile = self.data_dir / "pgdata" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            lines = pidfile.read_text().splitlines()
            self.process.track(psutil.Process(int(lines[0])))
            socket_dir = lines[4].strip() if len(lines) > 4 else ""
            self.db_url = (
                f"postgresql://postgres@/tipline?host={socket_dir}"
                if socket_dir
                else f"postgresql://postgres@127.0.0.1:{int(lines[3])}/tipline"
            )

    def pg_cpu_seconds(self) -> float | None:
        """CPU used so far by the PostgreSQL backends serving this bench's database."""
        if self.db is not None:
            return pg_backends_cpu_seconds(self.db.name)
        if self.process is not None and self.process.extra:
            # Embedded: the whole PostgreSQL of the temp data dir is ours (postmaster and children).
            total = 0.0
            postmaster = self.process.extra[0]
            with contextlib.suppress(psutil.Error):
                for p in [postmaster, *postmaster.children()]:
                    with contextlib.suppress(psutil.Error):
                        t = p.cpu_times()
                        total += t.user + t.system
            return total
        return None

    async def stop_nodes(self) -> None:
        """Stop every process (by PID); the database stays."""
        processes = self.processes or ([self.process] if self.process is not None else [])
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in processes), return_exceptions=True)
        for p in processes:
            if p.proc is not None:  # stop() raised before it was done: kill by PID
                with contextlib.suppress(OSError):
                    p.proc.kill()
        self.process, self.processes = None, []

    async def stop(self) -> None:
        try:
            await self.stop_nodes()
        finally:
            if self.db is not None:
                await self.db.drop()
            if self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)


# --- accounts and conversations over HTTP ------------------------------------------------------


@dataclass
class User:
    id: int
    token: str
    handle: str


async def sign_up_users(base_url: str, n: int, *, concurrency: int = 8, prefix: str = "b") -> list[User]:
    run = secrets.token_hex(3)
    users: list[User | None] = [None] * n
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60.0, limits=limits) as client:

        async def one(i: int) -> None:
            handle = f"{prefix}{i}_{run}"
            body = {
                "email": f"{handle}@bench.example.com",
                "password": secrets.token_urlsafe(18),
                "handle": handle,
                "display_name": f"Bench {i}",
            }
            async with sem:
                r = await client.post("/auth/signup", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"signup failed: {r.status_code} {r.text[:300]}")
            data = r.json()
            users[i] = User(id=int(data["user"]["id"]), token=data["access_token"], handle=handle)

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        log(f"signed up {n} users in {time.monotonic() - t0:.1f}s")
    return [u for u in users if u is not None]


async def create_group(
    base_url: str, owner: User, members: Sequence[User], *, name: str = "bench", invite_concurrency: int = 1
) -> tuple[int, dict[str, float]]:
    """A group with every member: up to 500 ids in the create call, the rest invited one by one,
    or ``invite_concurrency`` invite requests at a time (each still one `POST .../members`).

    Returns the conversation id and how long each step took.
    """
    others = [u.id for u in members if u.id != owner.id]
    first, rest = others[:500], others[500:]
    headers = {"Authorization": f"Bearer {owner.token}"}
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=120.0, headers=headers) as client:
        t0 = time.monotonic()
        r = await client.post("/conversations", json={"kind": "group", "name": name, "member_ids": first})
        if r.status_code != 201:
            raise RuntimeError(f"create conversation failed: {r.status_code} {r.text[:300]}")
        cid = int(r.json()["id"])
        t1 = time.monotonic()
        invite_s: list[float] = []
        # Invites lock the conversation row, so they commit one at a time anyway; several in
        # flight only overlap what surrounds the commit (HTTP, auth, the round trips).
        sem = asyncio.Semaphore(max(1, invite_concurrency))

        async def invite(uid: int) -> None:
            async with sem:
                t = time.monotonic()
                resp = await client.post(f"/conversations/{cid}/members", json={"user_id": uid})
                if resp.status_code != 201:
                    raise RuntimeError(f"invite failed: {resp.status_code} {resp.text[:300]}")
                invite_s.append(time.monotonic() - t)

        if invite_concurrency <= 1:
            for uid in rest:
                await invite(uid)
        else:
            await asyncio.gather(*(invite(uid) for uid in rest))
        t2 = time.monotonic()
    timings = {
        "create_with_members": len(first),
        "create_s": round(t1 - t0, 2),
        "invites": len(rest),
        "invites_s": round(t2 - t1, 2),
        "first_invite_ms": round(1000 * invite_s[0], 1) if invite_s else None,
        "last_invite_ms": round(1000 * invite_s[-1], 1) if invite_s else None,
        "first_50_invites_mean_ms": round(1000 * sum(invite_s[:50]) / len(invite_s[:50]), 1) if invite_s else None,
        "last_50_invites_mean_ms": round(1000 * sum(invite_s[-50:]) / len(invite_s[-50:]), 1) if invite_s else None,
    }
    if invite_concurrency > 1:
        timings["invite_concurrency"] = invite_concurrency
    return cid, timings


# --- a minimal, fast WebSocket client --------------------------------------------------------------

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MARK = b'"message.created"'  # one per message event, inside a batch frame or alone
TS_RE = re.compile(rb'"t=(\d+)')  # the send timestamp at the start of every bench message body
TextSink = Callable[["WSClient", bytes, int, int, int], None]  # (client, buffer, start, end, now_ns)


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 requires clients to mask)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = secrets.token_bytes(4)
    if not n:
        return header + mask
    key = (mask * ((n + 3) // 4))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")
    return header + mask + masked


class WSClient(asyncio.Protocol):
    """Handshake, then walk frame headers and count message events without decoding JSON.

    Every text frame is counted with ``bytes.count`` of the ``"message.created"`` marker, so
    events coalesced into one ``batch`` frame count one by one. A ``sink`` (set for latency
    sampling or for senders) sees the raw frame bytes too. Subclasses for other protocols set
    ``mark`` to what occurs once per delivered message in their frames.
    """

    mark: bytes = MARK

    def __init__(self, index: int) -> None:
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._head = b""
        self._key = b""
        self._rest = b""
        self._frag: bytearray | None = None
        self.events = 0
        self.frames = 0
        self.bytes = 0
        self.sink: TextSink | None = None
        self.close_code: int | None = None
        self.lost = False
        self.last_ping = time.monotonic()
        self.frames_before_ready = 0
        self.first_before_ready: bytes | None = None

    # -- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transport does not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"connection lost during handshake: {exc}"))
        elif self.handshake.exception() is None and not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before ready (close {self.close_code})"))

    def send_handshake(self, host: str, port: int, path: str, subprotocols: Iterable[str], origin: str | None) -> None:
        assert self.transport is not None
        self._key = base64.b64encode(secrets.token_bytes(16))
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        if origin:
            lines.append(f"Origin: {origin}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send_text(self, payload: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(client_frame(payload))

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            with contextlib.suppress(Exception):
                self.transport.write(client_frame((1000).to_bytes(2, "big"), opcode=0x8))
            self.transport.close()

    # -- receiving -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self._head[:end], self._head[end + 4 :]
            self._head = b""
            status = head.split(b"\r\n", 1)[0]
            accept = base64.b64encode(hashlib.sha1(self._key + WS_GUID).digest())  # SHA-1 is what RFC 6455 specifies
            if b" 101 " not in status + b" " or accept not in head:
                self.handshake.set_exception(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
                if self.transport is not None:
                    self.transport.close()
                return
            self.handshake.set_result(None)
            if not data:
                return
        if self._rest:
            data = self._rest + data
        n = len(data)
        self.bytes += n
        pos = 0
        events = 0
        frames = 0
        sink = self.sink
        mark = self.mark
        now = time.time_ns() if sink is not None else 0
        while n - pos >= 2:
            length = data[pos + 1] & 0x7F
            if length < 126:
                start = pos + 2
            elif length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            else:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > n:
                break
            b0 = data[pos]
            if b0 == 0x81 and self._frag is None:  # a whole text frame: the hot path
                frames += 1
                events += data.count(mark, start, end)
                if sink is not None:
                    sink(self, data, start, end, now)
                elif not self.ready.done():
                    self._before_ready(data[start:end])
            else:
                self._other_frame(b0, data[start:end])
            pos = end
        self._rest = data[pos:] if pos < n else b""
        self.events += events
        self.frames += frames

    def _before_ready(self, payload: bytes) -> None:
        """The protocol promises `ready` first; count (and skip) anything that comes before it."""
        if b'"type":"ready"' in payload:
            self.ready.set_result(payload)
        else:
            self.frames_before_ready += 1
            if self.first_before_ready is None:
                self.first_before_ready = payload[:200]

    def _other_frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        fin = bool(b0 & 0x80)
        if opcode in (0x1, 0x0):  # fragmented text
            if self._frag is None:
                self._frag = bytearray()
            self._frag += payload
            if fin:
                whole = bytes(self._frag)
                self._frag = None
                self.frames += 1
                self.events += whole.count(self.mark)
                if self.sink is not None:
                    self.sink(self, whole, 0, len(whole), time.time_ns())
                elif not self.ready.done():
                    self._before_ready(whole)
        elif opcode == 0x9:  # ping: answer with the same payload
            if self.transport is not None and not self.lost:
                self.transport.write(client_frame(payload, opcode=0xA))
        elif opcode == 0x8:  # close
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.transport is not None and not self.lost:
                with contextlib.suppress(Exception):
                    self.transport.write(client_frame(payload[:2], opcode=0x8))
                self.transport.close()


async def connect_ws(
    index: int,
    port: int,
    *,
    subprotocols: Sequence[str],
    origin: str | None,
    path: str = "/ws",
    timeout: float = 30.0,
    source: str | None = None,
) -> WSClient:
    """``source``: a loopback address to connect from (127.0.0.x), each with its own ephemeral ports."""
    loop = asyncio.get_running_loop()
    local_addr = (source, 0) if source is not None else None
    _transport, client = await loop.create_connection(lambda: WSClient(index), "127.0.0.1", port, local_addr=local_addr)
    client.send_handshake("127.0.0.1", port, path, subprotocols, origin)
    await asyncio.wait_for(client.handshake, timeout)
    await asyncio.wait_for(client.ready, timeout)
    return client


async def connect_many(
    port: int,
    tokens: Sequence[str | None],
    *,
    origin: str | None,
    concurrency: int = 50,
    into: list[WSClient] | None = None,
    sources: Callable[[int], str | None] | None = None,
    timeout: float = 30.0,
) -> list[WSClient]:
    """Connect one socket per token (None: no auth subprotocol), appending each to ``into`` as
    it is ready; returns them in token order. ``sources(i)``: the source address of socket i."""
    sem = asyncio.Semaphore(concurrency)
    into = [] if into is None else into

    async def one(i: int, token: str | None) -> WSClient:
        protos = ["tipline.v1"] + ([f"tipline.auth.{token}"] if token else [])
        async with sem:
            source = sources(i) if sources is not None else None
            client = await connect_ws(i, port, subprotocols=protos, origin=origin, source=source, timeout=timeout)
        into.append(client)
        return client

    t0 = time.monotonic()
    clients = await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    log(f"connected {len(clients)} WebSockets in {time.monotonic() - t0:.1f}s")
    early = [c for c in clients if c.frames_before_ready]
    if early:
        log(
            f"{len(early)} sockets got {sum(c.frames_before_ready for c in early)} frames before `ready`, "
            f"e.g. {early[0].first_before_ready!r}"
        )
    return list(clients)


async def wait_quiet(
    clients: Sequence[WSClient], *, quiet_s: float = 1.0, timeout: float = 60.0, what: str = "bytes"
) -> float:
    """Wait until no client has received anything for ``quiet_s``; returns the time waited.

    ``what`` is the counter watched: ``bytes`` (anything at all) or ``events`` (message events
    only, so that heartbeat pongs do not keep it busy).
    """
    t0 = time.monotonic()
    last = -1
    last_change = t0
    while True:
        await asyncio.sleep(0.1)
        total = sum(getattr(c, what) for c in clients)
        now = time.monotonic()
        if total != last:
            last, last_change = total, now
        elif now - last_change >= quiet_s:
            return now - t0
        if now - t0 > timeout:
            log(f"still receiving after {timeout:.0f}s; going on")
            return now - t0


class Heartbeat:
    """Sends the protocol's {"type":"ping"} from every client at least every ``interval_s``.

    Started before connecting, on the list ``connect_many`` fills, so that no socket sits
    silent long enough to be closed as idle while the others are still connecting.
    """

    def __init__(self, clients: list[WSClient], interval_s: float = 20.0) -> None:
        self.clients = clients
        self.interval_s = interval_s
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        frame = b'{"type":"ping"}'
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for c in self.clients:
                if now - c.last_ping >= self.interval_s:
                    c.last_ping = now
                    c.send_text(frame)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def wait_server_idle(
    server: CpuMeter, *, below: float = 0.05, interval: float = 0.5, timeout: float = 120.0
) -> float:
    """Wait until the server process uses less than ``below`` of a core; returns the time waited."""
    t0 = time.monotonic()
    while True:
        a = server.cpu_seconds()
        await asyncio.sleep(interval)
        if (server.cpu_seconds() - a) / interval < below:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            log(f"server still busy after {timeout:.0f}s; going on")
            return time.monotonic() - t0


def machine_cpu() -> list[int]:
    """The aggregate `cpu` line of /proc/stat (jiffies): user nice system idle iowait irq softirq steal."""
    with contextlib.suppress(OSError, ValueError):
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return []


def machine_cpu_between(a: list[int], b: list[int], ours_pct: float | None = None) -> dict[str, float | None]:
    """Whole-machine shares over a window: busy (all processes, 100 = every core), stolen by the
    hypervisor, and, given the CPU of the bench's own processes (% of one core), what everything
    else on the machine used (% of one core). High values of the last two mean a contended run."""
    if len(a) < 8 or len(b) < 8:
        return {"machine_busy_pct": None, "steal_pct": None, "other_processes_cpu_pct": None}
    d = [y - x for x, y in zip(a, b, strict=True)]
    total = sum(d) or 1
    idle = d[3] + d[4]
    busy = total - idle - d[7]
    ncpu = os.cpu_count() or 1
    other = None if ours_pct is None else round(max(0.0, 100 * ncpu * busy / total - ours_pct), 1)
    return {
        "machine_busy_pct": round(100 * busy / total, 1),
        "steal_pct": round(100 * d[7] / total, 1),
        "other_processes_cpu_pct": other,
    }


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def close_all(clients: Iterable[WSClient]) -> None:
    for c in clients:
        c.close()


@contextlib.asynccontextmanager
async def client_pool(*, heartbeat: bool) -> AsyncIterator[list[WSClient]]:
    """A list for the sockets of one measured target, with the protocol's heartbeat running on
    it while open (Tipline's); every socket in it is closed at the end."""
    clients: list[WSClient] = []
    beat = Heartbeat(clients) if heartbeat else None
    if beat is not None:
        beat.start()
    try:
        yield clients
    finally:
        if beat is not None:
            await beat.stop()
        close_all(clients)
        await asyncio.sleep(0.3)


def pin_client(cpu: int | None) -> None:
    """With ``--pin CPU`` (the servers go on that CPU): this process runs on the other CPUs."""
    if cpu is not None:
        others = set(range(os.cpu_count() or 1)) - {cpu}
        if others:
            os.sched_setaffinity(0, others)


# --- profiling (optional) ---------------------------------------------------------------------------


class PySpy:
    """Samples a server with py-spy for a while: `py-spy` from PATH, else `uvx py-spy` (from PyPI)."""

    def __init__(self, pid: int, seconds: float, out: Path, rate: int = 200) -> None:
        exe = shutil.which("py-spy")
        base = [exe] if exe else ["uvx", "py-spy"]
        self.out = out
        self.cmd = [*base, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate)]
        self.cmd += ["-f", "raw", "-o", str(out), "--nonblocking"]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )

    async def finish(self, top: int = 15) -> dict[str, Any] | None:
        if self.proc is None:
            return None
        try:
            await asyncio.wait_for(self.proc.wait(), 60)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if not self.out.exists():
            log("py-spy produced no profile (is ptrace allowed?)")
            return None
        return summarize_profile(self.out, top=top)


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares per function of py-spy's collapsed stacks (event-loop thread only)."""
    from collections import Counter

    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if frames[0].startswith("Thread._bootstrap"):
            continue  # worker threads, idle but for password hashing during setup
        n = int(count)
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return {
        "samples": total,
        "raw": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "self_pct": {f: round(100 * c / total, 1) for f, c in own.most_common(top)} if total else {},
        "inclusive_pct": {f: round(100 * c / total, 1) for f, c in incl.most_common(top + 25)} if total else {},
    }
