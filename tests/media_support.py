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


# What a phone's GIF maker may write: an XMP packet with the position, in a GIF application
# extension ("XMP DataXMP", the packet raw, then XMP's 258-byte "magic trailer" that lets GIF
# readers skip it as data sub-blocks).
XMP_GPS = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="51,30.2N" '
    b'exif:GPSLongitude="0,7.65W"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
GIF_COMMENT = b"shot at 12 Elm Road by TestCam"
GIF_TRAILING = b"GPS 51.5034,-0.1276 hidden after the trailer"
GIF_COLOURS = [(220, 30, 30), (30, 160, 30), (30, 30, 220), (240, 200, 0)]


def gif_frames(count: int = 4, size: tuple[int, int] = (60, 40), *, transparent: bool = False) -> list[Image.Image]:
    """Frames that differ from each other (a square moving right), opaque or on a clear ground."""
    frames = []
    for i in range(count):
        img = Image.new("RGBA", size, (0, 0, 0, 0) if transparent else (255, 255, 255, 255))
        colour = GIF_COLOURS[i % len(GIF_COLOURS)]
        for x in range(4 + 6 * i, 16 + 6 * i):
            for y in range(4, size[1] - 4):
                img.putpixel((x % size[0], y), (*colour, 255))
        frames.append(img if transparent else img.convert("RGB"))
    return frames


def gif_bytes(
    count: int = 4,
    size: tuple[int, int] = (60, 40),
    *,
    durations: list[int] | None = None,
    loop: int | None = 0,
    transparent: bool = False,
    metadata: bool = False,
) -> bytes:
    """A GIF (animated when ``count`` > 1); with ``metadata``, also a comment extension, an XMP
    application extension holding a GPS position, and bytes after the trailer."""
    frames = gif_frames(count, size, transparent=transparent)
    options: dict[str, Any] = {"save_all": True, "append_images": frames[1:]}
    options["duration"] = durations or [100 * (i + 1) for i in range(count)]
    if loop is not None:
        options["loop"] = loop
    if transparent:
        options["disposal"] = 2
    if metadata:
        options["comment"] = GIF_COMMENT
    out = io.BytesIO()
    frames[0].save(out, format="GIF", **options)
    data = out.getvalue()
    if not metadata:
        return data
    flags = data[10]
    table = 3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0
    at = 13 + table  # after the header, the screen descriptor and the global colour table
    magic_trailer = bytes([1, *range(255, -1, -1)])
    xmp = b"\x21\xff\x0bXMP DataXMP" + XMP_GPS + magic_trailer + b"\x00"
    assert data.endswith(b";")
    return data[:at] + xmp + data[at:] + GIF_TRAILING


def gif_facts(data: bytes) -> tuple[int, list[int], int | None, list[bytes]]:
    """(frames, durations, loop, each frame's pixels as RGBA with every clear pixel alike)."""
    img = Image.open(io.BytesIO(data))
    durations, pixels = [], []
    for i in range(getattr(img, "n_frames", 1)):
        img.seek(i)
        durations.append(img.info.get("duration", 0))
        rgba = img.convert("RGBA")
        clear = Image.new("RGBA", rgba.size, (0, 0, 0, 0))
        pixels.append(Image.composite(rgba, clear, rgba.getchannel("A")).tobytes())
    img.seek(0)
    return getattr(img, "n_frames", 1), durations, img.info.get("loop"), pixels


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
