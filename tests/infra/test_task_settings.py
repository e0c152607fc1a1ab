"""The settings the stacks give each task, checked by Tipline itself.

Every container's environment and secret names are read from the synthesized templates; the values
CloudFormation fills in at deploy time (references, secrets) are replaced by placeholders; and the
result goes through docker/entrypoint.sh, which assembles DATABASE_URL and REDIS_URL from the parts
as in the task, into `tipline check --for <the task's command> --config-only`. A setting that a
feature needs and a stack forgets (the watcher's TipJar address, the media bucket, a URL the
entrypoint cannot assemble) fails here. --config-only because the stack's Redis is a cluster
(REDIS_CLUSTER=true) that this machine does not run; reaching a real database and Redis through the
same entrypoint is tested in tests/docker/test_container.py and tests/test_cli.py.

The sign-in page is then rendered, by the web client's own Vitest test, with the provider list the
server gives for the stack's OIDC_PROVIDERS.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import start_server
from tests.infra.conftest import PROD_CONTEXT, ROOT, Synth

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# What Secrets Manager would hand each task; characters that break a URL unless encoded included.
SECRET_PLACEHOLDERS = {
    "DB_HOST": "tipline-prod.cluster-placeholder.us-east-1.rds.amazonaws.com",
    "DB_PORT": "5432",
    "DB_NAME": "tipline",
    "DB_USER": "tipline",
    "DB_PASSWORD": "p@ss:w/rd%?#",
    "REDIS_AUTH_TOKEN": "tok/en+placeholder",
    "JWT_SECRET": "j" * 64,
    "METRICS_TOKEN": "m" * 48,
    "CHAIN_RPC_URL": "https://rpc.placeholder.example/v1/key",
}


def _resolve(value: Any) -> str:
    """A CloudFormation value as a string: joins are joined, anything resolved at deploy time becomes
    a placeholder made only of characters valid in a host name."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_resolve(p) for p in parts)
    return re.sub(r"[^a-z0-9]+", "-", json.dumps(value).lower()).strip("-")[:60]


def _containers(synth: Synth, env: str) -> dict[str, dict[str, Any]]:
    """The stateless stack's containers by command (serve, watcher, migrate)."""
    template = synth.template(env, "stateless")
    found: dict[str, dict[str, Any]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            (container,) = resource["Properties"]["ContainerDefinitions"]
            (command,) = container["Command"]
            found[command] = container
    return found


def _task_env(container: dict[str, Any]) -> dict[str, str]:
    values = {e["Name"]: _resolve(e["Value"]) for e in container.get("Environment", [])}
    for secret in container.get("Secrets", []):
        name = secret["Name"]
        assert name in SECRET_PLACEHOLDERS, f"the stack injects secret {name}: give it a placeholder here"
        values[name] = SECRET_PLACEHOLDERS[name]
    return values


def _check(task_env: dict[str, str], command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment in a folder with no .env: only what the task definition gives counts.
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        **task_env,
        "LOG_FORMAT": "text",
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "check", "--for", command, "--config-only"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_task_has_what_its_command_needs(synth: Synth, env: str, tmp_path: Path) -> None:
    containers = _containers(synth, env)
    tipping = env == "prod"  # PROD_CONTEXT names a TipJar; dev does not
    checked = {command: _check(_task_env(container), command, tmp_path) for command, container in containers.items()}
    failed = {command: done.stdout + done.stderr for command, done in checked.items() if done.returncode != 0}
    assert failed == {}
    # Without a TipJar the watcher (`tipline watcher` exits 2 without one) is not deployed at all.
    assert sorted(containers) == (["migrate", "serve", "watcher"] if tipping else ["migrate", "serve"])
    for command, done in checked.items():
        assert "ok   database: tipline-prod.cluster-placeholder" in done.stdout
        if command != "migrate":
            assert "ok   redis: " in done.stdout
        if command == "serve":
            assert "ok   config media: s3 bucket " in done.stdout
            assert "ok   config OIDC_PROVIDERS: cognito" in done.stdout
            # Email verification on (the default, never turned off by the stack), mail through SES.
            sender = "no-reply@chat.example.org" if tipping else "no-reply@mail.example.net"
            assert f"ok   config mail: ses, from {sender}" in done.stdout, done.stdout
            assert "EMAIL_VERIFICATION" not in _task_env(containers[command])
        if command in ("serve", "watcher"):
            expected = (
                f"ok   config tipping: on: chain 8453, TipJar {PROD_CONTEXT['tipContractAddress'].lower()}, ETH, USDC"
                if tipping
                else "ok   config tipping: off"
            )
            assert expected in done.stdout, done.stdout


def test_the_check_catches_a_setting_the_stack_forgets(synth: Synth, tmp_path: Path) -> None:
    """The harness itself: each of these omissions from a synthesized task fails the check."""
    containers = _containers(synth, "prod")
    watcher = _task_env(containers["watcher"])
    serve = _task_env(containers["serve"])
    for broken, command, line in (
        ({k: v for k, v in watcher.items() if k != "TIP_CONTRACT_ADDRESS"}, "watcher", "FAIL config tipping"),
        ({k: v for k, v in serve.items() if k != "CHAIN_RPC_URL"}, "serve", "FAIL config tipping"),
        ({k: v for k, v in serve.items() if k != "S3_BUCKET"}, "serve", "FAIL config media"),
        ({k: v for k, v in serve.items() if k != "DB_HOST"}, "serve", "FAIL database"),
        ({k: v for k, v in serve.items() if k != "REDIS_HOST"}, "serve", "FAIL redis"),
        # Verification links need a mail service and a sender on the SES identity's domain.
        ({k: v for k, v in serve.items() if k != "MAIL_FROM"}, "serve", "FAIL config mail: MAIL_BACKEND=ses needs"),
        ({k: v for k, v in serve.items() if k != "MAIL_BACKEND"}, "serve", "FAIL config mail: EMAIL_VERIFICATION"),
    ):
        done = _check(broken, command, tmp_path)
        assert done.returncode == 1 and line in done.stdout, done.stdout


async def test_sign_in_button_with_the_stacks_provider_names_it_once(synth: Synth, database_url: str) -> None:
    """OIDC_PROVIDERS as the stack sets it → the server's provider list → the web client's sign-in
    page (web/src/features/accounts/OidcSignIn.test.tsx renders it and reads the button)."""
    providers = _task_env(_containers(synth, "prod")["serve"])["OIDC_PROVIDERS"]
    async with (
        start_server(database_url, oidc_providers=providers) as srv,
        httpx.AsyncClient(base_url=srv.base_url, timeout=30) as client,
    ):
        listing = (await client.get("/auth/oidc/providers")).json()
    assert [p["name"] for p in listing] == ["cognito"]
    done = subprocess.run(
        ["npx", "vitest", "run", "src/features/accounts/OidcSignIn.test.tsx", "-t", "names each provider"],
        cwd=ROOT / "web",
        env={**os.environ, "TIPLINE_OIDC_PROVIDERS": json.dumps(listing), "CI": "1", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "1 passed" in done.stdout, done.stdout[-2000:]
