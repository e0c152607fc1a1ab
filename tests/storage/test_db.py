"""The embedded default: Tipline starts its own PostgreSQL, keeps its data, and migrates it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import asyncpg

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
