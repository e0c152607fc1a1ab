"""A real OpenID Connect provider (npm oidc-provider, tests/oidc/provider) on loopback, and a browser driver.

The provider's development interactions are real HTML forms (login, then consent); `drive` fills
them in the way a person would, following redirects with one cookie jar like a browser, and stops
at the redirect back to Tipline so a test can look at (or tamper with) it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

PROVIDER_DIR = Path(__file__).parent / "provider"
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]


def ensure_installed() -> None:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True)


@contextlib.asynccontextmanager
async def run_provider(
    port: int,
    *,
    clients: list[dict[str, object]],
    accounts: dict[str, dict[str, object]] | None = None,
    jwks: dict[str, object] | None = None,
    clock_offset_s: int = 0,
    id_token_ttl_s: int = 3600,
) -> AsyncIterator[Provider]:
    ensure_installed()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PORT": str(port),
        "CLIENTS": json.dumps(clients),
        "ACCOUNTS": json.dumps(accounts or {}),
        "JWKS": json.dumps(jwks) if jwks else "",
        "CLOCK_OFFSET_S": str(clock_offset_s),
        "ID_TOKEN_TTL_S": str(id_token_ttl_s),
        "NODE_ENV": "test",
    }
    proc = subprocess.Popen(
        ["node", "server.mjs"], cwd=PROVIDER_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.startswith(b"listening "), line
        yield Provider(issuer=line.split()[1].decode(), process=proc)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


def _form(page: str) -> tuple[str, dict[str, str]]:
    action = FORM_ACTION.search(page)
    assert action is not None, page[:500]
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(page)}
    return html.unescape(action.group(1)), fields


async def drive(browser: httpx.AsyncClient, url: str, *, stop_at: str, login: str) -> str:
    """Follow ``url`` through the provider's login and consent pages; return the URL it sends the browser
    to under ``stop_at`` (Tipline's callback), without requesting it."""
    method, data = "GET", None
    for _ in range(20):
        response = await browser.request(method, url, data=data, follow_redirects=False)
        method, data = "GET", None
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if url.startswith(stop_at):
                return url
            continue
        assert response.status_code == 200, (response.status_code, response.text[:500])
        action, fields = _form(response.text)
        if 'name="login"' in response.text:
            fields.update({"prompt": "login", "login": login, "password": "any"})
        else:
            fields.setdefault("prompt", "consent")
        method, data, url = "POST", fields, urljoin(url, action)
    raise AssertionError("the provider never redirected back")
