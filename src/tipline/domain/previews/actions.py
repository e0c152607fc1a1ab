"""Link preview actions: fetch a link's preview through the outbound guard, attach previews to
a message, remove one, and hand out a preview's stored image. The only code that writes
previews and publishes their events. See docs/subsystems/previews.md.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import filetype
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.backends import cache as mcache
from tipline.backends import safehttp
from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, encode_sender_event, event_frame
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.access import require_not_archived
from tipline.domain.media.processing import RASTER, SNIFF_BYTES, normalize_type, process_image
from tipline.domain.media.schemas import DownloadOut
from tipline.domain.messages import repository as msg_repo
from tipline.domain.messages.actions import decorated
from tipline.domain.messages.schemas import MessageOut
from tipline.domain.previews import repository as repo
from tipline.domain.previews.access import access_preview, require_may_remove
from tipline.domain.previews.parse import PageMeta, charset_of, parse_meta
from tipline.domain.previews.schemas import preview_dict
from tipline.errors import NotFound
from tipline.runtime import Runtime
from tipline.storage.objects import Delivery

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "Tipline-LinkPreview/1 (+https://github.com/tipline)"


@dataclass(frozen=True)
class Found:
    """A link's preview as fetched, its image already in the object store."""

    position: int
    url: str
    meta: PageMeta
    image_key: str | None = None
    image_width: int | None = None
    image_height: int | None = None


async def fetch_page(rt: Runtime, url: str) -> PageMeta | None:
    """The page's title, description, site name and image URL; None when it has none to show,
    or could not be fetched (refused address, timeout, too large, not HTML, an error status)."""
    settings = rt.settings
    try:
        response = await safehttp.fetch(
            url,
            headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"},
            max_bytes=settings.link_preview_max_bytes,
            timeout_s=settings.link_preview_timeout_s,
            settings=settings,
        )
    except safehttp.FetchFailed as exc:
        log.info("no preview for %s: %s", url, exc.reason)
        return None
    content_type = response.headers.get("content-type", "")
    if response.status != 200 or normalize_type(content_type) not in HTML_TYPES:
        log.info("no preview for %s: HTTP %s, %s", url, response.status, content_type or "no type")
        return None
    try:
        html = response.body.decode(charset_of(content_type, response.body), errors="replace")
    except LookupError:  # a charset Python does not know
        html = response.body.decode("utf-8", errors="replace")
    meta = parse_meta(html, base_url=response.url)
    return None if meta.empty else meta


async def store_image(rt: Runtime, url: str, *, message_id: int) -> tuple[str, int, int] | None:
    """Fetch a preview's image through the guard and keep a re-encoded, resized copy in the
    object store: (key, width, height), or None when it is not a usable image."""
    settings = rt.settings
    try:
        response = await safehttp.fetch(
            url,
            headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
            max_bytes=settings.link_preview_image_max_bytes,
            timeout_s=settings.link_preview_timeout_s,
            settings=settings,
        )
    except safehttp.FetchFailed as exc:
        log.info("no preview image %s: %s", url, exc.reason)
        return None
    declared = normalize_type(response.headers.get("content-type", ""))
    guess = filetype.guess(response.body[:SNIFF_BYTES])
    sniffed = normalize_type(guess.mime) if guess is not None else None
    # Both the server's word and the bytes must say it is a raster image Tipline decodes.
    if response.status != 200 or not declared.startswith("image/") or sniffed not in RASTER:
        log.info("no preview image %s: HTTP %s, %s, bytes %s", url, response.status, declared, sniffed)
        return None
    try:
        image = await asyncio.to_thread(
            process_image,
            response.body,
            sniffed,
            thumb_px=settings.media_thumbnail_px,
            max_pixels=settings.media_max_image_pixels,
        )
    except Exception as exc:  # undecodable, too many pixels: no image, the preview still shows
        log.info("no preview image %s: %s", url, exc)
        return None
    key = f"previews/{message_id}/{uuid.uuid4().hex}.webp"
    await rt.objects.put(key, image.thumb, content_type="image/webp")
    return key, image.thumb_width, image.thumb_height


async def fetch_preview(rt: Runtime, url: str, *, position: int, message_id: int) -> Found | None:
    meta = await fetch_page(rt, url)
    if meta is None:
        return None
    stored = None if meta.image_url is None else await store_image(rt, meta.image_url, message_id=message_id)
    if stored is None:
        return Found(position=position, url=url, meta=meta)
    key, width, height = stored
    return Found(position=position, url=url, meta=meta, image_key=key, image_width=width, image_height=height)


async def delete_preview_images(rt: Runtime, keys: list[str]) -> None:
    """Delete stored preview images once their rows are gone (a failure is logged: an orphaned
    image is unreachable, since its signed URL is only made from a row)."""
    if not keys:
        return
    try:
        await rt.objects.delete(keys)
    except Exception:
        log.exception("could not delete %d preview images", len(keys))


def _publish(
    rt: Runtime, uow: UnitOfWork, message: RowMapping, out: MessageOut, *, seq: int, event: str, data: dict[str, Any]
) -> None:
    """The event to members once committed (tagged with the sender, whose links these are, for
    people who blocked them), and the message's new state through to the recent-message cache."""
    cid = int(message["conversation_id"])
    frame = event_frame(event, cid, seq, data)
    sender = message["sender_id"]
    uow.outbox.add(
        topic_conversation(cid), encode_event(frame) if sender is None else encode_sender_event(sender, frame)
    )
    if rt.cache is not None:
        cache = rt.cache
        entry = mcache.entry(out.model_dump(), seq)
        logged = mcache.Event(seq=seq, event=event, data=data)

        async def write() -> None:
            await mcache.write_through(cache, cid, seqs=[seq], entries=[entry], events=[logged])

        uow.after_commit.append(write)


async def _message_out(conn: AsyncConnection, message_id: int) -> MessageOut:
    fresh = await msg_repo.message(conn, message_id=message_id)
    assert fresh is not None
    return MessageOut(**(await decorated(conn, [fresh]))[0])


async def do_attach_previews(rt: Runtime, *, message_id: int, found: list[Found]) -> bool:
    """Attach fetched previews to their message and tell its members (``preview.added``). Nothing
    is attached to a message deleted (or gone) meanwhile; its images are then deleted. Whether
    anything was attached."""
    keys = [f.image_key for f in found if f.image_key is not None]
    attached = False
    async with unit_of_work(rt.engine, rt.bus) as uow:
        message = await msg_repo.message(uow.conn, message_id=message_id)
        if message is not None and found:
            # Every writer of a conversation's seq locks its row first (docs/subsystems/messages.md).
            await conv_repo.conversation(uow.conn, conversation_id=message["conversation_id"], for_update=True)
            message = await msg_repo.message(uow.conn, message_id=message_id)
        if message is not None and found and message["deleted_at"] is None:
            cid = int(message["conversation_id"])
            await repo.insert_previews(
                uow.conn,
                rows=[
                    {
                        "message_id": message_id,
                        "conversation_id": cid,
                        "position": f.position,
                        "url": f.url,
                        "title": f.meta.title,
                        "description": f.meta.description,
                        "site_name": f.meta.site_name,
                        "image_key": f.image_key,
                        "image_width": f.image_width,
                        "image_height": f.image_height,
                    }
                    for f in found
                ],
            )
            previews = [preview_dict(r) for r in await repo.previews_of(uow.conn, message_id=message_id)]
            data = {"message_id": message_id, "sender_id": message["sender_id"], "previews": previews}
            seq = await conv_repo.append_event(uow.conn, conversation_id=cid, event="preview.added", data=data)
            _publish(
                rt, uow, message, await _message_out(uow.conn, message_id), seq=seq, event="preview.added", data=data
            )
            attached = True
        await repo.finish_job(uow.conn, message_id=message_id)
    if not attached:
        await delete_preview_images(rt, keys)
    return attached


async def do_remove_preview(rt: Runtime, *, user_id: int, preview_id: int) -> MessageOut:
    """Remove a preview from a message (its sender, or the conversation's owners and admins);
    members see ``preview.removed``. The stored image goes once committed."""
    async with unit_of_work(rt.engine, rt.bus) as uow:
        access = await access_preview(uow.conn, user_id=user_id, preview_id=preview_id, lock_conversation=True)
        require_may_remove(access, user_id)
        require_not_archived(access.message.conversation)
        message = access.message.message
        gone = await repo.delete_preview(uow.conn, preview_id=preview_id)
        if gone is None:  # removed by a concurrent request, which told the members
            raise NotFound("link preview not found", code="preview_not_found")
        previews = [preview_dict(r) for r in await repo.previews_of(uow.conn, message_id=message["id"])]
        data = {
            "message_id": message["id"],
            "sender_id": message["sender_id"],
            "preview_id": preview_id,
            "by": user_id,
            "previews": previews,
        }
        cid = int(message["conversation_id"])
        seq = await conv_repo.append_event(uow.conn, conversation_id=cid, event="preview.removed", data=data)
        out = await _message_out(uow.conn, message["id"])
        _publish(rt, uow, message, out, seq=seq, event="preview.removed", data=data)
    if gone["image_key"] is not None:
        await delete_preview_images(rt, [gone["image_key"]])
    return out


async def get_preview_image(rt: Runtime, *, user_id: int, preview_id: int) -> DownloadOut:
    """A short-lived signed URL of a preview's stored image, issued after the access check."""
    async with rt.engine.connect() as conn:
        access = await access_preview(conn, user_id=user_id, preview_id=preview_id)
    key = access.preview["image_key"]
    if key is None:
        raise NotFound("this link preview has no image", code="no_preview_image")
    ttl = rt.settings.media_url_ttl_s
    delivery = Delivery("image/webp", f"preview-{preview_id}.webp", inline=True)
    url = await rt.objects.presign_get(key, delivery=delivery, expires_s=ttl)
    return DownloadOut(
        url=url, expires_at=datetime.now(UTC) + timedelta(seconds=ttl), content_type="image/webp", inline=True
    )
