"""Operator commands run as a real process: `tipline check` and `tipline admin create`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_URL, _with_db, free_port
from tipline.storage.migrate import upgrade_async

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def tipline(*args: str, cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    # A clean environment (and a directory with no .env): only what the test gives counts.
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LOG_FORMAT": "text"}
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", *args],
        cwd=cwd,
        env={**base, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


JWT = "x" * 40


def test_check_passes_on_a_good_setup(database_url: str, tmp_path: Path) -> None:
    r = tipline("check", cwd=tmp_path, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, JWT_SECRET=JWT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   migrations: at head" in r.stdout and "ok   redis: reachable" in r.stdout


def test_check_fails_on_each_problem(tmp_path: Path) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    r = tipline(
        "check",
        cwd=tmp_path,
        DATABASE_URL=dead,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        JWT_SECRET="short",
        OIDC_PROVIDERS='[{"name": "x", "issuer": "http://idp.example.com", "client_id": "c"}]',
    )
    assert r.returncode == 1
    for line in (
        "FAIL config JWT_SECRET",
        "FAIL config OIDC_PROVIDERS: OIDC provider x: issuer must be an https:// URL",
        "FAIL database: unreachable",
        "FAIL redis: unreachable",
    ):
        assert line in r.stdout, r.stdout


async def test_check_fails_when_migrations_are_behind(tmp_path: Path) -> None:
    name = f"tipline_cli_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _with_db(ADMIN_URL, name)
        await upgrade_async(url, "0001")
        r = tipline("check", cwd=tmp_path, DATABASE_URL=url, JWT_SECRET=JWT)
        assert r.returncode == 1
        assert "FAIL migrations: at 0001" in r.stdout and "run `tipline migrate`" in r.stdout
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_admin_create_reads_the_password_from_stdin(
    api: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    password = "correct horse battery staple 9"
    r = tipline(
        "admin", "create", "--email", "Root@Example.com", cwd=tmp_path, stdin=password + "\n", DATABASE_URL=database_url
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("created admin @root <root@example.com>")
    assert password not in r.stdout + r.stderr
    signed = await api.post("/auth/signin", json={"email": "root@example.com", "password": password})
    assert signed.status_code == 200 and signed.json()["user"]["is_admin"] is True
    # Again for an existing account: promoted (already admin), password untouched.
    r = tipline("admin", "create", "--email", "root@example.com", cwd=tmp_path, DATABASE_URL=database_url)
    assert r.returncode == 0 and r.stdout.startswith("promoted admin @root")


async def test_admin_create_promotes_an_existing_user(
    api: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    from tests.helpers import signup

    user = await signup(api)
    assert (await api.get("/me", headers=user.headers)).json()["is_admin"] is False
    r = tipline("admin", "create", "--email", user.email, cwd=tmp_path, DATABASE_URL=database_url)
    assert r.returncode == 0 and "promoted" in r.stdout
    assert (await api.get("/me", headers=user.headers)).json()["is_admin"] is True


@pytest.mark.parametrize("stdin", ["", "short\n"])
def test_admin_create_refuses_a_missing_or_weak_password(database_url: str, tmp_path: Path, stdin: str) -> None:
    r = tipline("admin", "create", "--email", "weak@example.com", cwd=tmp_path, stdin=stdin, DATABASE_URL=database_url)
    assert r.returncode == 1 and r.stderr.startswith("error: ")


def test_password_is_never_an_argument(tmp_path: Path) -> None:
    r = tipline("admin", "create", "--email", "a@example.com", "--password", "hunter2hunter2", cwd=tmp_path)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
