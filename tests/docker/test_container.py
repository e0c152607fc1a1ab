"""The container files: Dockerfile and compose.yaml pass their linters (hadolint, dclint), and the
image's entrypoint runs as a plain process against the test PostgreSQL and Redis (the image itself
cannot be built on this machine: no registry for base images)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import yaml

from tests.conftest import ADMIN_URL, free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _tool(name: str, *candidates: Path) -> str:
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed: run `source scripts/lib.sh && ensure_infra_tools`"
    return found


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint", Path(sys.executable).parent / "hadolint")
    done = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_non_root_with_health_check() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages[0].startswith("FROM node:") and stages[-1].startswith("FROM python:") and "slim" in stages[-1]
    (user,) = [line for line in lines if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/readyz" in (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["tipline-entrypoint"]' in lines
    assert any("uv sync --locked --no-dev" in line for line in lines)
    # The image resolves the lock with the same uv as scripts/lib.sh.
    (lib_uv,) = re.findall(r"^UV_VERSION=(\S+)$", (ROOT / "scripts" / "lib.sh").read_text(), re.M)
    assert f"RUN pip install --no-cache-dir uv=={lib_uv}" in lines


def test_compose_passes_dclint_and_runs_the_whole_stack() -> None:
    dclint = _tool("dclint", ROOT / ".cache" / "npm-tools" / "node_modules" / ".bin" / "dclint")
    done = subprocess.run([dclint, "compose.yaml"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"tipline", "postgres", "redis", "minio"} <= set(services)
    tipline = services["tipline"]
    assert tipline["build"] == "."
    assert tipline["environment"]["MEDIA_BACKEND"] == "s3"
    assert tipline["environment"]["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert set(tipline["depends_on"]) >= {"postgres", "redis"}


def _entrypoint_env(db_name: str, port: int) -> dict[str, str]:
    admin = urlsplit(ADMIN_URL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DB_"))}
    redis = urlsplit(TEST_REDIS_URL)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DB_HOST=admin.hostname or "127.0.0.1",
        DB_PORT=str(admin.port or 5432),
        DB_NAME=db_name,
        DB_USER=admin.username or "postgres",
        # Characters that break a URL unless encoded (the local server trusts, so any password works).
        DB_PASSWORD=admin.password or "p@ss:w/rd%?#",
        REDIS_HOST=redis.hostname or "127.0.0.1",
        REDIS_PORT=str(redis.port or 6379),
        BUS_CHANNEL_PREFIX=f"tipline-test-entrypoint-{secrets.token_hex(4)}:",
        JWT_SECRET=secrets.token_urlsafe(48),
        HOST="127.0.0.1",
        PORT=str(port),
        DATA_DIR=str(ROOT / ".cache" / "entrypoint-test"),
        LOG_LEVEL="warning",
    )
    return env


def test_entrypoint_assembles_urls_with_encoded_credentials() -> None:
    env = _entrypoint_env("tipline", 8000)
    env.update(DB_PASSWORD="p@ss:w/rd%?#", REDIS_AUTH_TOKEN="tok/en+", REDIS_TLS="true")
    done = subprocess.run(["sh", str(ENTRYPOINT), "/usr/bin/env"], env=env, capture_output=True, text=True, check=True)
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert seen["DATABASE_URL"].endswith(f":p%40ss%3Aw%2Frd%25%3F%23@{env['DB_HOST']}:{env['DB_PORT']}/tipline")
    assert seen["REDIS_URL"] == f"rediss://:tok%2Fen%2B@{env['REDIS_HOST']}:{env['REDIS_PORT']}/0"
    # A whole URL given by the operator wins over the parts.
    env["DATABASE_URL"] = "postgresql://given@db/x"
    done = subprocess.run(["sh", str(ENTRYPOINT), "/usr/bin/env"], env=env, capture_output=True, text=True, check=True)
    assert "DATABASE_URL=postgresql://given@db/x" in done.stdout.splitlines()


@contextlib.asynccontextmanager
async def _fresh_database() -> AsyncIterator[str]:
    """An empty database of the test's own (not migrated: the entrypoint is what migrates it)."""
    name = f"tipline_entrypoint_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield name
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_entrypoint_migrate_applies_migrations_and_exits() -> None:
    async with _fresh_database() as name:
        done = await asyncio.to_thread(
            subprocess.run,
            ["sh", str(ENTRYPOINT), "migrate"],
            env=_entrypoint_env(name, free_port()),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "migrations applied" in done.stdout


async def test_entrypoint_migrates_then_serves_ready() -> None:
    async with _fresh_database() as name:
        port = free_port()
        proc = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "all"],
            env=_entrypoint_env(name, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            body: dict[str, object] = {}
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient(timeout=30, base_url=f"http://127.0.0.1:{port}") as client:
                while time.monotonic() < deadline and proc.poll() is None:
                    try:
                        r = await client.get("/readyz")
                        if r.status_code == 200:
                            body = r.json()
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.3)
            assert body == {"status": "ready", "checks": {"accepting": True, "bus": True, "database": True}}, (
                proc.stdout.read() if proc.poll() is not None and proc.stdout else "server did not get ready"
            )
            conn = await asyncpg.connect(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
            try:
                assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1  # `all` migrated first
            finally:
                await conn.close()
            # exec'd: the signal reaches tipline itself, which drains and exits (uvicorn re-raises it at the end)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) in (0, -signal.SIGTERM)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
