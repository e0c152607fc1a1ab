"""Test fixtures: a real PostgreSQL database of the suite's own, and a real Tipline server.

The server runs in the test process (same event loop) on a free port, so tests speak real
HTTP and real WebSockets to it and can still look at its hub. Each test starts from empty
tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn

from tipline.app import build_runtime, create_app
from tipline.bus.base import Bus
from tipline.config import Settings
from tipline.domain.tables import __all__ as TABLES
from tipline.gateway.wire import ws_protocol
from tipline.node import Node
from tipline.runtime import Runtime
from tipline.storage.migrate import upgrade_async

# The chain fixtures (anvil, rpc, dev_chain) serve tests/chain, tests/e2e and any other package.
pytest_plugins = ["tests.chain_fixtures"]

# A test server's stop: open connections get this long to close before they are cancelled, and
# the whole stop (the node's workers included) this long before the test fails.
SERVER_STOP_GRACE_S = 5.0
SERVER_STOP_WAIT_S = 60.0
STARTED_BY: dict[int, str | None] = {}  # port -> the test that started a server there (diagnostics)
MEDIA_DIR = Path(tempfile.gettempdir()) / f"tipline-test-media-{os.getpid()}"
ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        # Cheap hashing keeps the suite fast; production defaults are tested in tests/domain.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "jwt_secret": None,
        "database_url": None,
        "redis_url": None,
        "allowed_origins": "http://127.0.0.1:8000",
        "db_pool_size": 20,
        # The suite signs up hundreds of users from one address; tests/test_ratelimit.py
        # turns the limits on where they are the subject.
        "rate_limits": False,
        # Local media objects of this test run, never in the checkout's DATA_DIR.
        "media_dir": MEDIA_DIR,
        # The suite builds hundreds of apps in one process: frozen objects of finished ones would
        # never be collected.
        "gc_freeze": False,
        # The suite's servers sign up hundreds of users and sign them in at once (tests/helpers.signup);
        # the verification flow, the production default, is tested with it on in tests/api/test_auth.py
        # and tests/domain/mail against a real SMTP server.
        "email_verification": False,
        # Every server of the suite shares one database, so one outbox: only the servers of the
        # mail tests send from it (tests/domain/mail/smtp.py, SmtpServer.settings).
        "mail_worker": False,
        # Likewise one notification cursor and push outbox: only tests/domain/notifications' servers run it.
        "notify_worker": False,
        # Links in the suite's messages are not fetched: tests/api/test_previews.py turns it on.
        "link_previews": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    name = f"tipline_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_db(ADMIN_URL, name)
    await upgrade_async(url)
    yield url
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    rt: Runtime
    node: Node
    base_url: str
    ws_url: str
    database_url: str


@contextlib.asynccontextmanager
async def run_server(settings: Settings, database_url: str, *, bus: Bus | None = None) -> AsyncIterator[Server]:
    """A real Tipline (uvicorn, lifespan on) in this event loop, on ``settings.port``."""
    rt = build_runtime(settings, database_url=database_url, jwt_key=secrets.token_bytes(64), bus=bus)
    app = create_app(rt)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        ws=ws_protocol(settings.ws_impl),
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        log_level="warning",
        lifespan="on",
        # Connections still open after this are cancelled, then the lifespan's shutdown (the node's
        # stop) runs: without it uvicorn waits for them without end, and the wait used to be cut
        # by cancelling the whole server, which skipped the node's stop.
        timeout_graceful_shutdown=SERVER_STOP_GRACE_S,
    )
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = settings.port
    STARTED_BY[port] = os.environ.get("PYTEST_CURRENT_TEST")
    try:
        yield Server(
            rt=rt,
            node=app.state.node,
            base_url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}/ws",
            database_url=database_url,
        )
    finally:
        srv.should_exit = True
        node: Node = app.state.node
        # Never cut short: a node whose stop is cancelled halfway leaves its workers (mail,
        # webhooks, previews...) running on the shared database, acting on later tests' rows with
        # this server's settings.
        await asyncio.wait({task}, timeout=SERVER_STOP_WAIT_S)
        if not task.done():
            warnings.warn(f"the server on port {port} did not stop in {SERVER_STOP_WAIT_S} s", stacklevel=1)
            task.cancel()
            await asyncio.wait({task})
        if not node.stopped:
            warnings.warn(f"the server on port {port} did not stop its node: stopping it here", stacklevel=1)
            await node.stop()
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc


@contextlib.asynccontextmanager
async def start_server(database_url: str, *, bus: Bus | None = None, **overrides: object) -> AsyncIterator[Server]:
    """A real Tipline server in this process on a free port (``overrides`` are settings)."""
    port = free_port()
    settings = make_settings(port=port, public_url=f"http://127.0.0.1:{port}", **overrides)
    async with run_server(settings, database_url, bus=bus) as srv:
        yield srv


@pytest.fixture(scope="session")
async def server(database_url: str) -> AsyncIterator[Server]:
    port = free_port()
    async with run_server(make_settings(port=port, public_url=f"http://127.0.0.1:{port}"), database_url) as srv:
        yield srv


@pytest.fixture
def rt(server: Server) -> Runtime:
    return server.rt


@pytest.fixture
async def api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    uses_server = "server" in request.fixturenames
    uses_db = uses_server or "database_url" in request.fixturenames
    server: Server | None = request.getfixturevalue("server") if uses_server else None
    database_url: str | None = request.getfixturevalue("database_url") if uses_db else None
    yield
    if database_url is None:
        return
    await reset_database(database_url, server)


_USED_TABLES = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT FROM {t})" for t in TABLES)
_RESTART_IDS = """
SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence AS s
JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.deptype IN ('a', 'i')
"""


async def reset_database(database_url: str, server: Server | None = None) -> None:
    """Empty every table, once the server has committed its pending sends and let go of the
    sockets tests closed (shared by the per-test cleanup and modules that clean once)."""
    if server is not None:
        await server.node.batcher.drain()
        if server.node.webhooks is not None:
            # Cut short deliveries still in flight for this test's hooks: ids restart below, and a
            # late outcome must not land on the next test's rows.
            await server.node.webhooks.stop()
            server.node.webhooks.start()
        for _ in range(100):
            if not server.node.hub.users:
                break
            await asyncio.sleep(0.02)
    conn = await asyncpg.connect(database_url)
    try:
        for attempt in range(5):
            try:
                # Only the tables holding rows: TRUNCATE makes new files for a table and each of
                # its indexes, empty or not (all 51 took ~100 ms, after every test). Then every
                # table's ids start again, as with RESTART IDENTITY on all of them.
                used = [row[0] for row in await conn.fetch(_USED_TABLES)]
                if used:
                    await conn.execute(f"TRUNCATE {', '.join(used)} CASCADE")
                await conn.execute(_RESTART_IDS)
                break
            except asyncpg.DeadlockDetectedError:
                # The server's background workers keep reading these tables while TRUNCATE takes
                # its exclusive locks one table after another: PostgreSQL aborts one side of such
                # a cycle, and the transaction it aborted is to be run again.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


@dataclass
class MotoS3:
    endpoint_url: str
    bucket: str

    def settings(self) -> dict[str, object]:
        """Settings that make Tipline keep its media in this server."""
        return {
            "media_backend": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": self.bucket,
            "s3_region": "us-east-1",
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
            "s3_addressing_style": "path",
        }


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """A real S3-compatible server (moto in server mode) on a free loopback port.

    It speaks S3's HTTP API (presigned POST and GET included) but checks neither signatures
    nor policy conditions nor expiry: those are tested on the local store, which checks them.
    """
    import boto3

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        bucket = "tipline-test-media"
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        ).create_bucket(Bucket=bucket)
        yield MotoS3(endpoint_url=endpoint, bucket=bucket)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
async def s3_server(database_url: str, moto_s3: MotoS3) -> AsyncIterator[Server]:
    """A second Tipline server, sharing the suite's database, that keeps media in S3.

    Without the queue workers: they would claim the shared server's mail, webhook deliveries,
    notifications and previews and act on them with this server's settings, not the ones a test
    set on the shared server (an outgoing webhook refused its loopback endpoint that way)."""
    workers_off = {"mail_worker": False, "integrations_worker": False, "notify_worker": False, "link_previews": False}
    async with start_server(database_url, **moto_s3.settings(), **workers_off) as srv:
        yield srv
