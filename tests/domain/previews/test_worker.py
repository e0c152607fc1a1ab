"""The link preview worker's scan: new messages with links become jobs once, and a message that
commits after a higher id was read is still found (docs/subsystems/previews.md, Off the send path)."""

from __future__ import annotations

import asyncpg
import httpx
from sqlalchemy import select

from tests.conftest import start_server
from tests.helpers import create_conversation, send_http, signup
from tipline.domain.previews.models import link_preview_jobs
from tipline.domain.previews.worker import scan


async def test_scan_queues_each_message_with_links_once_and_finds_late_commits(database_url: str) -> None:
    # The worker is off: the test turns the scan itself.
    async with start_server(database_url) as srv, httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api:
        ann = await signup(api)
        cid = (await create_conversation(api, ann, "group", []))["id"]
        # The late message's own conversation: its open transaction holds that row's key lock.
        other = (await create_conversation(api, ann, "group", [], name="other"))["id"]
        await scan(srv.rt)  # the cursor starts here
        first = (await send_http(api, ann, cid, "see https://a.example/1 and https://b.example/2")).json()["message_id"]
        await send_http(api, ann, cid, "no link here")

        # A transaction that takes a message id now and commits only after a higher id was read.
        late = await asyncpg.connect(database_url)
        tx = late.transaction()
        await tx.start()
        late_id = await late.fetchval(
            "INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, body) "
            "VALUES ($1, 1000, $2, 'late', 'late https://c.example/3') RETURNING id",
            other,
            ann.id,
        )
        after = (await send_http(api, ann, cid, "https://d.example/4")).json()["message_id"]
        assert first < late_id < after

        queued, seen = await scan(srv.rt)
        assert queued == 2 and seen >= after
        await tx.commit()
        await late.close()
        # A turn reading only above what it saw misses the late one; the full window finds it.
        assert (await scan(srv.rt, seen=seen))[0] == 0
        assert (await scan(srv.rt))[0] == 1
        assert (await scan(srv.rt))[0] == 0  # nothing is queued twice

        async with srv.rt.engine.connect() as conn:
            rows = (await conn.execute(select(link_preview_jobs).order_by(link_preview_jobs.c.message_id))).mappings()
            jobs = {r["message_id"]: list(r["urls"]) for r in rows}
        assert jobs == {
            first: ["https://a.example/1", "https://b.example/2"],
            late_id: ["https://c.example/3"],
            after: ["https://d.example/4"],
        }
