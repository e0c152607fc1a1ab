"""Database engine, sessions, and the embedded PostgreSQL of the zero-configuration default.

PostgreSQL is Tipline's source of truth (docs/architecture.md). With no ``DATABASE_URL``
Tipline starts its own PostgreSQL in ``DATA_DIR/pgdata`` (kept across restarts) so one
command runs everything on a fresh machine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

_embedded: Any = None  # the pgserver handle; kept so the server lives as long as the process


def start_embedded_postgres(data_dir: Path, database: str = "tipline") -> str:
    """Start (or reuse) PostgreSQL in ``data_dir/pgdata`` and return a plain ``postgresql://`` URL."""
    global _embedded
    # pgserver falls back to /tmp for its runtime dir and warns about it; nothing to act on.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # Unix socket paths are limited to 107 bytes; the socket lives inside pgdata.
    if len(str(pgdata)) > 90:
        raise RuntimeError(f"DATA_DIR path too long for a PostgreSQL socket: {pgdata}")
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")  # type: ignore[attr-defined]
    _embedded = server
    if not database.isidentifier():
        raise ValueError(f"invalid database name: {database!r}")
    # The name is a fixed identifier checked above; psql here takes no bind parameters.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url: str = server.get_uri(database)
    log.info("embedded PostgreSQL ready in %s", pgdata)
    return url


def stop_embedded_postgres() -> None:
    """Stop the PostgreSQL this process started (it also stops when the process exits)."""
    global _embedded
    if _embedded is not None:
        _embedded.cleanup()
        _embedded = None


def async_url(url: str) -> str:
    """``postgresql://...`` (any driver suffix) -> ``postgresql+asyncpg://...``."""
    parts = urlsplit(url)
    scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def sync_url(url: str) -> str:
    """The plain libpq form, for asyncpg.connect() and psql."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout_s: float = 5.0,
    tcp_user_timeout_s: float | None = None,
) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        # A dropped connection is replaced on the next checkout rather than failing requests.
        pool_recycle=1800,
        connect_args={
            "server_settings": {"application_name": f"tipline-{os.getpid()}"},
            "timeout": connect_timeout_s,
        },
    )
    if tcp_user_timeout_s is not None:
        user_timeout_ms = max(1, round(tcp_user_timeout_s * 1000))

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            _cut_link_fails(dbapi_connection, user_timeout_ms)

    return engine


def _cut_link_fails(dbapi_connection: Any, user_timeout_ms: int) -> None:
    """Make a connection fail within ``user_timeout_ms`` once the network to PostgreSQL is cut.

    Without it a query on a connection whose link went away waits for the kernel's default
    retransmission limit (about 15 minutes); the sends in that commit would hang as long.
    Keepalives find a dead idle connection; TCP_USER_TIMEOUT bounds unacknowledged data.
    """
    # asyncpg exposes no socket options; its transport (under SQLAlchemy's adapter) holds the socket.
    transport = getattr(getattr(dbapi_connection, "driver_connection", None), "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket: no network to lose
    idle_s = max(1, user_timeout_ms // 3000)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, idle_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode, for reads that are one statement each.

    Without it the driver wraps the first statement in BEGIN and the pool ends with ROLLBACK:
    three round trips for one SELECT. The checks every request makes (its session, the caller's
    access to a conversation) are single statements, so they run as one round trip each.
    Anything that must see several statements in one snapshot, or writes, uses a transaction.
    """
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction on a pooled connection: commit on success, roll back on error."""
    async with engine.begin() as conn:
        yield conn


async def database_answers(engine: AsyncEngine, timeout_s: float = 3.0) -> bool:
    """PostgreSQL answers a query through the pool within ``timeout_s`` (bounded: behind a cut
    network a query would otherwise wait for the kernel to give up)."""
    try:
        async with asyncio.timeout(timeout_s), read_connection(engine) as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
