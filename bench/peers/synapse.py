"""Acknowledged durable sends: Tipline against Matrix Synapse, on the same PostgreSQL, same workload.

    uv run python bench/peers/synapse.py [--clients 50] [--duration 15] [--warmup 3]
                                         [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                         [--out bench/results]

Workload, the same on both sides: ``--clients`` senders, each in a room (Tipline: a group
conversation) of its own with one other user who is a member but not connected. Each sender
keeps one message in flight: it sends the next as soon as the previous one is acknowledged.
Tipline: a WebSocket ``send`` frame, answered by an ``ack`` frame after the commit (the Sender
of bench/sends/run.py). Synapse: ``PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}``
over HTTP/1.1 keep-alive, answered 200 with the ``event_id`` after the event is persisted.
After ``--warmup`` seconds acks are counted for ``--duration`` seconds; then every sender waits
for its last ack and the stored rows are counted (Tipline: ``messages``; Synapse: ``events`` of
type ``m.room.message`` in the bench rooms, and every acked ``event_id`` looked up).

Synapse (PyPI ``matrix-synapse``, pinned in requirements-synapse.txt) is installed by this
script into bench/results/tmp/peers/synapse-venv (skipped when the pinned version is there),
configured with a generated homeserver.yaml on a fresh database (C collation) of the given
PostgreSQL, started as one process on a free port of 127.0.0.1, and stopped by PID at the end;
its database is dropped.

Prints one JSON object last on stdout, and writes bench/results/peers-sends.json and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import httpx

BENCH_DIR = Path(__file__).resolve().parents[1]
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
from common import (  # noqa: E402
    ARGON2_NOTE,
    BENCH,
    TMP,
    BenchDatabase,
    Heartbeat,
    ServerProcess,
    TiplineServer,
    WSClient,
    check_local,
    close_all,
    connect_many,
    free_port,
    install_sigterm_handler,
    log,
    machine_cpu,
    machine_cpu_between,
    own_cpu_seconds,
    percentile,
    pg_backends_cpu_seconds,
    publish,
    rounded,
    run_facts,
    sign_up_users,
    wait_server_idle,
)

PEERS = Path(__file__).resolve().parent
REQUIREMENTS = PEERS / "requirements-synapse.txt"
VENV = TMP / "peers" / "synapse-venv"
TARGET_VS_SYNAPSE = 20.0
RATE_LIMIT_OFF = {"per_second": 1_000_000, "burst_count": 1_000_000}
SYNAPSE_NOTE = (
    "Synapse: one homeserver process (no workers), defaults but for: every rc_* rate limit the bench "
    "touches (rc_message, rc_registration, rc_login address/account/failed_attempts, rc_joins local/remote, "
    "rc_joins_per_room, rc_invites per_room/per_user/per_issuer, rc_room_creation) raised to 1,000,000/s "
    "with a burst of 1,000,000, because one client sends every message; bcrypt_rounds 4 so that "
    "registering the bench users is quick; no federation listener, trusted_key_servers empty, "
    "report_stats false, log level WARNING. Database psycopg2 with Synapse's default pool (cp_min 5, "
    "cp_max 10)."
)


def _load_sends() -> ModuleType:
    """bench/sends/run.py, under a name of its own (bench/peers/run.py is also a `run`)."""
    name = "tipline_bench_sends_run"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / "sends" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


sends = _load_sends()


# --- measuring one side -------------------------------------------------------------------------


@dataclass
class Side:
    """What the measuring needs from one side: its counters, its CPU, and how to start and stop it."""

    stats: Any  # bench/sends/run.py's Stats: acks, ack_ms, measuring, errors, error_samples
    server_cpu: Callable[[], float]
    postgres_cpu: Callable[[], float]
    start: Callable[[], None]
    stop: Callable[[], Awaitable[int]]  # stop sending, wait for the last acks; returns those still missing


async def measure(side: Side, *, warmup_s: float, duration_s: float) -> dict[str, Any]:
    stats = side.stats
    side.start()
    await asyncio.sleep(warmup_s)
    a0, s0, p0, c0, m0 = stats.acks, side.server_cpu(), side.postgres_cpu(), own_cpu_seconds(), machine_cpu()
    t0 = time.monotonic()
    stats.measuring = True
    await asyncio.sleep(duration_s)
    stats.measuring = False
    a1, s1, p1, c1, m1 = stats.acks, side.server_cpu(), side.postgres_cpu(), own_cpu_seconds(), machine_cpu()
    elapsed = time.monotonic() - t0
    outstanding = await side.stop()
    acked = a1 - a0
    server_cpu_s = (s1 - s0) + (p1 - p0)
    lat = stats.ack_ms
    return {
        "acked_messages_per_s": round(acked / elapsed, 1),
        "ack_p50_ms": rounded(percentile(lat, 50)),
        "ack_p90_ms": rounded(percentile(lat, 90)),
        "ack_p99_ms": rounded(percentile(lat, 99)),
        "ack_max_ms": rounded(max(lat) if lat else None),
        "acks_in_window": acked,
        "server_cpu_s": round(server_cpu_s, 3),
        "server_process_cpu_s": round(s1 - s0, 3),
        "postgres_cpu_s": round(p1 - p0, 3),
        "acked_per_server_cpu_s": round(acked / server_cpu_s, 1) if server_cpu_s > 0 else None,
        "server_cpu_pct": round(100 * server_cpu_s / elapsed, 1),
        "client_cpu_pct": round(100 * (c1 - c0) / elapsed, 1),
        **machine_cpu_between(m0, m1, 100 * (server_cpu_s + (c1 - c0)) / elapsed),
        "measured_s": round(elapsed, 2),
        "acks_total": stats.acks,
        "outstanding_after_stop": outstanding,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
    }


def log_side(name: str, result: dict[str, Any], *, acks: int) -> None:
    log(
        f"{name}: {result['acked_messages_per_s']:,} acked/s, p50 {result['ack_p50_ms']} ms, "
        f"p99 {result['ack_p99_ms']} ms; stored {result['stored_messages']} vs acks {acks}; "
        f"server+PostgreSQL CPU {result['server_cpu_s']} s in the window"
    )


# --- Tipline ------------------------------------------------------------------------------------


async def run_tipline(admin_url: str, *, clients: int, duration_s: float, warmup_s: float) -> dict[str, Any]:
    log(f"Tipline: {clients} senders, each in a group of two with a member who is not connected")
    t_setup = time.monotonic()
    server = TiplineServer(ws_impl="websockets-sansio", admin_url=admin_url)
    sockets: list[WSClient] = []
    beat = Heartbeat(sockets)
    stats = sends.Stats()
    try:
        proc = await server.start()
        users = await sign_up_users(proc.base_url, 2 * clients, prefix="p")
        conversations = await sends.create_pairs(proc.base_url, users)  # the even user creates, the odd one is in
        beat.start()
        sockets[:] = await connect_many(
            proc.port, [u.token for u in users[0::2]], origin=f"http://127.0.0.1:{proc.port}", into=sockets
        )
        await wait_server_idle(proc, timeout=30)
        senders = [sends.Sender(c, conversations[c.index], 1, stats) for c in sockets]
        setup_s = time.monotonic() - t_setup

        def start() -> None:
            for s in senders:
                s.start()

        async def stop() -> int:
            for s in senders:
                s.running = False
            deadline = time.monotonic() + 30
            while any(s.pending for s in senders) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return sum(len(s.pending) for s in senders)

        def pg_cpu() -> float:
            return server.pg_cpu_seconds() or 0.0

        side = Side(stats, proc.cpu_seconds, pg_cpu, start, stop)
        result = await measure(side, warmup_s=warmup_s, duration_s=duration_s)
        rows = await sends.count_rows(server.db_url)
        result |= {
            "acks_new": stats.acks_new,
            "duplicate_acks": stats.duplicates,
            "stored_messages": rows,
            "acks_equal_rows": rows == stats.acks_new and result["outstanding_after_stop"] == 0,
            "seq_gaps": stats.seq_gaps,
            "closed_connections": sum(1 for c in sockets if c.lost or c.close_code is not None),
            "setup_s": round(setup_s, 1),
            "version": metadata.version("tipline"),
            "transport": "WebSocket (uvicorn, websockets-sansio), send frame -> ack frame after commit",
            "server": "tipline serve --migrate: one process, uvloop, httptools, LOG_LEVEL=warning, DB_POOL_SIZE=20",
            "note": ARGON2_NOTE,
        }
        log_side("Tipline", result, acks=stats.acks_new)
        return result
    finally:
        await beat.stop()
        close_all(sockets)
        await asyncio.sleep(0.3)
        await server.stop()


# --- Synapse: install, configure, start -----------------------------------------------------------


def pinned_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        if line.strip().startswith("matrix-synapse"):
            return line.split("==", 1)[1].strip()
    raise RuntimeError(f"no matrix-synapse pin in {REQUIREMENTS}")


def synapse_facts(python: Path) -> dict[str, Any] | None:
    """Versions inside the venv, or None when it has no Synapse."""
    code = (
        "import importlib.metadata as m, json, platform\n"
        "print(json.dumps({'version': m.version('matrix-synapse'), 'python': platform.python_version(),"
        " 'twisted': m.version('twisted'), 'psycopg2': m.version('psycopg2-binary')}))"
    )
    if not python.exists():
        return None
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, env=clean_env())
    if done.returncode != 0:
        return None
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return facts


def ensure_synapse(venv: Path = VENV) -> tuple[Path, dict[str, Any]]:
    """The venv's Python, with the pinned Synapse installed from wheels (only when not there yet)."""
    python = venv / "bin" / "python"
    facts = synapse_facts(python)
    if facts is not None and facts["version"] == pinned_version():
        log(f"Synapse {facts['version']} already installed in {venv}")
        return python, facts | {"install_s": 0.0}
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv not found on PATH: it installs Synapse into its own venv")
    t0 = time.monotonic()
    log(f"installing {REQUIREMENTS.name} into {venv}")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([uv, "venv", "--clear", "--quiet", "--python", "3.11", str(venv)], check=True, timeout=300)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "--only-binary", ":all:", "-r", str(REQUIREMENTS)],
        check=True,
        timeout=900,
    )
    facts = synapse_facts(python)
    if facts is None:
        raise RuntimeError(f"Synapse did not install into {venv}")
    install_s = round(time.monotonic() - t0, 1)
    log(f"installed Synapse {facts['version']} in {install_s} s")
    return python, facts | {"install_s": install_s}


def clean_env() -> dict[str, str]:
    """The environment for Synapse's Python: nothing of this project's venv or path (bench/peers
    has a synapse.py that must not shadow the real package)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class SynapseDatabase(BenchDatabase):
    """Synapse refuses a database whose collation is not C."""

    async def create(self) -> str:
        check_local(self.admin_url)
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(
                f"CREATE DATABASE \"{self.name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            )
            self.created = True
        finally:
            await conn.close()
        log(f"created database {self.name}")
        return self.url


def write_config(workdir: Path, *, port: int, db: BenchDatabase, shared_secret: str, log_file: Path) -> Path:
    """A minimal homeserver.yaml (JSON is YAML) and its log config."""
    url = urlsplit(db.admin_url)
    args: dict[str, Any] = {
        "user": unquote(url.username or "postgres"),
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "database": db.name,
    }
    if url.password:
        args["password"] = unquote(url.password)
    log_config = workdir / "log.yaml"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
                "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain", "filename": str(log_file)}},
                "root": {"level": "WARNING", "handlers": ["file"]},
                "disable_existing_loggers": False,
            }
        )
    )
    config = {
        "server_name": "localhost",
        "report_stats": False,
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "psycopg2", "args": args},
        "log_config": str(log_config),
        "media_store_path": str(workdir / "media"),
        "signing_key_path": str(workdir / "localhost.signing.key"),  # generated by Synapse on its first start
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_urlsafe(32),
        "form_secret": secrets.token_urlsafe(32),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "bcrypt_rounds": 4,
        "rc_message": RATE_LIMIT_OFF,
        "rc_registration": RATE_LIMIT_OFF,
        "rc_login": {"address": RATE_LIMIT_OFF, "account": RATE_LIMIT_OFF, "failed_attempts": RATE_LIMIT_OFF},
        "rc_joins": {"local": RATE_LIMIT_OFF, "remote": RATE_LIMIT_OFF},
        "rc_joins_per_room": RATE_LIMIT_OFF,
        "rc_invites": {"per_room": RATE_LIMIT_OFF, "per_user": RATE_LIMIT_OFF, "per_issuer": RATE_LIMIT_OFF},
        "rc_room_creation": RATE_LIMIT_OFF,
    }
    path = workdir / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


# --- Synapse: users, rooms, senders ----------------------------------------------------------------


@dataclass
class MatrixUser:
    user_id: str
    token: str


async def register_users(http: httpx.AsyncClient, shared_secret: str, n: int) -> list[MatrixUser]:
    """Shared-secret registration (`/_synapse/admin/v1/register`: a nonce, then an HMAC-SHA1 of it)."""
    run = secrets.token_hex(3)
    sem = asyncio.Semaphore(4)

    async def one(i: int) -> MatrixUser:
        username, password = f"p{i}_{run}", secrets.token_urlsafe(18)
        async with sem:
            nonce = (await http.get("/_synapse/admin/v1/register")).json()["nonce"]
            mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode(), b"notadmin"]))
            body = {"nonce": nonce, "username": username, "password": password, "admin": False}
            r = await http.post("/_synapse/admin/v1/register", json=body | {"mac": mac.hexdigest()})
        if r.status_code != 200:
            raise RuntimeError(f"Synapse registration failed: {r.status_code} {r.text[:300]}")
        data = r.json()
        return MatrixUser(user_id=data["user_id"], token=data["access_token"])

    t0 = time.monotonic()
    users = list(await asyncio.gather(*(one(i) for i in range(n))))
    log(f"registered {n} Synapse users in {time.monotonic() - t0:.1f}s")
    return users


def auth(user: MatrixUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


async def create_rooms(http: httpx.AsyncClient, users: list[MatrixUser]) -> list[str]:
    """One room per two users: the even one creates it and invites the odd one, who joins."""
    sem = asyncio.Semaphore(4)

    async def one(i: int) -> str:
        owner, peer = users[2 * i], users[2 * i + 1]
        async with sem:
            body = {"preset": "trusted_private_chat", "name": f"pair {i}", "invite": [peer.user_id]}
            r = await http.post("/_matrix/client/v3/createRoom", json=body, headers=auth(owner))
            if r.status_code != 200:
                raise RuntimeError(f"createRoom failed: {r.status_code} {r.text[:300]}")
            room_id: str = r.json()["room_id"]
            r = await http.post(f"/_matrix/client/v3/join/{quote(room_id)}", json={}, headers=auth(peer))
            if r.status_code != 200:
                raise RuntimeError(f"join failed: {r.status_code} {r.text[:300]}")
        return room_id

    t0 = time.monotonic()
    rooms = list(await asyncio.gather(*(one(i) for i in range(len(users) // 2))))
    log(f"created {len(rooms)} Synapse rooms of two in {time.monotonic() - t0:.1f}s")
    return rooms


class MatrixSender:
    """One client: PUTs its next m.room.message as soon as the previous one returned 200."""

    def __init__(self, http: httpx.AsyncClient, user: MatrixUser, room_id: str, index: int, stats: Any) -> None:
        self.http = http
        self.headers = auth(user)
        self.path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/"
        self.txn = f"{index}-{secrets.token_hex(3)}-"
        self.stats = stats
        self.sent = 0
        self.running = True
        self.event_ids: list[str] = []

    async def run(self) -> None:
        stats = self.stats
        while self.running:
            self.sent += 1
            sent = time.time_ns()
            body = {"msgtype": "m.text", "body": f"t={sent} {sends.PAD}"}
            try:
                r = await self.http.put(f"{self.path}{self.txn}{self.sent}", json=body, headers=self.headers)
            except httpx.HTTPError as exc:
                self._error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)
                continue
            now = time.time_ns()
            if r.status_code == 200:
                self.event_ids.append(r.json()["event_id"])
                stats.acks += 1
                if stats.measuring:
                    stats.ack_ms.append((now - sent) / 1e6)
            else:
                self._error(f"{r.status_code} {r.text[:200]}")
                if r.status_code == 429:
                    await asyncio.sleep(r.json().get("retry_after_ms", 100) / 1000)

    def _error(self, text: str) -> None:
        self.stats.errors += 1
        if len(self.stats.error_samples) < 10:
            self.stats.error_samples.append(text)


async def count_synapse_events(db_url: str, rooms: list[str], event_ids: list[str]) -> tuple[int, int]:
    """m.room.message events stored in the bench rooms, and how many of the acked event ids are stored."""
    conn = await asyncpg.connect(db_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'm.room.message' AND room_id = ANY($1::text[])", rooms
        )
        found = await conn.fetchval("SELECT count(*) FROM events WHERE event_id = ANY($1::text[])", event_ids)
        return int(stored), int(found)
    finally:
        await conn.close()


async def run_synapse(admin_url: str, *, clients: int, duration_s: float, warmup_s: float) -> dict[str, Any]:
    log(f"Synapse: {clients} senders, each in a room of two with a member who is not syncing")
    python, facts = await asyncio.to_thread(ensure_synapse)
    t_setup = time.monotonic()
    db = SynapseDatabase(admin_url, name=f"synapse_bench_{os.getpid()}_{secrets.token_hex(2)}")
    workdir = TMP / "peers" / f"synapse-{os.getpid()}-{secrets.token_hex(2)}"
    workdir.mkdir(parents=True)
    server: ServerProcess | None = None
    senders: list[MatrixSender] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await db.create()
        port = free_port()
        shared_secret = secrets.token_urlsafe(32)
        log_file = TMP / f"synapse-homeserver-{os.getpid()}.log"
        config = write_config(workdir, port=port, db=db, shared_secret=shared_secret, log_file=log_file)
        cmd = [str(python), "-m", "synapse.app.homeserver", "-c", str(config)]
        server = ServerProcess("synapse", cmd, env=clean_env(), port=port, health_path="/health")
        await asyncio.to_thread(server.start, timeout=180)
        limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=120.0, limits=limits) as http:
            # Synapse appends the git branch and commit of the checkout its package sits in (the venv is
            # inside this repository), which would read as if Synapse were built from Tipline's commit.
            server_version = (await http.get("/_synapse/admin/v1/server_version")).json()["server_version"]
            server_version = str(server_version).split(" (", 1)[0]
            users = await register_users(http, shared_secret, 2 * clients)
            rooms = await create_rooms(http, users)
            await wait_server_idle(server, timeout=30)
            stats = sends.Stats()
            senders = [MatrixSender(http, users[2 * i], rooms[i], i, stats) for i in range(clients)]
            setup_s = time.monotonic() - t_setup

            def start() -> None:
                loop = asyncio.get_running_loop()
                tasks.extend(loop.create_task(s.run()) for s in senders)

            async def stop() -> int:
                for s in senders:
                    s.running = False
                _done, pending = await asyncio.wait(tasks, timeout=60)
                for t in pending:
                    t.cancel()
                return len(pending)

            def pg_cpu() -> float:
                return pg_backends_cpu_seconds(db.name)

            assert server.server is not None
            side = Side(stats, server.cpu_seconds, pg_cpu, start, stop)
            result = await measure(side, warmup_s=warmup_s, duration_s=duration_s)
        event_ids = [e for s in senders for e in s.event_ids]
        stored, found = await count_synapse_events(db.url, rooms, event_ids)
        result |= {
            "stored_messages": stored,
            "acked_event_ids_stored": found,
            "acks_equal_rows": stored == stats.acks == found == len(event_ids)
            and result["outstanding_after_stop"] == 0,
            "setup_s": round(setup_s, 1),
            **facts,
            "server_version": server_version,
            "transport": "HTTP/1.1 keep-alive, PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}"
            " -> 200 {event_id} after persistence",
            "server": "python -m synapse.app.homeserver: one process, psycopg2",
            "note": SYNAPSE_NOTE,
        }
        log_side("Synapse", result, acks=stats.acks)
        return result
    finally:
        for t in tasks:
            t.cancel()
        if server is not None:
            await asyncio.to_thread(server.stop)
        await db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- the comparison -----------------------------------------------------------------------------


async def postgres_version(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


async def sends_comparison(pg_admin_url: str, *, clients: int, duration_s: float, warmup_s: float) -> dict[str, Any]:
    """Tipline, then Synapse, each alone on the machine with the same workload; see the module doc."""
    check_local(pg_admin_url)
    t0 = time.monotonic()
    facts = run_facts()
    workload = {
        "clients": clients,
        "rooms": clients,
        "members_per_room": 2,
        "senders_per_room": 1,
        "in_flight_per_client": 1,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "body": f"t=<time_ns> {sends.PAD}",
        "description": (
            "each client sends in a room (Tipline: a group conversation) of its own with one other member, "
            "who is not connected; it sends its next message as soon as the previous one is acknowledged "
            "(after commit / persistence). Acks counted after the warm-up; every ack's send-to-ack time is kept."
        ),
        "postgresql": await postgres_version(pg_admin_url),
        "order": "Tipline first, then Synapse; one server running at a time",
    }
    tipline = await run_tipline(pg_admin_url, clients=clients, duration_s=duration_s, warmup_s=warmup_s)
    synapse = await run_synapse(pg_admin_url, clients=clients, duration_s=duration_s, warmup_s=warmup_s)
    vs = ratio(tipline["acked_messages_per_s"], synapse["acked_messages_per_s"])
    result: dict[str, Any] = {
        "benchmark": "peers-sends",
        "workload": workload,
        "tipline": tipline,
        "synapse": synapse,
        "vs_synapse_sends": vs,
        "vs_synapse_sends_per_cpu": ratio(tipline["acked_per_server_cpu_s"], synapse["acked_per_server_cpu_s"]),
        "target_vs_synapse_sends": TARGET_VS_SYNAPSE,
        "target_met": vs is not None and vs >= TARGET_VS_SYNAPSE,
        "note": f"Tipline: {ARGON2_NOTE}. {SYNAPSE_NOTE}",
        **facts,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "run_s": round(time.monotonic() - t0, 1),
    }
    log(f"vs_synapse_sends {vs} (per server CPU-second: {result['vs_synapse_sends_per_cpu']})")
    return result


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sides = [("Tipline", result["tipline"], "#3b6fb6"), ("Synapse", result["synapse"], "#8a8a8a")]
    names, colors = [name for name, _, _ in sides], [color for *_, color in sides]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    panels = [
        ("acked_messages_per_s", "acked messages/s", f"Acked durable sends: {result['vs_synapse_sends']}x Synapse"),
        (
            "acked_per_server_cpu_s",
            "acked messages per server CPU-second",
            f"Per CPU-second of server + its PostgreSQL: {result['vs_synapse_sends_per_cpu']}x",
        ),
    ]
    for ax, (key, ylabel, title) in zip(axes[:2], panels, strict=True):
        bars = ax.bar(names, [side[key] or 0 for _, side, _ in sides], color=colors)
        ax.bar_label(bars, fmt="%.0f")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    ax = axes[2]
    width = 0.38
    for k, (name, side, color) in enumerate(sides):
        vals = [side["ack_p50_ms"] or 0, side["ack_p99_ms"] or 0]
        b = ax.bar([x + (k - 0.5) * width for x in range(2)], vals, width, color=color, label=name)
        ax.bar_label(b, fmt="%.1f")
    ax.set_xticks(range(2), ["p50", "p99"])
    ax.set_ylabel("send-to-ack ms")
    ax.set_title("Send-to-ack latency", fontsize=10)
    ax.legend()
    w = result["workload"]
    fig.suptitle(
        f"{w['clients']} clients, a room of two each, one send in flight, {w['duration_s']:g} s after "
        f"{w['warmup_s']:g} s warm-up; PostgreSQL {w['postgresql']}; Synapse {result['synapse'].get('version')}; "
        f"{result['cpu_count']} CPUs, {result['date']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--clients", type=int, default=50, help="senders, each in a room of two of its own")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if args.clients < 1:
        parser.error("--clients must be >= 1")
    install_sigterm_handler()
    import uvloop

    result = uvloop.run(
        sends_comparison(args.database_url, clients=args.clients, duration_s=args.duration, warmup_s=args.warmup)
    )
    publish(result, args.out, "peers-sends", chart)


if __name__ == "__main__":
    main()
