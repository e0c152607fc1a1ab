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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn

from tipline.app import build_runtime, create_app
from tipline.config import Settings
from tipline.domain.tables import __all__ as TABLES
from tipline.runtime import Runtime
from tipline.storage.migrate import upgrade_async

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
    base_url: str
    ws_url: str
    database_url: str


@contextlib.asynccontextmanager
async def running_server(settings: Settings, database_url: str) -> AsyncIterator[Server]:
    """A Tipline server in this event loop on ``settings.port`` (shared by suites that need
    settings of their own, such as the tipping tests' chain)."""
    rt = build_runtime(settings, database_url=database_url, jwt_key=secrets.token_bytes(64))
    app = create_app(rt)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        log_level="warning",
        lifespan="on",
    )
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = settings.port
    yield Server(
        rt=rt, base_url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}/ws", database_url=database_url
    )
    srv.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
async def server(database_url: str) -> AsyncIterator[Server]:
    port = free_port()
    async with running_server(make_settings(port=port, public_url=f"http://127.0.0.1:{port}"), database_url) as srv:
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


async def reset_database(database_url: str, server: Server | None = None) -> None:
    """Empty every table, once the server has committed its pending sends and let go of the
    sockets tests closed (shared by the per-test cleanup and modules that clean once)."""
    if server is not None:
        await server.rt.batcher.drain()
        for _ in range(100):
            if not server.rt.hub.users:
                break
            await asyncio.sleep(0.02)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
