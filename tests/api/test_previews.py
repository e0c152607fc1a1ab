"""Link previews against real local HTTP servers: attached after the send, live and in history;
the image stored and served by Tipline; the outbound guard's refusals; size and time caps; the
setting; removal by the sender only (docs/subsystems/previews.md)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from PIL import Image

from tests.api.test_server_settings import make_admin
from tests.conftest import Server, start_server
from tests.helpers import PASSWORD, User, Ws, create_conversation, is_event, send_http, signup
from tests.integration_endpoint import run_endpoint
from tipline.domain.serversettings.actions import do_apply_retention

HTML = {"content-type": "text/html; charset=utf-8"}


def png(size: int = 64, *, noisy: bool = False) -> bytes:
    img = (
        Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
        if noisy
        else Image.new("RGB", (size, size), (200, 30, 30))
    )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def page(
    title: str, *, image: str | None = None, description: str = "What this page is about", extra: str = ""
) -> bytes:
    tags = [
        f'<meta property="og:title" content="{title}">',
        f'<meta property="og:description" content="{description}">',
        '<meta property="og:site_name" content="Example Site">',
    ]
    if image is not None:
        tags.append(f'<meta property="og:image" content="{image}">')
    head = "".join(tags)
    return f"<!doctype html><html><head><title>plain title</title>{head}</head><body>{extra}</body></html>".encode()


@contextlib.asynccontextmanager
async def previewing(database_url: str, **overrides: Any) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    settings: dict[str, Any] = {"link_previews": True, "outbound_allow": "127.0.0.1", "link_preview_poll_s": 0.1}
    settings.update(overrides)
    async with (
        start_server(database_url, **settings) as srv,
        httpx.AsyncClient(timeout=30, base_url=srv.base_url) as api,
    ):
        yield srv, api


async def two_members(api: httpx.AsyncClient) -> tuple[User, User, int]:
    ann, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, ann, "group", [bob]))["id"]
    return ann, bob, cid


async def message(api: httpx.AsyncClient, user: User, mid: int) -> dict[str, Any]:
    r = await api.get(f"/messages/{mid}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def send(api: httpx.AsyncClient, user: User, cid: int, body: str) -> int:
    r = await send_http(api, user, cid, body)
    assert r.status_code == 201, r.text
    mid: int = r.json()["message_id"]
    return mid


async def settle(srv: Server) -> None:
    """One complete turn of the worker: scan, and every job it starts finished."""
    assert srv.node.previews is not None
    await srv.node.previews.run_once()


async def test_a_preview_is_attached_live_in_history_and_replay_with_its_image_served_by_tipline(
    database_url: str,
) -> None:
    async with run_endpoint() as site, previewing(database_url) as (srv, api):
        site.answer("/pic.png", 200, png(), {"content-type": "image/png"})
        site.answer("/article", 200, page("Tipline &amp; friends", image="/pic.png"), HTML)
        ann, bob, cid = await two_members(api)
        outsider = await signup(api)
        ws = await Ws.open(srv.ws_url, bob)
        try:
            mid = await send(api, ann, cid, f"read this: {site.url('/article')}.")
            event = await ws.expect(is_event("preview.added", message_id=mid), timeout=10)
        finally:
            await ws.close()
        assert isinstance(event["seq"], int) and event["conversation_id"] == cid
        (preview,) = event["data"]["previews"]
        assert preview["url"] == site.url("/article")  # the sentence's full stop is not the link's
        assert preview["title"] == "Tipline & friends"
        assert preview["description"] == "What this page is about" and preview["site_name"] == "Example Site"
        assert preview["image"] == {"width": 64, "height": 64}
        # Fetched once each, with no cookies and Tipline's own user agent.
        assert [r.path for r in site.received] == ["/article", "/pic.png"]
        assert all("cookie" not in r.headers for r in site.received)

        # History, the message itself and replay carry it.
        page_ = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()
        assert [m["previews"] for m in page_["messages"] if m["id"] == mid] == [[preview]]
        assert (await message(api, ann, mid))["previews"] == [preview]
        replay = (await api.get(f"/conversations/{cid}/events?since=0", headers=bob.headers)).json()["events"]
        added = [e for e in replay if e["event"] == "preview.added"]
        assert added and added[0]["data"]["previews"] == [preview]
        created = [e for e in replay if e["event"] == "message.created" and e["data"]["id"] == mid]
        assert created[0]["data"]["previews"] == [preview]

        # The image is Tipline's copy, re-encoded, behind a member-only signed URL.
        r = await api.get(f"/previews/{preview['id']}/image", headers=bob.headers)
        assert r.status_code == 200, r.text
        url = r.json()["url"]
        assert url.startswith(srv.base_url) and r.json()["content_type"] == "image/webp"
        got = await api.get(url)
        assert got.status_code == 200 and got.content[:4] == b"RIFF" and got.content[8:12] == b"WEBP"
        assert len(site.received) == 2  # serving it did not go back to the site
        r = await api.get(f"/previews/{preview['id']}/image", headers=outsider.headers)
        assert r.status_code == 404 and r.json()["code"] == "preview_not_found"
        r = await api.get(f"/messages/{mid}", headers=outsider.headers)
        assert r.status_code == 404


async def test_the_guard_refuses_loopback_private_metadata_and_redirects_into_loopback(database_url: str) -> None:
    async with run_endpoint() as site:
        site.answer("/article", 200, page("should never be read"), HTML)
        port = site.base_url.rsplit(":", 1)[1]
        # Nothing allow-listed: the site's loopback address is refused like a private or metadata one.
        async with previewing(database_url, outbound_allow="", link_preview_poll_s=3600) as (srv, api):
            ann, bob, cid = await two_members(api)
            mid = await send(
                api,
                ann,
                cid,
                f"{site.url('/article')} http://10.1.2.3/x http://169.254.169.254/latest/meta-data/",
            )
            await settle(srv)
            assert (await message(api, bob, mid))["previews"] == []
            assert site.received == []
        # "localhost" allow-listed by name, but it redirects to 127.0.0.1, which is not.
        site.answer("/hop", 302, b"", {"location": f"http://127.0.0.1:{port}/article"})
        async with previewing(database_url, outbound_allow="localhost", link_preview_poll_s=3600) as (srv, api):
            ann, bob, cid = await two_members(api)
            mid = await send(api, ann, cid, f"http://localhost:{port}/hop")
            await settle(srv)
            assert (await message(api, bob, mid))["previews"] == []
            assert [r.path for r in site.received] == ["/hop"]


async def test_an_image_on_a_refused_address_or_not_an_image_leaves_the_preview_without_one(
    database_url: str,
) -> None:
    async with run_endpoint() as site, previewing(database_url, link_preview_poll_s=3600) as (srv, api):
        site.answer("/meta", 200, page("metadata image", image="http://169.254.169.254/latest/x.png"), HTML)
        site.answer("/fake.png", 200, b"<html>not an image</html>", {"content-type": "image/png"})
        site.answer("/fake", 200, page("fake image", image="/fake.png"), HTML)
        ann, bob, cid = await two_members(api)
        mid = await send(api, ann, cid, f"{site.url('/meta')} and {site.url('/fake')}")
        await settle(srv)
        previews = (await message(api, bob, mid))["previews"]
        assert [(p["title"], p["image"]) for p in previews] == [("metadata image", None), ("fake image", None)]


async def test_size_and_time_caps(database_url: str) -> None:
    overrides = {"link_preview_poll_s": 3600, "link_preview_max_bytes": 4096, "link_preview_timeout_s": 0.5}
    async with run_endpoint() as site, previewing(database_url, **overrides) as (srv, api):
        site.answer("/big", 200, page("too big", extra="x" * 10_000), HTML)
        site.answer("/slow", 200, page("too slow"), HTML)
        site.delays["/slow"] = 3.0
        site.answer("/huge.png", 200, png(256, noisy=True), {"content-type": "image/png"})
        site.answer("/heavy", 200, page("heavy image", image="/huge.png"), HTML)
        srv.rt.settings.link_preview_image_max_bytes = 4096
        ann, bob, cid = await two_members(api)
        mid = await send(api, ann, cid, f"{site.url('/big')} {site.url('/slow')} {site.url('/heavy')}")
        started = time.monotonic()
        await settle(srv)
        assert time.monotonic() - started < 2.5  # the slow site was given up at the time limit
        previews = (await message(api, bob, mid))["previews"]
        assert [(p["title"], p["image"]) for p in previews] == [("heavy image", None)]


async def test_a_slow_site_does_not_hold_up_other_messages(database_url: str) -> None:
    async with run_endpoint() as site, previewing(database_url, link_preview_timeout_s=10) as (srv, api):
        site.answer("/slow", 200, page("slow"), HTML)
        site.delays["/slow"] = 4.0
        site.answer("/fast", 200, page("fast"), HTML)
        ann, bob, cid = await two_members(api)
        ws = await Ws.open(srv.ws_url, bob)
        try:
            slow = await send(api, ann, cid, site.url("/slow"))
            await site.wait_for(1)  # the slow fetch is under way
            fast = await send(api, ann, cid, site.url("/fast"))
            started = time.monotonic()
            await ws.expect(is_event("preview.added", message_id=fast), timeout=3)
            assert time.monotonic() - started < 3
            await ws.expect(is_event("preview.added", message_id=slow), timeout=10)
        finally:
            await ws.close()


async def test_turned_off_nothing_is_fetched(database_url: str) -> None:
    async with run_endpoint() as site, previewing(database_url, link_previews=False) as (srv, api):
        site.answer("/article", 200, page("not fetched"), HTML)
        assert srv.node.previews is None
        ann, bob, cid = await two_members(api)
        mid = await send(api, ann, cid, site.url("/article"))
        await asyncio.sleep(1.0)
        assert (await message(api, bob, mid))["previews"] == []
        assert site.received == []


async def preview_of(srv: Server, api: httpx.AsyncClient, user: User, mid: int) -> dict[str, Any]:
    await settle(srv)
    (preview,) = (await message(api, user, mid))["previews"]
    return preview


async def test_the_sender_removes_a_preview_live_others_may_not(database_url: str) -> None:
    async with run_endpoint() as site, previewing(database_url, link_preview_poll_s=3600) as (srv, api):
        site.answer("/pic.png", 200, png(), {"content-type": "image/png"})
        site.answer("/article", 200, page("remove me", image="/pic.png"), HTML)
        ann, bob, cid = await two_members(api)
        outsider = await signup(api)
        mid = await send(api, ann, cid, site.url("/article"))
        preview = await preview_of(srv, api, bob, mid)
        image_url = (await api.get(f"/previews/{preview['id']}/image", headers=ann.headers)).json()["url"]

        r = await api.delete(f"/previews/{preview['id']}", headers=bob.headers)
        assert r.status_code == 403 and r.json()["code"] == "not_author"
        r = await api.delete(f"/previews/{preview['id']}", headers=outsider.headers)
        assert r.status_code == 404 and r.json()["code"] == "preview_not_found"

        ws = await Ws.open(srv.ws_url, bob)
        try:
            r = await api.delete(f"/previews/{preview['id']}", headers=ann.headers)
            assert r.status_code == 200, r.text
            assert r.json()["id"] == mid and r.json()["previews"] == []
            event = await ws.expect(is_event("preview.removed", message_id=mid))
            assert event["data"]["preview_id"] == preview["id"] and event["data"]["by"] == ann.id
            assert event["data"]["previews"] == []
        finally:
            await ws.close()
        assert (await message(api, bob, mid))["previews"] == []
        page_ = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()
        assert [m["previews"] for m in page_["messages"]] == [[]]
        assert (await api.get(image_url)).status_code == 404  # the stored image is gone
        r = await api.delete(f"/previews/{preview['id']}", headers=ann.headers)
        assert r.status_code == 404


async def test_deleting_the_message_deletes_its_previews(database_url: str) -> None:
    async with run_endpoint() as site, previewing(database_url, link_preview_poll_s=3600) as (srv, api):
        site.answer("/pic.png", 200, png(), {"content-type": "image/png"})
        site.answer("/article", 200, page("gone with it", image="/pic.png"), HTML)
        ann, bob, cid = await two_members(api)
        mid = await send(api, ann, cid, site.url("/article"))
        preview = await preview_of(srv, api, bob, mid)
        image_url = (await api.get(f"/previews/{preview['id']}/image", headers=ann.headers)).json()["url"]
        assert (await api.delete(f"/messages/{mid}", headers=ann.headers)).status_code in (200, 204)
        r = await api.get(f"/previews/{preview['id']}/image", headers=bob.headers)
        assert r.status_code == 404
        for _ in range(50):
            if (await api.get(image_url)).status_code == 404:
                break
            await asyncio.sleep(0.05)
        assert (await api.get(image_url)).status_code == 404


async def test_a_reader_who_blocked_the_sender_gets_no_preview(database_url: str) -> None:
    async with run_endpoint() as site, previewing(database_url) as (srv, api):
        site.answer("/article", 200, page("not for blockers"), HTML)
        ann, bob, cid = await two_members(api)
        assert (await api.put(f"/me/blocks/{ann.id}", headers=bob.headers)).status_code == 200
        ws = await Ws.open(srv.ws_url, bob)
        try:
            mid = await send(api, ann, cid, site.url("/article"))
            event = await ws.expect(is_event("preview.added", message_id=mid), timeout=10)
        finally:
            await ws.close()
        assert event["data"]["previews"] == [] and event["data"]["hidden"] is True
        page_ = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()
        assert [m["previews"] for m in page_["messages"] if m["id"] == mid] == [[]]
        replay = (await api.get(f"/conversations/{cid}/events?since=0", headers=bob.headers)).json()["events"]
        added = [e["data"] for e in replay if e["event"] == "preview.added"]
        assert added and added[0]["previews"] == [] and added[0]["hidden"] is True
        # The sender still sees it.
        assert len((await message(api, ann, mid))["previews"]) == 1


async def _preview_image_key(srv: Server, mid: int) -> str:
    """The stored image of the message's preview, once the node's worker has made it."""
    db = await asyncpg.connect(srv.database_url)
    try:
        for _ in range(400):
            key: str | None = await db.fetchval("SELECT image_key FROM link_previews WHERE message_id = $1", mid)
            if key is not None:
                return key
            await asyncio.sleep(0.05)
    finally:
        await db.close()
    raise AssertionError(f"no preview image for message {mid}")


async def test_an_erased_account_and_expired_messages_take_their_preview_images_along(database_url: str) -> None:
    async with run_endpoint() as site, previewing(database_url) as (srv, api):
        site.answer("/pic.png", 200, png(), {"content-type": "image/png"})
        site.answer("/a", 200, page("A", image="/pic.png"), HTML)
        ann, bob, cid = await two_members(api)
        by_ann = await send(api, ann, cid, f"see {site.url('/a')}")
        by_bob = await send(api, bob, cid, f"and {site.url('/a')}")
        ann_key, bob_key = await _preview_image_key(srv, by_ann), await _preview_image_key(srv, by_bob)
        assert await srv.rt.objects.head(ann_key) is not None and await srv.rt.objects.head(bob_key) is not None

        # Ann deletes her account (DELETED_USER_MESSAGES=erase): her previews' images go with her
        # messages; Bob's stay.
        r = await api.post("/me/delete", headers=ann.headers, json={"password": PASSWORD})
        assert r.status_code == 200, r.text
        assert await srv.rt.objects.head(ann_key) is None
        assert await srv.rt.objects.head(bob_key) is not None

        # Retention deletes Bob's message a day later, and its preview image with it.
        await make_admin(srv.rt, bob)
        r = await api.patch("/admin/settings", headers=bob.headers, json={"retention": {"group": 1}})
        assert r.status_code == 200, r.text
        assert await do_apply_retention(srv.rt, now=datetime.now(UTC) + timedelta(days=2)) >= 1
        assert (await api.get(f"/messages/{by_bob}", headers=bob.headers)).status_code == 404
        assert await srv.rt.objects.head(bob_key) is None
