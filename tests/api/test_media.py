"""Attachments and avatars end to end, on the local-disk store and on a real S3-compatible server.

Each test marked with the ``media`` fixture runs twice: against Tipline's embedded local
store, and against a Tipline that keeps media in S3 (moto in server mode on loopback). moto
checks neither signatures, policy conditions nor expiry, so what only a store can refuse
(tampered or expired URLs, a POST that breaks its policy) is tested on the local store, and
on S3 the test checks that Tipline itself refuses what does not match when completing.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from PIL import Image

from tests.conftest import Server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup
from tests.media_support import (
    GIF_COMMENT,
    GIF_TRAILING,
    HTML,
    OGG,
    SVG,
    XMP_GPS,
    fetch,
    gif_bytes,
    gif_facts,
    gps_of,
    image_bytes,
    post_file,
    request_upload,
    upload,
)
from tipline.domain.media.actions import do_clean_uploads
from tipline.storage.objects import LocalDiskStore

OBJECT_HEADERS = {"x-content-type-options": "nosniff", "content-security-policy": "sandbox; default-src 'none'"}


@pytest.fixture(params=["local", "s3"])
def media(request: pytest.FixtureRequest) -> Server:
    srv: Server = request.getfixturevalue("server" if request.param == "local" else "s3_server")
    return srv


@pytest.fixture
async def mapi(media: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=media.base_url, timeout=30) as client:
        yield client


def is_local(srv: Server) -> bool:
    return isinstance(srv.rt.objects, LocalDiskStore)


async def _keys_of(srv: Server, upload_id: str) -> tuple[str, str | None, str | None]:
    """(the key the browser uploads to, the checked copy that is served, the thumbnail)."""
    async with srv.rt.engine.connect() as conn:
        from sqlalchemy import select

        from tipline.domain.media.models import uploads

        row = (await conn.execute(select(uploads).where(uploads.c.id == uuid.UUID(upload_id)))).mappings().one()
        return row["key"], row["object_key"], row["thumb_key"]


async def _none_stored(srv: Server, *keys: str | None) -> bool:
    return all([key is None or await srv.rt.objects.head(key) is None for key in keys])


async def _url(api: httpx.AsyncClient, user: Any, upload_id: str, **params: Any) -> httpx.Response:
    return await api.get(f"/media/attachments/{upload_id}/url", headers=user.headers, params=params)


async def test_upload_attach_and_download_as_member(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob = await signup(mapi), await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group", [bob]))["id"]
    png = image_bytes("PNG", (1000, 500))
    upload_id, done = await upload(mapi, alice, cid, png, filename="chart.png", content_type="image/png")
    assert done.status_code == 200, done.text
    att = done.json()
    assert (att["kind"], att["content_type"], att["width"], att["height"]) == ("image", "image/png", 1000, 500)
    assert (att["thumb_width"], att["thumb_height"]) == (320, 160) and att["has_thumbnail"]
    # Completing again is harmless and answers the same.
    again = await mapi.post(f"/media/uploads/{upload_id}/complete", headers=alice.headers)
    assert again.json() == att

    ogg_id, done = await upload(mapi, alice, cid, OGG, filename="hello.ogg", content_type="audio/ogg")
    assert done.status_code == 200 and done.json()["kind"] == "audio", done.text

    r = await send_http(mapi, alice, cid, "two files", attachment_ids=[upload_id, ogg_id])
    assert r.status_code == 201, r.text
    history = (await mapi.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()["messages"]
    assert [a["id"] for a in history[0]["attachments"]] == [upload_id, ogg_id]
    assert history[0]["attachments"][0]["message_id"] == r.json()["message_id"]

    link = await _url(mapi, bob, upload_id)
    assert link.status_code == 200 and link.json()["inline"] is True
    got = await fetch(link.json()["url"])
    assert got.status_code == 200 and got.headers["content-type"].startswith("image/png")
    assert Image.open(io.BytesIO(got.content)).size == (1000, 500)
    thumb = await fetch((await _url(mapi, bob, upload_id, thumbnail="true")).json()["url"])
    assert thumb.status_code == 200
    assert Image.open(io.BytesIO(thumb.content)).size == (320, 160)
    audio = await fetch((await _url(mapi, bob, ogg_id)).json()["url"])
    assert audio.content == OGG and audio.headers["content-type"].startswith("audio/ogg")


async def test_download_refused_to_non_members(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob, carol = await signup(mapi), await signup(mapi), await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group", [bob]))["id"]
    upload_id, _ = await upload(mapi, alice, cid, image_bytes(), filename="a.png", content_type="image/png")
    # Before it is attached, only its owner may see it.
    assert (await _url(mapi, bob, upload_id)).status_code == 404
    assert (await _url(mapi, alice, upload_id)).status_code == 200
    assert (await send_http(mapi, alice, cid, "pic", attachment_ids=[upload_id])).status_code == 201
    assert (await _url(mapi, bob, upload_id)).status_code == 200
    r = await _url(mapi, carol, upload_id)
    assert r.status_code == 404 and r.json()["code"] == "upload_not_found"
    assert (await mapi.get(f"/media/attachments/{upload_id}", headers=carol.headers)).status_code == 404
    # A member who leaves loses access at once.
    assert (await mapi.post(f"/conversations/{cid}/leave", headers=bob.headers)).status_code == 204
    assert (await _url(mapi, bob, upload_id)).status_code == 404
    assert (await mapi.get(f"/media/attachments/{upload_id}/url")).status_code == 401


async def test_oversized_upload_refused(mapi: httpx.AsyncClient, media: Server) -> None:
    alice = await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group"))["id"]
    limit = media.rt.settings.media_max_image_bytes
    r = await request_upload(
        mapi, alice, conversation_id=cid, filename="big.png", content_type="image/png", size=limit + 1
    )
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large" and str(limit) in r.json()["detail"]
    # Declared small, sent bigger: the policy refuses it where the store checks policies (the
    # local store); either way Tipline refuses to record it, and the object does not stay.
    data = image_bytes()
    r = await request_upload(mapi, alice, conversation_id=cid, filename="a.png", content_type="image/png", size=100)
    assert r.status_code == 201
    posted = await post_file(r.json(), data, "a.png", "image/png")
    upload_id = r.json()["upload_id"]
    done = await mapi.post(f"/media/uploads/{upload_id}/complete", headers=alice.headers)
    if is_local(media):
        assert posted.status_code == 400 and posted.json()["code"] == "size_mismatch"
        assert done.status_code == 409 and done.json()["code"] == "upload_missing"
    else:
        assert done.status_code == 422 and done.json()["code"] == "size_mismatch", done.text
    assert await _none_stored(media, *await _keys_of(media, upload_id))
    r = await send_http(mapi, alice, cid, "x", attachment_ids=[upload_id])
    assert r.status_code == 409 and r.json()["code"] == "attachment_not_ready"


@pytest.mark.parametrize(
    ("data", "declared", "found"),
    [
        (HTML, "image/png", None),
        (image_bytes("PNG"), "text/plain", "image/png"),
        (image_bytes("JPEG"), "image/png", "image/jpeg"),
    ],
)
async def test_mistyped_upload_refused(
    mapi: httpx.AsyncClient, media: Server, data: bytes, declared: str, found: str | None
) -> None:
    alice = await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group"))["id"]
    upload_id, done = await upload(mapi, alice, cid, data, filename="x", content_type=declared)
    assert done.status_code == 422 and done.json()["code"] == "type_mismatch", done.text
    assert declared in done.json()["detail"] and (found is None or found in done.json()["detail"])
    assert await _none_stored(media, *await _keys_of(media, upload_id))


@pytest.mark.parametrize(
    ("data", "filename", "declared"),
    [(HTML, "page.html", "text/html"), (SVG, "logo.svg", "image/svg+xml"), (b"<x/>", "a.xml", "application/xml")],
)
async def test_active_content_is_served_as_a_download(
    mapi: httpx.AsyncClient, media: Server, data: bytes, filename: str, declared: str
) -> None:
    alice = await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group"))["id"]
    upload_id, done = await upload(mapi, alice, cid, data, filename=filename, content_type=declared)
    assert done.status_code == 200 and done.json()["kind"] == "file" and done.json()["content_type"] == declared
    link = (await _url(mapi, alice, upload_id)).json()
    assert link["inline"] is False and link["content_type"] == "application/octet-stream"
    got = await fetch(link["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith(f'attachment; filename="{filename}"')
    if is_local(media):
        # S3 serves from its own origin and sets only the overridable headers (type, disposition).
        for name, value in OBJECT_HEADERS.items():
            assert got.headers[name] == value


async def test_exif_gps_is_stripped(mapi: httpx.AsyncClient, media: Server) -> None:
    alice = await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group"))["id"]
    jpeg = image_bytes("JPEG", (640, 480), gps=True)
    assert gps_of(jpeg), "the test image must carry a GPS position"
    upload_id, done = await upload(mapi, alice, cid, jpeg, filename="holiday.jpg", content_type="image/jpeg")
    assert done.status_code == 200 and (done.json()["width"], done.json()["height"]) == (640, 480)
    got = await fetch((await _url(mapi, alice, upload_id)).json()["url"])
    assert got.status_code == 200 and got.content[:3] == b"\xff\xd8\xff"
    assert gps_of(got.content) == {}
    assert b"Exif\x00\x00" not in got.content and b"TestCam" not in got.content
    assert done.json()["size"] == len(got.content)


async def test_gif_metadata_is_stripped_and_animation_kept(mapi: httpx.AsyncClient, media: Server) -> None:
    alice = await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group"))["id"]
    gif = gif_bytes(5, (64, 48), metadata=True)
    assert XMP_GPS in gif and GIF_COMMENT in gif and gif.endswith(GIF_TRAILING)
    upload_id, done = await upload(mapi, alice, cid, gif, filename="party.gif", content_type="image/gif")
    assert done.status_code == 200, done.text
    assert (done.json()["kind"], done.json()["width"], done.json()["height"]) == ("image", 64, 48)
    got = await fetch((await _url(mapi, alice, upload_id)).json()["url"])
    assert got.status_code == 200 and got.headers["content-type"].startswith("image/gif")
    for leak in (b"XMP", b"GPSLatitude", GIF_COMMENT, GIF_TRAILING):
        assert leak not in got.content, leak
    assert got.content.endswith(b"\x00;") and done.json()["size"] == len(got.content)
    assert gif_facts(got.content) == gif_facts(gif)  # every frame, its duration, the loop count


async def test_attach_rules(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob = await signup(mapi), await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group", [bob]))["id"]
    other = (await create_conversation(mapi, alice, "group"))["id"]
    mine, _ = await upload(mapi, alice, cid, image_bytes(), filename="a.png", content_type="image/png")
    elsewhere, _ = await upload(mapi, alice, other, image_bytes(), filename="b.png", content_type="image/png")
    pending, _ = await upload(mapi, alice, cid, b"data", complete=False)

    async def send(user: Any, ids: list[str], body: str = "") -> httpx.Response:
        return await send_http(mapi, user, cid, body, attachment_ids=ids)

    r = await send(bob, [mine])
    assert r.status_code == 404 and r.json()["code"] == "attachment_not_found"
    r = await send(alice, [elsewhere])
    assert r.status_code == 409 and r.json()["code"] == "attachment_elsewhere"
    r = await send(alice, [pending])
    assert r.status_code == 409 and r.json()["code"] == "attachment_not_ready"
    r = await send(alice, [mine, mine])
    assert r.status_code == 422 and r.json()["code"] == "attachment_duplicate"
    r = await send(alice, [str(uuid.uuid4()) for _ in range(media.rt.settings.media_max_attachments + 1)])
    assert r.status_code == 422 and r.json()["code"] == "too_many_attachments"
    r = await send(alice, [])
    assert r.status_code == 422 and r.json()["code"] == "body_empty"
    # Nothing above stored a message or used the attachment.
    first = await send(alice, [mine])
    assert first.status_code == 201
    r = await send(alice, [mine], "again")
    assert r.status_code == 409 and r.json()["code"] == "attachment_used"
    history = (await mapi.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()["messages"]
    assert [(m["seq"], m["body"], len(m["attachments"])) for m in history] == [(first.json()["seq"], "", 1)]
    # Uploads are only for conversations one is in, and by signed-in users.
    carol = await signup(mapi)
    r = await request_upload(mapi, carol, conversation_id=cid, filename="a", content_type="text/plain", size=1)
    assert r.status_code == 404
    r = await request_upload(mapi, alice, conversation_id=None, filename="a", content_type="text/plain", size=1)
    assert r.status_code == 422 and r.json()["code"] == "conversation_required"
    assert (await mapi.post(f"/media/uploads/{mine}/complete", headers=bob.headers)).status_code == 404


async def test_deleting_a_message_deletes_its_attachments(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob = await signup(mapi), await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group", [bob]))["id"]
    upload_id, _ = await upload(mapi, bob, cid, image_bytes(), filename="a.png", content_type="image/png")
    key, object_key, thumb_key = await _keys_of(media, upload_id)
    assert object_key is not None and thumb_key is not None
    assert await media.rt.objects.head(object_key) is not None and await media.rt.objects.head(thumb_key) is not None
    mid = (await send_http(mapi, bob, cid, "soon gone", attachment_ids=[upload_id])).json()["message_id"]
    old_url = (await _url(mapi, bob, upload_id)).json()["url"]
    # The conversation's owner deletes bob's message.
    r = await mapi.delete(f"/messages/{mid}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["attachments"] == []
    assert await _none_stored(media, key, object_key, thumb_key)
    assert (await _url(mapi, bob, upload_id)).status_code == 404
    assert (await fetch(old_url)).status_code in (403, 404)
    history = (await mapi.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()["messages"]
    assert history[0]["deleted"] and history[0]["attachments"] == []


async def test_avatar_cropped_resized_and_public(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob = await signup(mapi), await signup(mapi)
    assert (await mapi.get(f"/users/{alice.id}/avatar", headers=bob.headers)).json() == {
        "user_id": alice.id,
        "url": None,
    }
    png = image_bytes("PNG", (300, 200))
    src, _ = await upload(
        mapi, alice, None, png, filename="me.png", content_type="image/png", purpose="avatar", complete=False
    )
    r = await mapi.put(
        "/me/avatar", headers=alice.headers, json={"upload_id": src, "crop": {"x": 150, "y": 0, "size": 200}}
    )
    assert r.status_code == 422 and r.json()["code"] == "crop_out_of_bounds"
    r = await mapi.put(
        "/me/avatar", headers=alice.headers, json={"upload_id": src, "crop": {"x": 50, "y": 0, "size": 200}}
    )
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    got = await fetch(url)  # public: no token
    assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
    assert "immutable" in got.headers["cache-control"]
    assert Image.open(io.BytesIO(got.content)).size == (256, 256)
    assert (await mapi.get(f"/users/{alice.id}/avatar", headers=bob.headers)).json()["url"] == url
    # A new avatar replaces the old one, whose URL stops working.
    src2, _ = await upload(
        mapi, alice, None, png, filename="me.png", content_type="image/png", purpose="avatar", complete=False
    )
    url2 = (await mapi.put("/me/avatar", headers=alice.headers, json={"upload_id": src2})).json()["url"]
    assert url2 != url and (await fetch(url)).status_code == 404 and (await fetch(url2)).status_code == 200
    # Avatars are images; an avatar upload is not an attachment; someone else's upload is not mine.
    r = await request_upload(
        mapi, alice, conversation_id=None, filename="a.pdf", content_type="application/pdf", size=9, purpose="avatar"
    )
    assert r.status_code == 422 and r.json()["code"] == "avatar_not_image"
    src3, _ = await upload(
        mapi, alice, None, png, filename="me.png", content_type="image/png", purpose="avatar", complete=False
    )
    assert (await mapi.put("/me/avatar", headers=bob.headers, json={"upload_id": src3})).status_code == 404
    r = await mapi.post(f"/media/uploads/{src3}/complete", headers=alice.headers)
    assert r.status_code == 409 and r.json()["code"] == "upload_is_avatar"


async def test_send_with_attachments_over_websocket(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob = await signup(mapi), await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group", [bob]))["id"]
    upload_id, _ = await upload(mapi, alice, cid, image_bytes(), filename="a.png", content_type="image/png")
    a, b = await Ws.open(media.ws_url, alice), await Ws.open(media.ws_url, bob)
    try:
        await a.send(
            {"type": "send", "conversation_id": cid, "client_msg_id": "m1", "body": "", "attachment_ids": [upload_id]}
        )
        ack = await a.expect("ack")
        event = await b.expect(is_event("message.created", id=ack["message_id"]))
        [att] = event["data"]["attachments"]
        assert att["id"] == upload_id and att["kind"] == "image" and att["message_id"] == ack["message_id"]
        await a.send(
            {"type": "send", "conversation_id": cid, "client_msg_id": "m2", "body": "x", "attachment_ids": [upload_id]}
        )
        err = await a.expect("error")
        assert err["code"] == "attachment_used" and err["client_msg_id"] == "m2"
    finally:
        await a.close()
        await b.close()


async def _complete_keeping_the_form(
    api: httpx.AsyncClient, user: Any, cid: int, data: bytes, filename: str, content_type: str
) -> tuple[str, dict[str, Any]]:
    r = await request_upload(
        api, user, conversation_id=cid, filename=filename, content_type=content_type, size=len(data)
    )
    assert r.status_code == 201, r.text
    form: dict[str, Any] = r.json()
    assert (await post_file(form, data, filename, content_type)).status_code in (200, 201, 204)
    done = await api.post(f"/media/uploads/{form['upload_id']}/complete", headers=user.headers)
    assert done.status_code == 200, done.text
    return form["upload_id"], form


async def test_a_checked_attachment_cannot_be_replaced(mapi: httpx.AsyncClient, media: Server) -> None:
    """The attack: keep the presigned form (valid MEDIA_UPLOAD_TTL_S) and, once the upload was
    checked and attached, post other bytes of the same size with it. Members must still get
    what was checked: on the local store the POST is refused, and on both stores only the copy
    checked on completion is ever served (S3 takes the POST: its policy is still valid)."""
    alice, bob = await signup(mapi), await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group", [bob]))["id"]
    files = [(image_bytes("PNG", (200, 100)), "chart.png", "image/png"), (OGG, "hello.ogg", "audio/ogg")]
    forms = [await _complete_keeping_the_form(mapi, alice, cid, *file) for file in files]
    ids = [upload_id for upload_id, _ in forms]
    assert (await send_http(mapi, alice, cid, "look", attachment_ids=ids)).status_code == 201

    async def served(upload_id: str, **params: Any) -> bytes:
        link = await _url(mapi, bob, upload_id, **params)
        got = await fetch(link.json()["url"])
        assert got.status_code == 200
        return got.content

    before = [await served(upload_id) for upload_id in ids]
    thumb_before = await served(ids[0], thumbnail="true")
    assert before[1] == OGG
    answers = []
    for (data, filename, content_type), (upload_id, form) in zip(files, forms, strict=True):
        evil = HTML.ljust(len(data), b" ")  # the same size, so the policy allows it
        answers.append(await post_file(form, evil, filename, content_type))
        # Completing again changes nothing either.
        redone = await mapi.post(f"/media/uploads/{upload_id}/complete", headers=alice.headers)
        assert redone.status_code == 200, redone.text
    assert [await served(upload_id) for upload_id in ids] == before
    assert await served(ids[0], thumbnail="true") == thumb_before
    if is_local(media):
        for again in answers:
            assert again.status_code == 409 and again.json()["code"] == "upload_closed", again.text
    for upload_id in ids:
        key, object_key, _ = await _keys_of(media, upload_id)
        assert object_key is not None and object_key != key


async def test_a_post_during_completion_is_not_what_is_served(
    mapi: httpx.AsyncClient, media: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same form posted again while the upload is still pending (which even the local store
    allows: a retry) lands after the bytes were checked: what is served is what was checked."""
    alice = await signup(mapi)
    cid = (await create_conversation(mapi, alice, "group"))["id"]
    r = await request_upload(
        mapi, alice, conversation_id=cid, filename="a.ogg", content_type="audio/ogg", size=len(OGG)
    )
    form = r.json()
    assert (await post_file(form, OGG, "a.ogg", "audio/ogg")).status_code in (200, 201, 204)
    store = media.rt.objects
    read = store.read
    swapped: list[int] = []

    async def read_then_swap(key: str, *, limit: int | None = None) -> bytes:
        data = await read(key, limit=limit)
        if not swapped:  # the type check has its bytes: now the upload changes under it
            swapped.append((await post_file(form, HTML.ljust(len(OGG), b" "), "a.ogg", "audio/ogg")).status_code)
        return data

    monkeypatch.setattr(store, "read", read_then_swap)
    done = await mapi.post(f"/media/uploads/{form['upload_id']}/complete", headers=alice.headers)
    monkeypatch.undo()
    assert swapped and swapped[0] in (200, 201, 204)
    assert done.status_code == 200 and done.json()["kind"] == "audio", done.text
    got = await fetch((await _url(mapi, alice, form["upload_id"])).json()["url"])
    assert got.status_code == 200 and got.content == OGG
    # Nothing reads the upload's key once the copy is recorded: it is gone.
    key, object_key, _ = await _keys_of(media, form["upload_id"])
    assert object_key != key and await _none_stored(media, key)


# --- the local store only: what moto does not check -------------------------------------------


async def test_signed_url_expires(api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    upload_id, _ = await upload(api, alice, cid, b"plain words", filename="a.txt", content_type="text/plain")
    monkeypatch.setattr(server.rt.settings, "media_url_ttl_s", 1)
    url = (await _url(api, alice, upload_id)).json()["url"]
    assert (await fetch(url)).status_code == 200
    await asyncio.sleep(2.1)
    r = await fetch(url)
    assert r.status_code == 403 and r.json()["code"] == "url_invalid"


@pytest.mark.parametrize("field", ["sig", "exp", "ct", "disp", "fn", "key"])
async def test_tampered_url_refused(api: httpx.AsyncClient, field: str) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    upload_id, _ = await upload(api, alice, cid, HTML, filename="page.html", content_type="text/html")
    other_id, _ = await upload(api, alice, cid, b"other", filename="b.txt", content_type="text/plain")
    url = (await _url(api, alice, upload_id)).json()["url"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    path = parts.path
    changes = {
        "sig": ("0" if query["sig"][0] != "0" else "1") + query["sig"][1:],
        "exp": str(int(query["exp"]) + 3600),
        "ct": "text/html",
        "disp": "inline",
        "fn": "evil.html",
    }
    if field == "key":
        path = path.rsplit("/", 1)[0] + "/" + uuid.UUID(other_id).hex
    else:
        query[field] = changes[field]
    r = await fetch(urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), "")))
    assert r.status_code == 403 and r.json()["code"] == "url_invalid"
    assert (await fetch(url)).status_code == 200


async def test_local_upload_checks_its_policy(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    data = b"hello"
    up = (
        await request_upload(api, alice, conversation_id=cid, filename="a.txt", content_type="text/plain", size=5)
    ).json()
    fields = up["post"]["fields"]
    for bad in ({"signature": "0" * 64}, {"Content-Type": "text/html"}, {"key": "att/1/" + "0" * 32}):
        r = await post_file(
            {"post": {"url": up["post"]["url"], "fields": {**fields, **bad}}}, data, "a.txt", "text/plain"
        )
        assert r.status_code == 403, (bad, r.text)
    # An expired policy is refused like a forged one.
    store = server.rt.objects
    assert isinstance(store, LocalDiskStore)
    later = int((datetime.now(UTC) + timedelta(seconds=server.rt.settings.media_upload_ttl_s + 5)).timestamp())
    assert store.verify_policy(fields["policy"], fields["signature"], now=later) is None
    assert (await post_file(up, data, "a.txt", "text/plain")).status_code == 204


async def test_cleaner_removes_orphans_only(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    orphan, _ = await upload(api, alice, cid, image_bytes(), filename="a.png", content_type="image/png")
    never_completed, _ = await upload(api, alice, cid, b"x", complete=False)
    kept, _ = await upload(api, alice, cid, image_bytes(), filename="b.png", content_type="image/png")
    assert (await send_http(api, alice, cid, "keep", attachment_ids=[kept])).status_code == 201
    keys = {uid: await _keys_of(server, uid) for uid in (orphan, never_completed, kept)}
    rt = server.rt
    # Not a day old yet: nothing goes.
    assert await do_clean_uploads(rt, now=datetime.now(UTC)) == 0
    later = datetime.now(UTC) + timedelta(seconds=rt.settings.media_orphan_ttl_s + 1)
    assert await do_clean_uploads(rt, now=later) == 2
    for uid in (orphan, never_completed):
        assert await _none_stored(server, *keys[uid])
        assert (await api.post(f"/media/uploads/{uid}/complete", headers=alice.headers)).status_code == 404
    kept_object = keys[kept][1]
    assert kept_object is not None and await rt.objects.head(kept_object) is not None
    assert (await _url(api, alice, kept)).status_code == 200


async def test_attachments_survive_the_message_cache(database_url: str) -> None:
    """With Redis on, history served from the recent-message cache carries the attachments too."""
    from tests.bus.redis_helpers import REDIS_URL, delete_prefixed, unique_prefix
    from tests.conftest import start_server
    from tipline.backends.cache import stats

    prefix = unique_prefix()
    try:
        async with (
            start_server(database_url, redis_url=REDIS_URL, bus_channel_prefix=prefix) as srv,
            httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
        ):
            alice, bob = await signup(api), await signup(api)
            cid = (await create_conversation(api, alice, "group", [bob]))["id"]
            upload_id, done = await upload(
                api, alice, cid, image_bytes("PNG", (40, 20)), filename="a.png", content_type="image/png"
            )
            assert done.status_code == 200, done.text
            r = await send_http(api, alice, cid, "with a picture", attachment_ids=[upload_id])
            assert r.status_code == 201, r.text
            await api.get(f"/conversations/{cid}/messages", headers=bob.headers)  # fills the cache if cold
            hits = stats.hits
            history = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()["messages"]
            assert stats.hits > hits, "the second page should come from the cache"
            assert [a["id"] for a in history[-1]["attachments"]] == [upload_id]
    finally:
        await delete_prefixed(prefix)
