"""The outgoing-webhook worker's scan and the Slack rendering, through the domain's functions
against real PostgreSQL (docs/subsystems/integrations.md)."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import Server
from tests.helpers import create_conversation, send_http, signup
from tipline.domain.integrations.render import render
from tipline.domain.integrations.schemas import SlackAttachment, SlackField
from tipline.domain.integrations.worker import scan, trigger_word


def test_trigger_words_match_the_first_word_only() -> None:
    assert trigger_word([], "anything") == ""
    assert trigger_word(["!deploy"], "!Deploy main") == "!deploy"
    assert trigger_word(["!deploy"], "please !deploy") is None
    assert trigger_word(["!deploy"], "   ") is None


def test_slack_attachments_render_as_markdown() -> None:
    attachment = SlackAttachment(
        pretext="pre",
        title="T",
        title_link="https://x.example/t",
        text="body <https://x.example|x> and <!here>",
        fields=[SlackField(title="A", value="1"), SlackField(value="plain")],
    )
    assert render("hi", [attachment]) == (
        "hi\n\npre\n**[T](https://x.example/t)**\nbody [x](https://x.example) and <!here>\n**A**: 1\nplain"
    )
    assert render("", [SlackAttachment(fallback="only fallback")]) == "only fallback"
    assert render("x", [], username="Tool") == "**Tool**: x"
    # A link to anything but http(s) stays as written.
    assert render("<javascript:alert(1)|click>") == "<javascript:alert(1)|click>"
    assert render("", []) == ""


async def test_scan_makes_each_delivery_once_and_moves_the_cursor(api: httpx.AsyncClient, server: Server) -> None:
    # The node's own worker would scan and deliver too: stopped for this test.
    assert server.node.webhooks is not None
    await server.node.webhooks.stop()
    try:
        ann = await signup(api)
        conv = await create_conversation(api, ann)
        r = await api.post(
            f"/conversations/{conv['id']}/webhooks/outgoing",
            headers=ann.headers,
            json={"name": "All", "url": "http://192.0.2.1/never"},
        )
        assert r.status_code == 201, r.text
        for i in range(3):
            assert (await send_http(api, ann, conv["id"], f"m{i}")).status_code == 201
        assert await scan(server.rt) == 3
        assert await scan(server.rt) == 0  # the cursor moved in the same transaction
        db = await asyncpg.connect(server.database_url)
        try:
            rows = await db.fetch("SELECT message_id, attempts, delivered_at FROM webhook_deliveries ORDER BY id")
            cursor = await db.fetchval("SELECT cursor_seq FROM outgoing_webhooks")
            last_seq = await db.fetchval("SELECT last_seq FROM conversations WHERE id = $1", conv["id"])
        finally:
            await db.close()
        assert len(rows) == 3 and all(r["attempts"] == 0 and r["delivered_at"] is None for r in rows)
        assert cursor == last_seq
    finally:
        server.node.webhooks.start()
