"""Webhooks and slash commands in Chromium: a person sets up an incoming webhook in Settings, a tool
posts to its URL and the message appears; an administrator registers a slash command, runs it from
the composer and sees the ephemeral answer (docs/subsystems/integrations.md)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EServer, People, Person, people_of
from tests.integration_endpoint import run_endpoint
from tests.nodes import node_process


@pytest.fixture(scope="module")
async def hooks_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    log = tmp_path_factory.mktemp("e2e-hooks") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    # The slash command's endpoint is the test's own server on loopback: allow-listed here only.
    async with node_process(
        command, log, prefix="e2e_hooks", WEB_DIST=str(web_dist), OUTBOUND_ALLOW="127.0.0.1"
    ) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def people(browser: Browser, hooks_server: E2EServer) -> AsyncIterator[People]:
    async with people_of(browser, hooks_server) as make:
        yield make


async def open_settings(person: Person, section: str) -> None:
    await person.goto("/settings")
    await person.page.get_by_role("heading", name=section, exact=True).wait_for()


async def test_an_incoming_webhook_set_up_in_settings_posts_into_the_conversation(
    people: People, hooks_server: E2EServer, artifacts: Path
) -> None:
    ann = await people("hook")
    await ann.sign_up()
    async with httpx.AsyncClient(base_url=hooks_server.base_url, timeout=10) as api:
        auth = {"Authorization": f"Bearer {await ann.token()}"}
        r = await api.post("/conversations", headers=auth, json={"kind": "group", "name": "alerts", "member_ids": []})
        assert r.status_code == 201, r.text

        await open_settings(ann, "Webhooks")
        form = ann.page.get_by_role("form", name="New incoming webhook")
        await form.get_by_label("Webhook name").fill("Grafana")
        await form.get_by_role("button", name="Create webhook").click()
        url = (await ann.page.get_by_test_id("new-hook-url").inner_text()).strip()
        assert "/hooks/incoming/" in url and "tlh_" in url
        await expect(ann.page.get_by_test_id("incoming-hooks")).to_contain_text("Grafana")
        await ann.page.screenshot(path=str(artifacts / "integrations-webhook-url.png"))
        await ann.page.get_by_role("button", name="Done").click()
        assert url not in await ann.page.content()

        posted = await httpx.AsyncClient(timeout=10).post(
            url, json={"text": "CPU above 90%", "attachments": [{"title": "web-1", "text": "for 5 minutes"}]}
        )
        assert posted.status_code == 200, posted.text

    await ann.goto("/")
    await ann.open_conversation("alerts")
    await ann.wait_message("CPU above 90%")
    item = ann.page.locator("li[id^='m-']").filter(has_text="CPU above 90%")
    await expect(item.first).to_contain_text("Grafana")
    await expect(item.first).to_contain_text("for 5 minutes")
    await expect(item.first.get_by_title("This account is a bot")).to_have_text("BOT")
    await ann.page.screenshot(path=str(artifacts / "integrations-webhook-message.png"))


async def test_a_slash_command_runs_from_the_composer_and_answers_only_the_caller(
    people: People, hooks_server: E2EServer, artifacts: Path
) -> None:
    ann = await people("cmd")
    await ann.sign_up()
    db = await asyncpg.connect(hooks_server.database_url)
    try:
        await db.execute("UPDATE users SET is_admin = true WHERE handle = $1", ann.handle)
    finally:
        await db.close()
    async with run_endpoint() as endpoint, httpx.AsyncClient(base_url=hooks_server.base_url, timeout=10) as api:
        endpoint.answer("/weather", body={"response_type": "ephemeral", "text": "Sunny in Paris, 21 °C"})
        auth = {"Authorization": f"Bearer {await ann.token()}"}
        r = await api.post("/conversations", headers=auth, json={"kind": "group", "name": "lobby", "member_ids": []})
        assert r.status_code == 201, r.text

        await open_settings(ann, "Slash commands")
        form = ann.page.get_by_role("form", name="New slash command")
        await form.get_by_label("Command name").fill("weather")
        await form.get_by_label("Command URL").fill(endpoint.url("/weather"))
        await form.get_by_label("Description").fill("Today's forecast")
        await form.get_by_role("button", name="Register command").click()
        await expect(ann.page.get_by_test_id("slash-commands")).to_contain_text("/weather")

        await ann.goto("/")
        await ann.open_conversation("lobby")
        await ann.send("/weather Paris")
        answer = ann.page.get_by_test_id("command-answer")
        await expect(answer).to_contain_text("Sunny in Paris, 21 °C")
        await expect(answer).to_contain_text("Only you can see this")
        await ann.page.screenshot(path=str(artifacts / "integrations-slash-command.png"))
        (got,) = endpoint.received
        assert got.json()["command"] == "/weather" and got.json()["text"] == "Paris"
        # Nothing was posted to the conversation: the answer is the caller's alone.
        history = (await api.get(f"/conversations/{r.json()['id']}/messages", headers=auth)).json()["messages"]
        assert history == []
        await answer.get_by_role("button", name="Dismiss").click()
        await expect(answer).to_have_count(0)
