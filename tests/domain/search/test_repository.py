"""Search SQL on both databases Tipline runs on: the machine's PostgreSQL (pg_trgm available,
so substring search has a trigram index) and the embedded default (no contrib extensions: the
migration skips the index and the same ILIKE query still answers)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import asyncpg

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
