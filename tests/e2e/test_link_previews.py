"""Link previews in Chromium with two people: a link's preview appears under the message in both
browsers, its image served by Tipline, and the sender removes it for everyone
(docs/subsystems/previews.md)."""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EServer, People, people_of
from tests.e2e.test_timeline import group_of, message_item, two_people
from tests.integration_endpoint import run_endpoint
from tests.nodes import node_process


@pytest.fixture(scope="module")
async def previews_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    log = tmp_path_factory.mktemp("e2e-previews") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    # The linked site is the test's own server on loopback: allow-listed here only.
    async with node_process(
        command,
        log,
        prefix="e2e_previews",
        WEB_DIST=str(web_dist),
        OUTBOUND_ALLOW="127.0.0.1",
        LINK_PREVIEWS="true",
        LINK_PREVIEW_POLL_S="0.2",
    ) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def people(browser: Browser, previews_server: E2EServer) -> AsyncIterator[People]:
    async with people_of(browser, previews_server) as make:
        yield make


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def test_a_preview_appears_for_both_and_the_sender_removes_it(
    people: People, previews_server: E2EServer, artifacts: Path
) -> None:
    ann, bob = await two_people(people)
    cid = await group_of(previews_server, ann, bob, "Links")
    async with run_endpoint() as site:
        site.answer("/cover.png", 200, png(), {"content-type": "image/png"})
        html = (
            "<html><head><title>ignored</title>"
            '<meta property="og:title" content="The launch plan">'
            '<meta property="og:description" content="Everything about Thursday">'
            '<meta property="og:site_name" content="Plans Weekly">'
            '<meta property="og:image" content="/cover.png">'
            "</head><body></body></html>"
        )
        site.answer("/plan", 200, html.encode(), {"content-type": "text/html"})
        for p in (ann, bob):
            await p.goto(f"/c/{cid}")
            await p.page.get_by_test_id("composer").wait_for()
        link = site.url("/plan")
        await ann.send(f"read {link} before the call")
        for p in (ann, bob):
            card = message_item(p, "before the call").get_by_test_id("link-preview")
            await expect(card).to_be_visible(timeout=15_000)
            await expect(card.get_by_role("link", name="The launch plan")).to_have_attribute("href", link)
            await expect(card).to_contain_text("Everything about Thursday")
            await expect(card).to_contain_text("Plans Weekly")
            image = card.get_by_test_id("preview-image")
            await expect(image).to_be_visible()
            # Drawn from Tipline's copy, never from the linked site.
            src = await image.get_attribute("src")
            assert src is not None and src.startswith(previews_server.base_url) and site.base_url not in src
            assert await image.evaluate("(img) => img.complete && img.naturalWidth > 0")
        assert [r.path for r in site.received] == ["/plan", "/cover.png"]
        await bob.page.screenshot(path=str(artifacts / "link-preview.png"))

        # Only the sender has the remove button; removing it takes it away in both browsers.
        await expect(
            message_item(bob, "before the call").get_by_role("button", name="Remove preview of The launch plan")
        ).to_have_count(0)
        await (
            message_item(ann, "before the call").get_by_role("button", name="Remove preview of The launch plan").click()
        )
        for p in (ann, bob):
            await expect(message_item(p, "before the call").get_by_test_id("link-preview")).to_have_count(0)
        # And it stays gone after a reload (history carries the previews).
        await bob.page.reload()
        await bob.wait_message("before the call")
        await expect(message_item(bob, "before the call").get_by_test_id("link-preview")).to_have_count(0)
