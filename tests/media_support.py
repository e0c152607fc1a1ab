"""Helpers for media tests: real image bytes (with EXIF GPS when asked) and the browser's upload flow."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import ExifTags, Image

from tests.helpers import User

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>'
# The smallest valid Ogg page header a sniffer recognises, then some payload.
OGG = b"OggS\x00\x02" + b"\x00" * 22 + b"\x01\x1e\x01vorbis" + b"\x00" * 200


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (800, 600), *, gps: bool = False) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    for x in range(0, size[0], 7):  # some structure, so encoders cannot shrink it to nothing
        img.putpixel((x, x % size[1]), (0, 0, 255))
    options: dict[str, Any] = {}
    if gps:
        exif = Image.Exif()
        exif[ExifTags.Base.Make] = "TestCam"
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps_ifd[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.0)
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = "W"
        gps_ifd[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
        options["exif"] = exif
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def gps_of(data: bytes) -> dict[int, Any]:
    return dict(Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo))


async def request_upload(
    api: httpx.AsyncClient,
    user: User,
    *,
    conversation_id: int | None,
    filename: str,
    content_type: str,
    size: int,
    purpose: str = "attachment",
) -> httpx.Response:
    body: dict[str, Any] = {"purpose": purpose, "filename": filename, "content_type": content_type, "size": size}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return await api.post("/media/uploads", headers=user.headers, json=body)


async def post_file(upload: dict[str, Any], data: bytes, filename: str, content_type: str) -> httpx.Response:
    """What a browser does with a presigned POST: the policy's fields, then the file."""
    post = upload["post"]
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(post["url"], data=post["fields"], files={"file": (filename, data, content_type)})


async def upload(
    api: httpx.AsyncClient,
    user: User,
    conversation_id: int | None,
    data: bytes,
    *,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    purpose: str = "attachment",
    complete: bool = True,
) -> tuple[str, httpx.Response]:
    """Request, POST and (unless told not to) complete an upload: (upload id, complete response)."""
    r = await request_upload(
        api,
        user,
        conversation_id=conversation_id,
        filename=filename,
        content_type=content_type,
        size=len(data),
        purpose=purpose,
    )
    assert r.status_code == 201, r.text
    posted = await post_file(r.json(), data, filename, content_type)
    assert posted.status_code in (200, 201, 204), posted.text
    upload_id: str = r.json()["upload_id"]
    if not complete:
        return upload_id, posted
    done = await api.post(f"/media/uploads/{upload_id}/complete", headers=user.headers)
    return upload_id, done


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url)
