"""Media actions: request an upload, complete it, issue download URLs, set an avatar, and
remove objects (with their message, or as orphans). The only code that writes uploads and
avatars. See docs/subsystems/media.md.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import RowMapping, func

from tipline.domain.conversations.access import access_member, require_not_archived
from tipline.domain.media import repository as repo
from tipline.domain.media.access import access_attachment, access_own_upload
from tipline.domain.media.processing import (
    RASTER,
    SNIFF_BYTES,
    declared_kind,
    inline_safe,
    make_avatar,
    process_image,
    sniff,
)
from tipline.domain.media.schemas import (
    AttachmentOut,
    AvatarIn,
    AvatarOut,
    DownloadOut,
    PresignedPostOut,
    UploadIn,
    UploadOut,
    attachment_dict,
)
from tipline.domain.serversettings.current import check_upload
from tipline.errors import Conflict, Invalid, NotFound, TooLarge
from tipline.runtime import Runtime
from tipline.storage.objects import Delivery

log = logging.getLogger(__name__)
AVATAR_PATH = "/media/avatars/"


def max_bytes(rt: Runtime, kind: str, purpose: str = "attachment") -> int:
    s = rt.settings
    if purpose == "avatar":
        return s.media_max_avatar_bytes
    return {
        "image": s.media_max_image_bytes,
        "audio": s.media_max_audio_bytes,
        "video": s.media_max_video_bytes,
    }.get(kind, s.media_max_file_bytes)


def _check_size(rt: Runtime, size: int, kind: str, purpose: str) -> None:
    limit = max_bytes(rt, kind, purpose)
    if size > limit:
        what = "an avatar" if purpose == "avatar" else f"a {kind} attachment"
        raise TooLarge(f"{what} is at most {limit} bytes (this one has {size})", code="upload_too_large")


async def do_request_upload(rt: Runtime, *, user_id: int, body: UploadIn) -> UploadOut:
    """Record an upload to be and hand out a presigned POST for exactly its size and type."""
    if body.purpose == "attachment" and body.conversation_id is None:
        raise Invalid("an attachment needs the conversation it is for", code="conversation_required")
    if body.purpose == "avatar":
        if declared_kind(body.content_type) != "image":
            raise Invalid(f"an avatar is one of {', '.join(sorted(RASTER))}", code="avatar_not_image")
        conversation_id = None
    else:
        conversation_id = body.conversation_id
    _check_size(rt, body.size, declared_kind(body.content_type), body.purpose)
    if body.purpose == "attachment":
        await check_upload(rt, content_type=body.content_type, size=body.size)
    upload_id = uuid.uuid4()
    prefix = "avatar-src" if body.purpose == "avatar" else f"att/{conversation_id}"
    key = f"{prefix}/{upload_id.hex}"
    async with rt.engine.begin() as conn:
        if conversation_id is not None:
            require_not_archived(await access_member(conn, user_id=user_id, conversation_id=conversation_id))
        await repo.insert_upload(
            conn,
            values={
                "id": upload_id,
                "owner_id": user_id,
                "purpose": body.purpose,
                "conversation_id": conversation_id,
                "key": key,
                "filename": body.filename,
                "declared_type": body.content_type,
                "declared_size": body.size,
            },
        )
    ttl = rt.settings.media_upload_ttl_s
    post = await rt.objects.presign_post(key, content_type=body.content_type, size=body.size, expires_s=ttl)
    return UploadOut(
        upload_id=upload_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        max_size=body.size,
        post=PresignedPostOut(url=post.url, fields=post.fields),
    )


async def accepts_upload(rt: Runtime, *, key: str) -> bool:
    """Whether the local store may still take a POST to ``key``: only while its upload is pending.

    S3 cannot ask; there, and against a POST that lands while a completion runs, what protects
    members is that only the copy checked on completion is ever served (``_check_copy``)."""
    async with rt.engine.connect() as conn:
        row = await repo.upload_by_key(conn, key=key)
    return row is not None and row["status"] == "pending"


class _Settled(Exception):
    """The upload stopped being pending while this completion started (another one finished)."""


async def _check_copy(
    rt: Runtime, row: RowMapping, *, purpose: str, thumbnail: bool
) -> tuple[str, str | None, str, str]:
    """Copy the uploaded object to a key of its own and check the copy: it has the declared size
    and really is the declared type. Returns (copy's key, thumbnail key to use, type, kind).

    The upload's key is named by a presigned POST that stays valid for MEDIA_UPLOAD_TTL_S, so its
    bytes can change at any time; the copy's key is named by no policy, so what was checked is
    what is served. On a refusal both objects are removed (neither can ever be used)."""
    key = row["key"]
    checked = f"{key}.{uuid.uuid4().hex}"
    thumb_key = f"{checked}.thumb" if thumbnail else None
    async with rt.engine.begin() as conn:
        if not await repo.record_object_keys(conn, upload_id=row["id"], object_key=checked, thumb_key=thumb_key):
            raise _Settled
    if not await rt.objects.copy(key, checked):
        raise Conflict("nothing has been uploaded for this upload yet", code="upload_missing")
    declared_size = row["declared_size"]
    try:
        info = await rt.objects.head(checked)
        if info is None or info.size != declared_size:
            size = 0 if info is None else info.size
            raise Invalid(f"the uploaded file has {size} bytes but {declared_size} were declared", code="size_mismatch")
        found = sniff(await rt.objects.read(checked, limit=SNIFF_BYTES), row["declared_type"])
        _check_size(rt, info.size, found.kind, purpose)
        if purpose == "attachment":  # the admins' limits, on the type the bytes really are
            await check_upload(rt, content_type=found.content_type, size=info.size)
    except (Invalid, TooLarge):
        await rt.objects.delete([checked, key])
        raise
    return checked, thumb_key, found.content_type, found.kind


async def _clean_image(
    rt: Runtime, *, checked: str, uploaded: str, thumb_key: str, content_type: str
) -> dict[str, object]:
    """Re-encode the checked copy without metadata and write its thumbnail; the row's new sizes."""
    data = await rt.objects.read(checked)
    try:
        image = await asyncio.to_thread(
            process_image,
            data,
            content_type,
            thumb_px=rt.settings.media_thumbnail_px,
            max_pixels=rt.settings.media_max_image_pixels,
        )
    except Invalid:
        await rt.objects.delete([checked, uploaded])
        raise
    # The copy's key is Tipline's alone: the clean image replaces the uploaded bytes there.
    await rt.objects.put(checked, image.data, content_type=content_type)
    await rt.objects.put(thumb_key, image.thumb, content_type="image/webp")
    return {
        "size": len(image.data),
        "width": image.width,
        "height": image.height,
        "thumb_width": image.thumb_width,
        "thumb_height": image.thumb_height,
    }


async def do_complete_upload(rt: Runtime, *, user_id: int, upload_id: uuid.UUID) -> AttachmentOut:
    """Record an uploaded attachment once it exists and matches what was declared; images are
    re-encoded without metadata and get a thumbnail. Completing twice answers the same."""
    async with rt.engine.connect() as conn:
        row = await access_own_upload(conn, user_id=user_id, upload_id=upload_id)
    if row["purpose"] != "attachment":
        raise Conflict("an avatar upload is completed by setting it as the avatar", code="upload_is_avatar")
    if row["status"] == "ready":
        return AttachmentOut(**attachment_dict(row))
    key = row["key"]
    try:
        checked, thumb_key, content_type, kind = await _check_copy(rt, row, purpose="attachment", thumbnail=True)
    except _Settled:
        return await _completed(rt, user_id=user_id, upload_id=upload_id)
    values: dict[str, object] = {"content_type": content_type, "kind": kind, "size": row["declared_size"]}
    if kind == "image":
        assert thumb_key is not None
        values |= await _clean_image(rt, checked=checked, uploaded=key, thumb_key=thumb_key, content_type=content_type)
    else:
        thumb_key = None
    async with rt.engine.begin() as conn:
        current = await access_own_upload(conn, user_id=user_id, upload_id=upload_id, for_update=True)
        done = None
        if current["status"] != "ready":
            done = await repo.update_upload(
                conn,
                upload_id=upload_id,
                values={
                    **values,
                    "object_key": checked,
                    "thumb_key": thumb_key,
                    "status": "ready",
                    "completed_at": func.now(),
                },
            )
    if done is None:  # a concurrent completion got there first, with a copy of its own
        await _delete_objects(rt, [checked] + ([thumb_key] if thumb_key else []))
        return AttachmentOut(**attachment_dict(current))
    # Nothing reads the upload's key any more; a POST that lands there later is never served,
    # and goes with the row.
    await _delete_objects(rt, [key])
    return AttachmentOut(**attachment_dict(done))


async def _completed(rt: Runtime, *, user_id: int, upload_id: uuid.UUID) -> AttachmentOut:
    """The attachment as another completion recorded it (no longer pending and not deleted: ready)."""
    async with rt.engine.connect() as conn:
        row = await access_own_upload(conn, user_id=user_id, upload_id=upload_id)
    return AttachmentOut(**attachment_dict(row))


async def get_attachment(rt: Runtime, *, user_id: int, upload_id: uuid.UUID) -> AttachmentOut:
    async with rt.engine.connect() as conn:
        row = await access_attachment(conn, user_id=user_id, upload_id=upload_id)
    return AttachmentOut(**attachment_dict(row))


async def get_download(rt: Runtime, *, user_id: int, upload_id: uuid.UUID, thumbnail: bool) -> DownloadOut:
    """A short-lived signed URL for an attachment, issued only after the access check.

    Only decoded raster images, audio and video are shown inline; everything else (HTML, SVG,
    XML, scripts, unknown) is a download typed application/octet-stream, so nothing from an
    upload ever runs as a page.
    """
    async with rt.engine.connect() as conn:
        row = await access_attachment(conn, user_id=user_id, upload_id=upload_id)
    if thumbnail:
        if row["thumb_key"] is None:
            raise NotFound("this attachment has no thumbnail", code="no_thumbnail")
        key, delivery = row["thumb_key"], Delivery("image/webp", f"{row['filename']}.webp", inline=True)
    elif inline_safe(row["content_type"], row["kind"]):
        key, delivery = row["object_key"], Delivery(row["content_type"], row["filename"], inline=True)
    else:
        key, delivery = row["object_key"], Delivery("application/octet-stream", row["filename"], inline=False)
    ttl = rt.settings.media_url_ttl_s
    url = await rt.objects.presign_get(key, delivery=delivery, expires_s=ttl)
    return DownloadOut(
        url=url,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        content_type=delivery.content_type,
        inline=delivery.inline,
    )


# --- avatars ------------------------------------------------------------------------------------


def avatar_url(rt: Runtime, key: str) -> str:
    return f"{rt.settings.public_url.rstrip('/')}{AVATAR_PATH}{key.removeprefix('avatars/')}"


async def do_set_avatar(rt: Runtime, *, user_id: int, body: AvatarIn) -> AvatarOut:
    """Crop an uploaded image to a square, resize it, and make it the caller's public avatar."""
    async with rt.engine.connect() as conn:
        row = await access_own_upload(conn, user_id=user_id, upload_id=body.upload_id)
    if row["purpose"] != "avatar":
        raise Conflict("this upload was not made for an avatar", code="upload_not_avatar")
    try:
        checked, _, _, kind = await _check_copy(rt, row, purpose="avatar", thumbnail=False)
    except _Settled:
        raise NotFound("attachment not found", code="upload_not_found") from None
    if kind != "image":
        await rt.objects.delete([checked, row["key"]])
        raise Invalid(f"an avatar is one of {', '.join(sorted(RASTER))}", code="avatar_not_image")
    crop = (body.crop.x, body.crop.y, body.crop.size) if body.crop else None
    source = await rt.objects.read(checked)
    try:
        data = await asyncio.to_thread(
            make_avatar,
            source,
            px=rt.settings.media_avatar_px,
            max_pixels=rt.settings.media_max_image_pixels,
            crop=crop,
        )
    except Invalid:
        # The upload stays for another try (another crop); the next one makes a copy of its own.
        await _delete_objects(rt, [checked])
        raise
    # A new key per version: the public URL can be cached for ever.
    key = f"avatars/{user_id}/{uuid.uuid4().hex}.webp"
    await rt.objects.put(key, data, content_type="image/webp")
    async with rt.engine.begin() as conn:
        previous = await repo.avatar(conn, user_id=user_id, for_update=True)
        await repo.set_avatar(conn, user_id=user_id, key=key)
        await repo.update_upload(conn, upload_id=row["id"], values={"status": "deleted"})
    stale = [row["key"], checked] + ([previous["key"]] if previous is not None else [])
    await _delete_objects(rt, stale)
    await purge_uploads(rt, upload_ids=[row["id"]])
    return AvatarOut(user_id=user_id, url=avatar_url(rt, key))


async def get_avatar(rt: Runtime, *, user_id: int) -> AvatarOut:
    """Avatars are public: anyone may see anyone's."""
    async with rt.engine.connect() as conn:
        row = await repo.avatar(conn, user_id=user_id)
    # No avatar is an ordinary answer, not an error: clients ask for every profile they show.
    return AvatarOut(user_id=user_id, url=None if row is None else avatar_url(rt, row["key"]))


async def read_avatar(rt: Runtime, *, user_id: int, name: str) -> bytes:
    """The bytes of a current avatar (only the current one of that user is served)."""
    async with rt.engine.connect() as conn:
        row = await repo.avatar(conn, user_id=user_id)
    if row is None or row["key"] != f"avatars/{user_id}/{name}":
        raise NotFound("no such avatar", code="no_avatar")
    return await rt.objects.read(row["key"])


# --- removal ------------------------------------------------------------------------------------


async def _delete_objects(rt: Runtime, keys: Sequence[str]) -> bool:
    try:
        await rt.objects.delete(list(keys))
    except Exception:
        # The rows stay `deleted`, and the cleaner tries again on its next pass.
        log.exception("could not delete %d media objects", len(keys))
        return False
    return True


async def purge_uploads(rt: Runtime, *, upload_ids: Sequence[uuid.UUID] | None = None, batch: int = 500) -> int:
    """Remove the objects of uploads marked deleted, then their rows. Returns how many went."""
    removed = 0
    while True:
        async with rt.engine.begin() as conn:
            rows = await repo.deleted_uploads(conn, upload_ids=upload_ids, limit=batch)
            if not rows:
                return removed
            keys = sorted({k for r in rows for k in (r["key"], r["object_key"], r["thumb_key"]) if k is not None})
            if not await _delete_objects(rt, keys):
                return removed
            await repo.delete_uploads(conn, upload_ids=[r["id"] for r in rows])
        removed += len(rows)
        if len(rows) < batch:
            return removed


async def do_clean_uploads(rt: Runtime, *, now: datetime | None = None) -> int:
    """Delete uploads never attached to a message within MEDIA_ORPHAN_TTL_S of ``now``, and
    finish any earlier removal whose objects could not be deleted then."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=rt.settings.media_orphan_ttl_s)
    async with rt.engine.begin() as conn:
        await repo.mark_orphans_deleted(conn, older_than=cutoff)
    return await purge_uploads(rt)


async def clean_forever(rt: Runtime) -> None:
    """Every node runs this; SKIP LOCKED keeps two nodes off the same rows."""
    while True:
        await asyncio.sleep(rt.settings.media_cleaner_interval_s)
        try:
            removed = await do_clean_uploads(rt)
            if removed:
                log.info("removed %d orphaned uploads", removed)
        except Exception:
            log.exception("media cleaner pass failed")
