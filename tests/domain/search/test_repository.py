"""Search SQL on both databases Tipline runs on: the machine's PostgreSQL (pg_trgm available,
so CJK substring search has a partial trigram index) and the embedded default (no contrib
extensions: the migrations skip the index and the same ILIKE query still answers)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import asyncpg
from sqlalchemy import text

from tipline.domain.search import repository as repo
from tipline.storage.db import create_engine, start_embedded_postgres, stop_embedded_postgres, sync_url
from tipline.storage.migrate import upgrade_async

SEED = """
INSERT INTO users (id, email, handle, display_name) OVERRIDING SYSTEM VALUE
    VALUES (1, 'a@example.com', 'alice', 'Alice'), (2, 'b@example.com', 'bob', 'Bob');
INSERT INTO conversations (id, kind, name) OVERRIDING SYSTEM VALUE VALUES (1, 'group', 'g'), (2, 'group', 'h');
INSERT INTO members (conversation_id, user_id) VALUES (1, 1), (1, 2), (2, 2);
INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, body) VALUES
    (1, 1, 2, 'a', '今日は東京タワーへ'), (1, 2, 2, 'b', 'the lighthouse keeper'), (2, 1, 2, 'c', '東京 elsewhere');
"""


async def _check_search(url: str) -> bool:
    conn = await asyncpg.connect(sync_url(url))
    try:
        await conn.execute(SEED)
    finally:
        await conn.close()
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as db:
            cjk = await repo.search_substring(db, user_id=1, needle="東京", cursor=None, limit=10)
            # Alice is not in conversation 2: its message is not found.
            assert [r["body"] for r in cjk] == ["今日は東京タワーへ"]
            words = await repo.search_words(db, user_id=1, query="lighthouses", sort="relevance", cursor=None, limit=10)
            assert [r["body"] for r in words] == ["the lighthouse keeper"]
            return await repo.trigram_index_present(db)
    finally:
        await engine.dispose()


async def test_machine_postgres_has_the_trigram_index(database_url: str) -> None:
    assert await _check_search(database_url) is True


async def test_embedded_postgres_has_no_trigram_index_and_substring_search_still_works() -> None:
    with tempfile.TemporaryDirectory(prefix="tl-", dir="/tmp") as tmp:
        url = start_embedded_postgres(Path(tmp))
        try:
            await upgrade_async(url)
            assert await _check_search(url) is False
        finally:
            stop_embedded_postgres()


async def test_cjk_substring_search_can_use_the_partial_trigram_index(database_url: str) -> None:
    """The index holds only messages with CJK text. A CJK needle's query carries the index's
    predicate, and with it the planner can use the index; a Latin needle's query does not (those
    bodies are not in the index: it scans the searcher's conversations instead)."""
    assert await _check_search(database_url) is True
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as db:
            indexdef = (
                await db.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_body_trgm_cjk'"))
            ).scalar_one()
            assert "gin_trgm_ops" in indexdef and repo.CJK_CLASS in indexdef
            for needle in ("東京", "ab東", "한국"):
                sql, _ = repo.substring_query(user_id=1, needle=needle, cursor=None, limit=10)
                assert repo.cjk_predicate(needle) in sql and repo.cjk_predicate(needle)
            sql, _ = repo.substring_query(user_id=1, needle="lighthouse", cursor=None, limit=10)
            assert repo.cjk_predicate("lighthouse") == "" and repo.CJK_CLASS not in sql
            # With the predicate the planner can prove the partial index applies (no other way to
            # answer is left to it here); the ILIKE alone cannot use it.
            await db.execute(text("SET enable_seqscan = off"))
            await db.execute(text("SET enable_indexscan = off"))
            await db.execute(text("SET enable_bitmapscan = on"))

            async def plan(needle: str) -> str:
                sql = "EXPLAIN SELECT m.id FROM messages m WHERE m.body ILIKE :pat" + repo.cjk_predicate(needle)
                return "\n".join(row[0] for row in await db.execute(text(sql), {"pat": f"%{needle}%"}))

            assert "ix_messages_body_trgm_cjk" in await plan("東京")
            assert "ix_messages_body_trgm_cjk" not in await plan("lighthouse")
    finally:
        await engine.dispose()


async def test_trigram_migration_goes_down_and_up(database_url: str) -> None:
    """0009_trgm_cjk swaps the whole-table trigram index for the CJK-only one, and back."""
    import asyncio

    from alembic import command

    from tipline.storage.migrate import alembic_config

    async def indexes() -> set[str]:
        conn = await asyncpg.connect(sync_url(database_url))
        try:
            rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_messages_body_trgm%'")
        finally:
            await conn.close()
        return {r[0] for r in rows}

    assert await indexes() == {"ix_messages_body_trgm_cjk"}
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0003_search")
    assert await indexes() == {"ix_messages_body_trgm"}
    await upgrade_async(database_url)
    assert await indexes() == {"ix_messages_body_trgm_cjk"}
