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
    r = tipline(
        "check", cwd=tmp_path, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, JWT_SECRET=JWT, SMTP_HOST="127.0.0.1"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   migrations: at head" in r.stdout and "ok   redis: reachable" in r.stdout
    assert "ok   config mail: 127.0.0.1" in r.stdout


def test_check_refuses_email_verification_without_a_mail_server(tmp_path: Path) -> None:
    """Verification links must reach someone: without SMTP_HOST they would only be written to disk."""
    env = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x", "JWT_SECRET": JWT}
    r = tipline("check", "--config-only", cwd=tmp_path, **env)
    assert r.returncode == 1 and "FAIL config mail: EMAIL_VERIFICATION is on but SMTP_HOST is not set" in r.stdout
    r = tipline("check", "--config-only", cwd=tmp_path, EMAIL_VERIFICATION="false", **env)
    assert r.returncode == 0, r.stdout + r.stderr


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


CONTRACT = "0x" + "ab" * 20
# Hosts that resolve nowhere: --config-only must not try them.
UNREACHABLE = {
    "DATABASE_URL": "postgresql://tipline:pw@db.invalid:5432/tipline",
    "REDIS_URL": "rediss://:token@redis.invalid:6379/0",
    "REDIS_CLUSTER": "true",
}


def test_check_config_only_passes_a_complete_deployment_without_contacting_it(tmp_path: Path) -> None:
    env = {
        **UNREACHABLE,
        "JWT_SECRET": JWT,
        "MEDIA_BACKEND": "s3",
        "S3_BUCKET": "tipline-media-prod",
        "CHAIN_RPC_URL": "https://rpc.example.org/v1/key",
        "TIP_CONTRACT_ADDRESS": CONTRACT,
        "TIP_TOKENS": "USDC:0x" + "cd" * 20 + ":6",
        "SMTP_HOST": "email-smtp.us-east-1.amazonaws.com",
    }
    for command in ("serve", "watcher", "migrate"):
        r = tipline("check", "--for", command, "--config-only", cwd=tmp_path, **env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ok   database: db.invalid:5432 (not contacted: --config-only)" in r.stdout
    r = tipline("check", "--config-only", cwd=tmp_path, **env)
    assert f"ok   config tipping: on: chain 31337, TipJar {CONTRACT}, ETH, USDC" in r.stdout
    assert "ok   config media: s3 bucket tipline-media-prod" in r.stdout


def test_check_config_only_fails_on_what_a_feature_needs_and_is_missing(tmp_path: Path) -> None:
    def check(command: str, **env: str) -> str:
        r = tipline(
            "check", "--for", command, "--config-only", cwd=tmp_path, **{**UNREACHABLE, "JWT_SECRET": JWT, **env}
        )
        assert r.returncode == 1, r.stdout
        return r.stdout

    # `tipline watcher` exits 2 without these: a deployment running it must have them.
    assert "FAIL config tipping: `tipline watcher` needs CHAIN_RPC_URL and TIP_CONTRACT_ADDRESS" in check("watcher")
    assert "FAIL config tipping: TIP_CONTRACT_ADDRESS is set but CHAIN_RPC_URL is not" in check(
        "serve", TIP_CONTRACT_ADDRESS=CONTRACT
    )
    # A secret still holding a generated placeholder instead of the node's URL.
    assert "FAIL config CHAIN_RPC_URL: not an http(s):// URL" in check(
        "watcher", TIP_CONTRACT_ADDRESS=CONTRACT, CHAIN_RPC_URL="Zx81kQ0pLm7TfY2vB9nR4sW6uE3aH5cJ"
    )
    assert "FAIL config media: MEDIA_BACKEND=s3 but S3_BUCKET is not set" in check("serve", MEDIA_BACKEND="s3")
    assert "FAIL redis: REDIS_CLUSTER is set but REDIS_URL is not" in check("serve", REDIS_URL="")
    assert "FAIL database: not a postgresql:// URL" in check("migrate", DATABASE_URL="mysql://db.invalid/x")


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


def test_a_proxy_trust_that_lets_clients_choose_their_address_is_refused(tmp_path: Path) -> None:
    # `*` makes uvicorn take X-Forwarded-For's leftmost entry, which the client writes.
    r = tipline("config", cwd=tmp_path, FORWARDED_ALLOW_IPS="10.0.0.1, *")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "invalid setting FORWARDED_ALLOW_IPS" in r.stderr and "FORWARDED_TRUSTED_HOPS" in r.stderr
    r = tipline("config", cwd=tmp_path, FORWARDED_ALLOW_IPS="10.0.0.1", FORWARDED_TRUSTED_HOPS="1")
    assert r.returncode == 1 and "not both" in r.stderr, r.stderr
    r = tipline("config", cwd=tmp_path, FORWARDED_TRUSTED_HOPS="1")
    assert r.returncode == 0 and "FORWARDED_TRUSTED_HOPS=1" in r.stdout, r.stderr


# --- tipline import / export (docs/subsystems/import.md) ----------------------------------------


def _import_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "MEDIA_DIR": str(tmp_path / "media")}


def test_import_and_export_mattermost_commands(database_url: str, tmp_path: Path) -> None:
    import json

    from tests.domain.imports.exports import build_mattermost

    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=50)
    env = _import_env(database_url, tmp_path)
    r = tipline("import", "mattermost", str(fx.path), "--json", cwd=tmp_path, **env)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["created"]["messages"] == fx.posts and summary["created"]["replies"] == fx.replies
    assert summary["created"]["files"] == fx.attachments
    # Not a terminal: no progress bar in the output.
    assert "\r" not in r.stderr
    again = tipline("import", "mattermost", str(fx.path), cwd=tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert f"messages: 0 imported, {fx.posts} already there" in again.stdout

    out = tmp_path / "out.jsonl"
    r = tipline("export", "mattermost", str(out), "--team", "acme", cwd=tmp_path, **env)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "users: 5" in r.stdout
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {"type": "version", "version": 1}


def test_import_refuses_a_malformed_file_and_writes_nothing(database_url: str, tmp_path: Path) -> None:
    from tests.domain.imports.exports import build_mattermost

    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=5, raw_lines=[b'{"type": "post", "post": {'])
    n = len(fx.path.read_bytes().splitlines())
    r = tipline("import", "mattermost", str(fx.path), cwd=tmp_path, **_import_env(database_url, tmp_path))
    assert r.returncode == 2
    assert f"error: import.jsonl:{n}: malformed JSON" in r.stderr
    r = tipline("import", "slack", str(tmp_path / "missing.zip"), cwd=tmp_path, **_import_env(database_url, tmp_path))
    assert r.returncode == 2 and "not a readable ZIP archive" in r.stderr


async def test_a_killed_import_carries_on_where_it_stopped(database_url: str, tmp_path: Path) -> None:
    """SIGKILL mid-import (no clean-up at all), then the same command again: every message once,
    seqs gap-free."""
    import signal
    import time

    from tests.domain.imports.exports import build_mattermost

    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=6000, teams=1)
    expected = fx.posts + fx.replies
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **_import_env(database_url, tmp_path)}
    cmd = [sys.executable, "-m", "tipline.cli", "import", "mattermost", str(fx.path), "--batch-size", "500"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 60
        while (n := await conn.fetchval("SELECT count(*) FROM messages")) < 1000:
            assert proc.poll() is None and time.monotonic() < deadline, "the import ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        partial = await conn.fetchval("SELECT count(*) FROM messages")
        assert n <= partial < expected and partial % 500 == 0  # whole batches only
        r = tipline("import", "mattermost", str(fx.path), cwd=tmp_path, **_import_env(database_url, tmp_path))
        assert r.returncode == 0, r.stderr
        assert await conn.fetchval("SELECT count(*) FROM messages") == expected
        gaps = await conn.fetchval(
            "SELECT count(*) FROM (SELECT conversation_id, seq, row_number() OVER (PARTITION BY conversation_id "
            "ORDER BY seq) AS n FROM messages) t WHERE seq <> n"
        )
        assert gaps == 0
        dupes = await conn.fetchval(
            "SELECT count(*) FROM (SELECT client_msg_id FROM messages GROUP BY 1 HAVING count(*) > 1) t"
        )
        assert dupes == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        await conn.close()


def test_the_server_sends_no_transport_pings_and_keeps_the_documented_limits() -> None:
    """docs/protocol.md (Heartbeats and timeouts): no WebSocket-level pings from the server; the
    client's heartbeat and the idle sweeper find dead peers."""
    from starlette.applications import Starlette

    from tests.conftest import make_settings
    from tipline.cli import _uvicorn_config

    settings = make_settings(ws_max_frame_bytes=65_536)
    config = _uvicorn_config(settings, Starlette())
    assert config.ws_ping_interval is None and config.ws_ping_timeout is None
    assert config.ws_max_size == 65_536 and config.timeout_graceful_shutdown == settings.shutdown_close_s
