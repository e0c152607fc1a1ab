"""The embedded default: Tipline starts its own PostgreSQL, keeps its data, and migrates it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.storage.db import async_url, start_embedded_postgres, stop_embedded_postgres, sync_url
from tipline.storage.migrate import upgrade_async


async def test_embedded_postgres_starts_migrates_and_keeps_data() -> None:
    # A short path: PostgreSQL's socket lives in the data directory.
    with tempfile.TemporaryDirectory(prefix="tl-", dir="/tmp") as tmp:
        data_dir = Path(tmp)
        url = start_embedded_postgres(data_dir)
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        await upgrade_async(url)
        conn = await asyncpg.connect(sync_url(url))
        try:
            tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert {"users", "conversations", "members", "messages", "reactions", "sessions"} <= tables
            await conn.execute(
                "INSERT INTO users (email, handle, display_name) VALUES ('keep@example.com', 'keeper', 'K')"
            )
        finally:
            await conn.close()
        # Asking again reuses the running server and the same data.
        again = start_embedded_postgres(data_dir)
        conn = await asyncpg.connect(sync_url(again))
        try:
            assert await conn.fetchval("SELECT handle FROM users WHERE email = 'keep@example.com'") == "keeper"
        finally:
            await conn.close()
        stop_embedded_postgres()


def test_urls() -> None:
    assert async_url("postgresql://u:p@h:5432/d") == "postgresql+asyncpg://u:p@h:5432/d"
    assert sync_url("postgresql+asyncpg://u@/d?host=/tmp/x") == "postgresql://u@/d?host=/tmp/x"


async def test_read_connection_sends_no_begin_and_leaves_the_pool_as_it_was(database_url: str) -> None:
    """Inside a transaction now() stays at the transaction's start; each autocommit statement
    is a transaction of its own, so there now() moves from one statement to the next."""
    from sqlalchemy import text

    from tipline.storage.db import create_engine, read_connection

    async def now_moves(conn: AsyncConnection) -> bool:
        first = (await conn.execute(text("SELECT now()"))).scalar_one()
        await conn.execute(text("SELECT pg_sleep(0.02)"))
        return bool((await conn.execute(text("SELECT now()"))).scalar_one() > first)

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with read_connection(engine) as conn:
            assert await now_moves(conn) is True
        # The same pooled connection, checked out normally again: back inside a transaction.
        async with engine.connect() as conn:
            assert await now_moves(conn) is False
    finally:
        await engine.dispose()


async def test_a_connection_over_tcp_gives_up_when_the_network_to_postgresql_is_cut(database_url: str) -> None:
    """TCP_USER_TIMEOUT and keepalives are set on every pooled connection: a query on a cut link
    fails within the bound instead of waiting for the kernel's ~15 minutes (the chaos test h cuts
    a real link; this checks what the kernel was told)."""
    import socket

    from tipline.storage.db import create_engine

    engine = create_engine(database_url, pool_size=1, max_overflow=0, tcp_user_timeout_s=4.0)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            sock = raw.driver_connection._transport.get_extra_info("socket")  # type: ignore[union-attr]
            assert sock.family == socket.AF_INET
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 4000
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        await engine.dispose()
