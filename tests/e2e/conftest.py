"""End-to-end fixtures: a real Tipline (own PostgreSQL database) serving the built web client,
and Debian's Chromium driven by Playwright.

- The server is a subprocess (tests/e2e/launcher.py: create_app + mount_web, migrations first)
  on a free port, with cheap argon2 settings and a database of its own, dropped afterwards.
- The client is web/dist; it is built (`npm run build`) when missing or older than its sources.
- Chromium is /usr/bin/chromium (TIPLINE_E2E_CHROMIUM to override), headless, with a fresh
  temporary profile per launch; Playwright never downloads a browser.
- Every page records console errors and uncaught exceptions; a test fails if any appeared.

Playwright's async API runs on the suite's session event loop (pytest-asyncio): its sync API
keeps a loop of its own running on the test thread, which the suite's async fixtures refuse.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, async_playwright

from tests.nodes import node_process

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DIST = WEB / "dist"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("TIPLINE_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long enough passphrase 42"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}


def _newest_source_mtime() -> float:
    newest = 0.0
    for path in [WEB / "index.html", WEB / "vite.config.ts", WEB / "package-lock.json"]:
        newest = max(newest, path.stat().st_mtime)
    for folder in (WEB / "src", WEB / "public", WEB / "build"):
        for path in folder.rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


@pytest.fixture(scope="session")
def web_dist() -> Path:
    index = DIST / "index.html"
    if index.exists() and index.stat().st_mtime >= _newest_source_mtime():
        return DIST
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("web/dist is missing or stale and npm is not installed: run `cd web && npm ci && npm run build`")
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)
    return DIST


@dataclass
class E2EServer:
    base_url: str
    database_url: str
    log: Path


@pytest.fixture(scope="session")
async def e2e_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    log = tmp_path_factory.mktemp("e2e") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    async with node_process(command, log, prefix="e2e", WEB_DIST=str(web_dist)) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`apt-get install -y chromium`)")
    async with async_playwright() as p:
        # launch() gives every run a fresh temporary profile (user-data dir), removed on close.
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Person:
    """One user in one browser context."""

    handle: str
    context: BrowserContext
    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    # Console errors a test expects (regular expressions), e.g. the browser's own log line
    # for a 401 the test provokes on purpose.
    expected_errors: list[str] = field(default_factory=list)

    @property
    def email(self) -> str:
        return f"{self.handle}@example.com"

    @property
    def display_name(self) -> str:
        return self.handle.capitalize()

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def sign_up(self) -> None:
        await self.goto("/signup")
        await self.page.get_by_label("Display name").fill(self.display_name)
        await self.page.get_by_label("Handle").fill(self.handle)
        await self.page.get_by_label("Email").fill(self.email)
        await self.page.get_by_label("Password").fill(PASSWORD)
        await self.page.get_by_role("button", name="Create account").click()
        await self.page.get_by_test_id("new-conversation").wait_for()

    async def sign_in(self) -> None:
        await self.goto("/signin")
        await self.page.get_by_label("Email").fill(self.email)
        await self.page.get_by_label("Password").fill(PASSWORD)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.get_by_test_id("new-conversation").wait_for()

    async def open_dm(self, other: Person) -> None:
        await self.page.get_by_test_id("new-conversation").click()
        await self.page.get_by_label("Their handle").fill("@" + other.handle)
        await self.page.get_by_role("button", name="Open conversation").click()
        await self.page.get_by_test_id("composer").wait_for()

    async def open_conversation(self, title: str) -> None:
        await self.page.get_by_test_id("conversation-row").filter(has_text=title).first.click()
        await self.page.get_by_test_id("composer").wait_for()

    async def send(self, text: str) -> None:
        await self.page.get_by_test_id("composer").fill(text)
        await self.page.get_by_test_id("composer").press("Enter")

    def message(self, text: str) -> Locator:
        return self.page.get_by_test_id("message-body").filter(has_text=text)

    async def wait_message(self, text: str, timeout: float = 10_000) -> None:
        await self.message(text).first.wait_for(timeout=timeout)

    async def bodies(self) -> list[str]:
        texts = await self.page.get_by_test_id("message-body").all_inner_texts()
        return [t.strip() for t in texts]

    async def token(self) -> str:
        session: dict[str, Any] = await self.page.evaluate("() => JSON.parse(localStorage.getItem('tipline.session'))")
        return str(session["accessToken"])


People = Callable[..., Awaitable[Person]]


@pytest.fixture
async def people(browser: Browser, e2e_server: E2EServer) -> AsyncIterator[People]:
    async with people_of(browser, e2e_server) as make:
        yield make


@contextlib.asynccontextmanager
async def people_of(browser: Browser, server: E2EServer) -> AsyncIterator[People]:
    """People on ``server`` (a module with a server of its own makes its own ``people`` with this)."""
    made: list[Person] = []

    async def make(prefix: str, viewport: dict[str, int] | None = None, **options: Any) -> Person:
        context = await browser.new_context(viewport=viewport or DESKTOP, **options)
        page = await context.new_page()
        person = Person(handle=f"{prefix}{uuid.uuid4().hex[:8]}", context=context, page=page, base_url=server.base_url)

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                text = f"console: {msg.text} @ {msg.location.get('url', '')}"
                if not any(re.search(p, text) for p in person.expected_errors):
                    person.errors.append(text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: person.errors.append(f"pageerror: {exc}"))
        made.append(person)
        return person

    yield make
    errors = {p.handle: p.errors for p in made if p.errors}
    for p in made:
        with contextlib.suppress(Exception):
            await p.context.close()
    assert not errors, f"console errors in the browser: {errors}"
