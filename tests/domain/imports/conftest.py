"""A fresh, migrated database per test (copied from a template migrated once), and a runtime on it
with local media in the test's own folder: an import is judged by what it leaves in an empty
database, and the round trip needs a second one."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import ADMIN_URL, _with_db, make_settings
from tipline.app import build_runtime
from tipline.runtime import Runtime
from tipline.storage.migrate import upgrade_async

FreshDb = Callable[[], Awaitable[str]]


@pytest.fixture(scope="session")
async def import_template() -> AsyncIterator[str]:
    name = f"tipline_imp_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await upgrade_async(_with_db(ADMIN_URL, name))
    yield name
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def fresh_db(import_template: str) -> AsyncIterator[FreshDb]:
    made: list[str] = []

    async def make() -> str:
        name = f"tipline_imp_{os.getpid()}_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{import_template}"')
        finally:
            await admin.close()
        made.append(name)
        return _with_db(ADMIN_URL, name)

    yield make
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


MakeRt = Callable[[str], Runtime]


@pytest.fixture
async def make_rt(tmp_path: Path) -> AsyncIterator[MakeRt]:
    made: list[Runtime] = []

    def make(url: str) -> Runtime:
        media = tmp_path / f"media-{len(made)}"
        rt = build_runtime(
            make_settings(media_dir=media, public_url="http://127.0.0.1:9"),
            database_url=url,
            jwt_key=secrets.token_bytes(64),
        )
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.engine.dispose()


@pytest.fixture
async def db_url(fresh_db: FreshDb) -> str:
    return await fresh_db()


@pytest.fixture
def rt(make_rt: MakeRt, db_url: str) -> Runtime:
    return make_rt(db_url)


async def fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def count(url: str, table: str) -> int:
    rows = await fetch(url, f"SELECT count(*) AS n FROM {table}")
    return int(rows[0]["n"])
