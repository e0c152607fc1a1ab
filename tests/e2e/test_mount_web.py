"""tipline.web.mount_web: the built client at /, never in the way of the server's own paths."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tipline.app import build_runtime, create_app
from tipline.config import Settings
from tipline.web import WebRoute, content_security_policy, mount_web

INDEX = "<!doctype html><title>Tipline</title>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "sw.js").write_text("self.addEventListener('fetch', () => {})")
    (tmp_path / "manifest.webmanifest").write_text("{}")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    return tmp_path


def make_app() -> FastAPI:
    # No build of its own: each test mounts the dist it made.
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=None, jwt_secret=None, web_dist=Path("/nonexistent/tipline-dist")
    )
    # The engine connects lazily; none of these requests touches the database.
    rt = build_runtime(settings, database_url="postgresql://localhost/unused", jwt_key=b"k" * 32)
    return create_app(rt)


@pytest.fixture
async def http(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app()
    mount_web(app, dist)
    async with httpx.AsyncClient(
        timeout=30, transport=httpx.ASGITransport(app=app), base_url="http://chat.test"
    ) as client:
        yield client


async def test_index_and_client_routes_get_the_shell_with_a_strict_csp(http: httpx.AsyncClient) -> None:
    for path in ("/", "/c/12", "/c/12/members", "/settings", "/signin"):
        r = await http.get(path)
        assert r.status_code == 200, path
        assert r.text == INDEX
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        csp = r.headers["content-security-policy"]
        assert csp == content_security_policy("chat.test")
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "connect-src 'self' ws://chat.test wss://chat.test",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
            "manifest-src 'self'",
            "worker-src 'self'",
        ):
            assert directive in csp
        assert "unsafe" not in csp
        # The app's other security headers still apply.
        assert r.headers["x-content-type-options"] == "nosniff"
    head = await http.head("/c/3")
    assert head.status_code == 200
    assert head.content == b""


async def test_assets_are_immutable_and_missing_files_are_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/assets/index-abc123.js")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in r.headers["content-type"]
    missing = ("/assets/index-gone.js", "/favicon.ico", "/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt")
    for path in missing:
        r = await http.get(path)
        assert r.status_code == 404, path
        assert INDEX not in r.text
    sw = await http.get("/sw.js")
    assert sw.status_code == 200
    assert sw.headers["cache-control"] == "no-cache"
    manifest = await http.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")


async def test_server_paths_are_never_shadowed(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/openapi.json")).json()["info"]["title"] == "Tipline"
    # /docs is the API's own Swagger UI page (tipline.api.apidocs), never the app shell; /redoc
    # is off, and the app shell does not answer in its place either.
    r = await http.get("/docs")
    assert r.status_code == 200 and 'id="swagger-ui"' in r.text and r.text != INDEX
    r = await http.get("/redoc")
    assert r.status_code == 404 and "<html" not in r.text.lower()
    assert (await http.get("/auth/signup")).status_code == 405
    for path in ("/conversations/12", "/me", "/users/3", "/messages/1", "/presence?ids=1", "/auth/nothing", "/ws"):
        r = await http.get(path)
        assert r.status_code in (401, 404, 405), path
        assert r.headers["content-type"].startswith("application/json"), path
        # The API's own policy (nothing loads, nothing frames), never the app shell's.
        assert r.headers["content-security-policy"].startswith("default-src 'none'"), path
    # Only GET and HEAD reach the client.
    assert (await http.post("/c/12")).status_code in (404, 405)


def test_mount_twice_mounts_once_and_a_missing_build_mounts_nothing(
    dist: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    mount_web(app, dist)
    mount_web(app, dist)
    assert sum(isinstance(r, WebRoute) for r in app.router.routes) == 1
    other = make_app()
    with caplog.at_level(logging.WARNING, logger="tipline.web"):
        mount_web(other, tmp_path / "no-such-dist")
    assert not any(isinstance(r, WebRoute) for r in other.router.routes)
    assert "npm run build" in caplog.text


def test_the_policy_ignores_a_host_header_that_is_not_a_host() -> None:
    assert "ws://" not in content_security_policy("evil.test; script-src *")
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")
