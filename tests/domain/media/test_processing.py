"""Type sniffing and image processing, on real bytes."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from tests.media_support import (
    GIF_COMMENT,
    GIF_TRAILING,
    HTML,
    OGG,
    SVG,
    XMP_GPS,
    gif_bytes,
    gif_facts,
    gps_of,
    image_bytes,
)
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


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_comments_xmp_and_text_do_not_survive_re_encoding(fmt: str) -> None:
    img = Image.new("RGB", (40, 30), (10, 120, 200))
    buf = io.BytesIO()
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", GIF_COMMENT.decode())
        text.add_itxt("XML:com.adobe.xmp", XMP_GPS.decode())
        img.save(buf, fmt, pnginfo=text)
    elif fmt == "JPEG":
        img.save(buf, fmt, comment=GIF_COMMENT, xmp=XMP_GPS)
    else:
        img.save(buf, fmt, xmp=XMP_GPS)
    data = buf.getvalue()
    assert XMP_GPS in data
    out = process_image(data, f"image/{fmt.lower()}", thumb_px=32, max_pixels=10**8)
    for leak in (b"GPSLatitude", b"xpacket", GIF_COMMENT):
        assert leak not in out.data and leak not in out.thumb, (fmt, leak)


def test_gif_loses_its_xmp_gps_comment_and_trailing_bytes() -> None:
    gif = gif_bytes(metadata=True)
    assert XMP_GPS in gif and GIF_COMMENT in gif and gif.endswith(GIF_TRAILING)
    out = process_image(gif, "image/gif", thumb_px=32, max_pixels=10**8)
    for leak in (b"XMP", b"GPSLatitude", b"xpacket", GIF_COMMENT, GIF_TRAILING):
        assert leak not in out.data, leak
    assert out.data.endswith(b"\x00;")  # the last image's data, then the trailer: nothing after
    img = Image.open(io.BytesIO(out.data))
    assert img.format == "GIF" and "comment" not in img.info
    assert img.info.get("extension", (b"NETSCAPE2.0",))[0] == b"NETSCAPE2.0"  # the loop count, nothing else
    # What is shown is unchanged: the same frames, for as long, as often.
    assert gif_facts(out.data) == gif_facts(gif_bytes(metadata=False))
    assert (out.width, out.height, out.thumb_width, out.thumb_height) == (60, 40, 32, 21)
    assert Image.open(io.BytesIO(out.thumb)).format == "WEBP"


@pytest.mark.parametrize(
    ("count", "loop", "transparent"),
    [(1, None, False), (5, 0, False), (3, 2, False), (4, 0, True), (6, None, True)],
)
def test_gif_keeps_every_frame_its_duration_and_the_loop_count(count: int, loop: int | None, transparent: bool) -> None:
    durations = [30 + 70 * i for i in range(count)]
    gif = gif_bytes(count, (50, 30), durations=durations, loop=loop, transparent=transparent, metadata=True)
    out = process_image(gif, "image/gif", thumb_px=320, max_pixels=10**8)
    frames, kept_durations, kept_loop, pixels = gif_facts(out.data)
    assert (frames, kept_durations, kept_loop) == (count, durations, loop)
    assert pixels == gif_facts(gif)[3]


def test_an_animation_counts_the_pixels_of_all_its_frames() -> None:
    gif = gif_bytes(8, (50, 30))  # 1,500 pixels a frame, 12,000 in all
    assert process_image(gif, "image/gif", thumb_px=32, max_pixels=12_000).width == 50
    with pytest.raises(Invalid) as info:
        process_image(gif, "image/gif", thumb_px=32, max_pixels=11_999)
    assert info.value.code == "image_too_large" and "all frames" in info.value.message


def test_avatar_is_a_square() -> None:
    data = make_avatar(image_bytes("PNG", (300, 200)), px=128, max_pixels=10**8, crop=None)
    assert Image.open(io.BytesIO(data)).size == (128, 128)
    data = make_avatar(image_bytes("PNG", (300, 200)), px=64, max_pixels=10**8, crop=(10, 10, 100))
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    with pytest.raises(Invalid):
        make_avatar(image_bytes("PNG", (300, 200)), px=64, max_pixels=10**8, crop=(250, 0, 100))
