"""HTTP routes for media: uploads, attachments' download URLs, avatars, and the local store's
upload form and signed downloads (which S3 serves itself when MEDIA_BACKEND=s3)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.config import Settings
from tipline.domain.media import actions
from tipline.domain.media.schemas import AttachmentOut, AvatarIn, AvatarOut, DownloadOut, UploadIn, UploadOut
from tipline.storage.objects import LocalDiskStore

router = APIRouter(tags=["media"])
UploadIdPath = Annotated[uuid.UUID, Path()]
# Served with every stored object: never sniffed into something else, never a live page.
OBJECT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
FORM_OVERHEAD = 64 * 1024


def body_limits(settings: Settings) -> dict[str, int]:
    """The local upload form may carry the largest attachment; every other route keeps the default."""
    largest = max(
        settings.media_max_image_bytes,
        settings.media_max_audio_bytes,
        settings.media_max_video_bytes,
        settings.media_max_file_bytes,
        settings.media_max_avatar_bytes,
    )
    return {LocalDiskStore.UPLOAD_PATH: largest + FORM_OVERHEAD}


@router.post("/media/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadOut)
async def request_upload(body: UploadIn, rt: Rt, caller: CurrentCaller) -> UploadOut:
    """Ask to upload a file (its name, exact size and type): answers a presigned POST for it."""
    return await actions.do_request_upload(rt, user_id=caller.user_id, body=body)


@router.post("/media/uploads/{upload_id}/complete", response_model=AttachmentOut)
async def complete_upload(upload_id: UploadIdPath, rt: Rt, caller: CurrentCaller) -> AttachmentOut:
    """Once the POST succeeded: checks the object (size, real type), makes thumbnails."""
    return await actions.do_complete_upload(rt, user_id=caller.user_id, upload_id=upload_id)


@router.get("/media/attachments/{upload_id}", response_model=AttachmentOut)
async def get_attachment(upload_id: UploadIdPath, rt: Rt, caller: CurrentCaller) -> AttachmentOut:
    return await actions.get_attachment(rt, user_id=caller.user_id, upload_id=upload_id)


@router.get("/media/attachments/{upload_id}/url", response_model=DownloadOut)
async def download_url(
    upload_id: UploadIdPath, rt: Rt, caller: CurrentCaller, thumbnail: Annotated[bool, Query()] = False
) -> DownloadOut:
    """A short-lived signed URL for the attachment (or its thumbnail); members only."""
    return await actions.get_download(rt, user_id=caller.user_id, upload_id=upload_id, thumbnail=thumbnail)


@router.put("/me/avatar", response_model=AvatarOut)
async def set_avatar(body: AvatarIn, rt: Rt, caller: CurrentCaller) -> AvatarOut:
    """Make an uploaded image (purpose `avatar`) my avatar, cropped to a square and resized."""
    return await actions.do_set_avatar(rt, user_id=caller.user_id, body=body)


@router.get("/users/{user_id}/avatar", response_model=AvatarOut)
async def get_avatar(user_id: IdPath, rt: Rt, caller: CurrentCaller) -> AvatarOut:
    return await actions.get_avatar(rt, user_id=user_id)


@router.get("/media/avatars/{user_id}/{name}", response_class=Response, include_in_schema=False)
async def avatar_image(
    user_id: IdPath, name: Annotated[str, Path(pattern=r"^[0-9a-f]{32}\.webp$")], rt: Rt
) -> Response:
    # Public (avatars are), and immutable: a new avatar gets a new name.
    data = await actions.read_avatar(rt, user_id=user_id, name=name)
    headers = {**OBJECT_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
    return Response(data, media_type="image/webp", headers=headers)


# --- the local store's side of presigned uploads and signed downloads ---------------------------


def _local(rt: Rt) -> LocalDiskStore | None:
    return rt.objects if isinstance(rt.objects, LocalDiskStore) else None


def _refuse(status_code: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status_code)


@router.post(LocalDiskStore.UPLOAD_PATH, include_in_schema=False)
async def local_upload(request: Request, rt: Rt) -> Response:
    """What S3 does with a presigned POST: check the signed policy, then store the file; and,
    stricter than S3, only while the upload is pending (never once it was completed)."""
    store = _local(rt)
    if store is None:
        return _refuse(404, "not_found", "this server stores media in S3")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception:
        return _refuse(400, "bad_form", "send multipart/form-data: the policy's fields, then `file`")
    try:
        file, policy_text, signature = form.get("file"), form.get("policy"), form.get("signature")
        if not isinstance(file, UploadFile) or not isinstance(policy_text, str) or not isinstance(signature, str):
            return _refuse(400, "bad_form", "the form needs `policy`, `signature` and `file`")
        policy = store.verify_policy(policy_text, signature)
        if policy is None:
            return _refuse(403, "policy_invalid", "the upload policy is invalid or has expired")
        if form.get("key") != policy["key"] or form.get("Content-Type") != policy["content_type"]:
            return _refuse(403, "policy_mismatch", "the form's key or Content-Type differs from the policy")
        if not await actions.accepts_upload(rt, key=policy["key"]):
            return _refuse(409, "upload_closed", "this upload was already completed or removed; request a new upload")
        size = await asyncio.to_thread(_spool_size, file)
        if size != policy["size"]:
            return _refuse(400, "size_mismatch", f"the policy allows exactly {policy['size']} bytes, got {size}")
        await asyncio.to_thread(_store, store, policy["key"], file)
    finally:
        await form.close()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _spool_size(file: UploadFile) -> int:
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    return size


def _store(store: LocalDiskStore, key: str, file: UploadFile) -> None:
    target = store.path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".upload-", delete=False) as tmp:
        shutil.copyfileobj(file.file, tmp)
    store.write_atomically(key, FsPath(tmp.name))


@router.get(LocalDiskStore.OBJECT_PATH + "{key:path}", include_in_schema=False)
async def local_object(key: str, request: Request, rt: Rt) -> Response:
    """A signed download URL of the local store: refused once expired or if anything was changed."""
    store = _local(rt)
    if store is None:
        return _refuse(404, "not_found", "this server stores media in S3")
    delivery = store.verify_get(key, dict(request.query_params))
    if delivery is None:
        return _refuse(403, "url_invalid", "this download link is invalid or has expired; ask for a new one")
    path = store.path(key)
    if not await asyncio.to_thread(path.is_file):
        return _refuse(404, "not_found", "this file no longer exists")
    headers = {
        **OBJECT_HEADERS,
        "Content-Disposition": delivery.disposition(),
        "Cache-Control": "private, max-age=60",
    }
    return FileResponse(path, media_type=delivery.content_type, headers=headers)
