"""Type sniffing and image processing, on real bytes."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.media_support import HTML, OGG, SVG, gps_of, image_bytes
from tipline.domain.media.processing import inline_safe, make_avatar, process_image, sniff
from tipline.errors import Invalid


@pytest.mark.parametrize(
    ("data", "declared", "content_type", "kind"),
    [
        (image_bytes("PNG"), "image/png", "image/png", "image"),
        (image_bytes("JPEG"), "image/jpg", "image/jpeg", "image"),
        (image_bytes("WEBP"), "image/webp", "image/webp", "image"),
        (OGG, "audio/ogg", "audio/ogg", "audio"),
        (OGG, "video/ogg", "video/ogg", "video"),
        (HTML, "text/html", "text/html", "file"),
        (SVG, "image/svg+xml", "image/svg+xml", "file"),
        (b"%PDF-1.7\n" + b"0" * 100, "application/octet-stream", "application/pdf", "file"),
        (b"just text", "text/plain; charset=utf-8", "text/plain", "file"),
    ],
)
def test_sniff_accepts_what_the_bytes_are(data: bytes, declared: str, content_type: str, kind: str) -> None:
    found = sniff(data[:8192], declared)
    assert (found.content_type, found.kind) == (content_type, kind)


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (HTML, "image/png"),  # a page posing as an image
        (image_bytes("PNG"), "image/jpeg"),
        (image_bytes("PNG"), "text/plain"),  # an image posing as text
        (OGG, "image/gif"),
        (b"%PDF-1.7\n", "video/mp4"),
    ],
)
def test_sniff_refuses_mismatches(data: bytes, declared: str) -> None:
    with pytest.raises(Invalid) as info:
        sniff(data, declared)
    assert info.value.code == "type_mismatch"


def test_only_decoded_media_is_inline() -> None:
    assert inline_safe("image/png", "image") and inline_safe("audio/ogg", "audio") and inline_safe("video/mp4", "video")
    for ct in ("text/html", "image/svg+xml", "application/xml", "text/javascript", "application/octet-stream"):
        assert not inline_safe(ct, "file")


def test_process_image_strips_gps_and_makes_a_thumbnail() -> None:
    jpeg = image_bytes("JPEG", (1200, 900), gps=True)
    assert gps_of(jpeg)
    out = process_image(jpeg, "image/jpeg", thumb_px=320, max_pixels=10**8)
    assert (out.width, out.height, out.thumb_width, out.thumb_height) == (1200, 900, 320, 240)
    assert gps_of(out.data) == {} and Image.open(io.BytesIO(out.data)).format == "JPEG"
    thumb = Image.open(io.BytesIO(out.thumb))
    assert thumb.format == "WEBP" and thumb.size == (320, 240)
    # Tall images keep their shape too; small ones are not enlarged.
    tall = process_image(image_bytes("PNG", (100, 400)), "image/png", thumb_px=320, max_pixels=10**8)
    assert (tall.thumb_width, tall.thumb_height) == (80, 320)
    small = process_image(image_bytes("PNG", (40, 30)), "image/png", thumb_px=320, max_pixels=10**8)
    assert (small.thumb_width, small.thumb_height) == (40, 30)


def test_orientation_is_applied_before_exif_goes() -> None:
    img = Image.new("RGB", (60, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    out = process_image(buf.getvalue(), "image/jpeg", thumb_px=320, max_pixels=10**8)
    assert (out.width, out.height) == (20, 60)
    assert dict(Image.open(io.BytesIO(out.data)).getexif()) == {}


def test_pixel_limit_and_garbage_are_refused() -> None:
    with pytest.raises(Invalid) as info:
        process_image(image_bytes("PNG", (500, 500)), "image/png", thumb_px=320, max_pixels=1000)
    assert info.value.code == "image_too_large"
    with pytest.raises(Invalid) as info:
        process_image(image_bytes("PNG")[:40], "image/png", thumb_px=320, max_pixels=10**8)
    assert info.value.code == "image_invalid"


def test_avatar_is_a_square() -> None:
    data = make_avatar(image_bytes("PNG", (300, 200)), px=128, max_pixels=10**8, crop=None)
    assert Image.open(io.BytesIO(data)).size == (128, 128)
    data = make_avatar(image_bytes("PNG", (300, 200)), px=64, max_pixels=10**8, crop=(10, 10, 100))
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    with pytest.raises(Invalid):
        make_avatar(image_bytes("PNG", (300, 200)), px=64, max_pixels=10**8, crop=(250, 0, 100))
