"""What an upload really is, and the images made from it. Pure functions, no I/O.

The type comes from the bytes (magic numbers, via ``filetype``), never from the client. Images
are decoded and re-encoded by Pillow, which drops EXIF (GPS position, camera serials), XMP,
comments and any bytes hidden after the image; GIFs too, every frame of an animation kept with
its duration and the loop count. Thumbnails and avatars are made the same way.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import filetype
from PIL import Image, ImageOps, ImageSequence

from tipline.errors import Invalid

# Images Tipline decodes, thumbnails and may show inline. Anything else is a file.
RASTER = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
# Served inline (in an <img>, <audio> or <video>) once sniffed; everything else is a download.
INLINE_MAJORS = ("audio/", "video/")
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "video/x-m4v": "video/mp4",
}
MEDIA_MAJORS = ("image/", "audio/", "video/")
# Image types that are text (no magic number) and can carry script: never treated as images.
TEXTUAL_IMAGES = frozenset({"image/svg+xml"})
SNIFF_BYTES = 8192


def normalize_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def declared_kind(content_type: str) -> str:
    """The kind an upload claims to be (which size limit applies before anything is read)."""
    ct = normalize_type(content_type)
    if ct in RASTER:
        return "image"
    if ct.startswith("audio/"):
        return "audio"
    if ct.startswith("video/"):
        return "video"
    return "file"


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    kind: str


def _compatible(declared: str, sniffed: str) -> bool:
    if declared == sniffed:
        return True
    # WebM, Ogg and MP4 are containers for sound alone as well as for video.
    d_major, _, d_sub = declared.partition("/")
    s_major, _, s_sub = sniffed.partition("/")
    return d_sub == s_sub and {d_major, s_major} <= {"audio", "video"}


def sniff(head: bytes, declared_type: str) -> Sniffed:
    """The real type of an upload from its first bytes; a clear refusal when it is not what was declared."""
    declared = normalize_type(declared_type)
    guess = filetype.guess(head)
    found = normalize_type(guess.mime) if guess is not None else None
    media_declared = declared.startswith(MEDIA_MAJORS) and declared not in TEXTUAL_IMAGES
    if found is None:
        if media_declared:
            raise Invalid(f"the file is declared as {declared} but its bytes are not", code="type_mismatch")
        return Sniffed(content_type=declared, kind="file")
    if _compatible(declared, found):
        return Sniffed(content_type=declared, kind=declared_kind(declared))
    if media_declared or found.startswith(MEDIA_MAJORS):
        raise Invalid(f"the file is declared as {declared} but its bytes are {found}", code="type_mismatch")
    # Two non-media types (say a .docx sent as application/octet-stream): keep what the bytes say.
    return Sniffed(content_type=found, kind="file")


def inline_safe(content_type: str, kind: str) -> bool:
    """Whether a browser may show it in place: decoded raster images, audio and video only."""
    return (kind == "image" and content_type in RASTER) or (
        kind in ("audio", "video") and content_type.startswith(INLINE_MAJORS)
    )


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    thumb: bytes
    thumb_width: int
    thumb_height: int


@contextmanager
def _decoding(max_pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb warning becomes a refusal, and any decoder failure a clear 422."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except Invalid:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Invalid(f"images are limited to {max_pixels} pixels", code="image_too_large") from exc
        except Exception as exc:
            raise Invalid("the image could not be decoded", code="image_invalid") from exc


def _open(data: bytes, max_pixels: int) -> Image.Image:
    with _decoding(max_pixels):
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > max_pixels:
            raise Invalid(f"images are limited to {max_pixels} pixels", code="image_too_large")
        img.load()
    return img


def _clean_gif(img: Image.Image, max_pixels: int) -> tuple[bytes, Image.Image]:
    """The GIF re-encoded from its frames alone (and its first frame, for the thumbnail).

    Only pixels, each frame's duration and the loop count are carried over: comments,
    application extensions (XMP, with whatever position it holds) and bytes after the trailer
    are not. Pillow hands out every frame already composed, so each is written whole.
    """
    with _decoding(max_pixels):
        loop = img.info.get("loop")
        frames: list[Image.Image] = []
        durations: list[int] = []
        pixels = 0
        for frame in ImageSequence.Iterator(img):
            # The budget covers the whole animation: a small file can hold thousands of frames.
            pixels += frame.width * frame.height
            if pixels > max_pixels:
                raise Invalid(
                    f"images are limited to {max_pixels} pixels, all frames of an animation together",
                    code="image_too_large",
                )
            copy = frame.copy()
            # A palette frame's transparent index is drawing, not metadata; nothing else is kept.
            copy.info = {k: v for k, v in frame.info.items() if k == "transparency"}
            frames.append(copy)
            durations.append(int(frame.info.get("duration", 0)))
        size = frames[-1].size  # Pillow grows the canvas when a later frame overflows it
        frames = [_on_canvas(f, size) for f in frames]
        options: dict[str, Any] = {"save_all": True, "append_images": frames[1:], "duration": durations}
        if loop is not None:
            options["loop"] = loop
        if any(f.mode in ("RGBA", "PA", "LA") or "transparency" in f.info for f in frames):
            # Frames are whole, so clearing between them loses nothing, and a pixel that turns
            # transparent does not keep showing the previous frame's colour.
            options["disposal"] = 2
        return _encode(frames[0], "GIF", **options), frames[0]


def _on_canvas(frame: Image.Image, size: tuple[int, int]) -> Image.Image:
    if frame.size == size:
        return frame
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(frame.convert("RGBA"), (0, 0))
    return canvas


def _encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def _thumbnail(img: Image.Image, px: int) -> tuple[bytes, int, int]:
    thumb = img.copy()
    thumb.thumbnail((px, px))
    if thumb.mode not in ("RGB", "RGBA"):
        thumb = thumb.convert("RGBA")
    return _encode(thumb, "WEBP", quality=80), thumb.width, thumb.height


def process_image(data: bytes, content_type: str, *, thumb_px: int, max_pixels: int) -> ProcessedImage:
    """Re-encode without metadata (EXIF, XMP and GPS gone, orientation applied) and make a thumbnail."""
    img = _open(data, max_pixels)
    fmt = RASTER[content_type]
    if fmt == "GIF":
        clean, first = _clean_gif(img, max_pixels)
        return ProcessedImage(clean, content_type, first.width, first.height, *_thumbnail(first, thumb_px))
    upright = ImageOps.exif_transpose(img) or img
    # Encoders write back some of what the decoder read (a JPEG comment, say): keep only what
    # drawing needs, the colour profile and the transparent colour.
    upright.info = {k: v for k, v in upright.info.items() if k in ("icc_profile", "transparency")}
    if fmt == "JPEG":
        clean = _encode(upright.convert("RGB"), "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        clean = _encode(upright, "PNG", optimize=True)
    else:
        clean = _encode(upright, "WEBP", quality=90)
    return ProcessedImage(clean, content_type, upright.width, upright.height, *_thumbnail(upright, thumb_px))


def make_avatar(data: bytes, *, px: int, max_pixels: int, crop: tuple[int, int, int] | None) -> bytes:
    """A ``px``-square WebP: the given square (x, y, side) or the centred largest one."""
    img = _open(data, max_pixels)
    img = ImageOps.exif_transpose(img) or img
    if crop is None:
        side = min(img.width, img.height)
        x, y = (img.width - side) // 2, (img.height - side) // 2
    else:
        x, y, side = crop
        if x < 0 or y < 0 or side < 1 or x + side > img.width or y + side > img.height:
            raise Invalid(
                f"the crop square must lie inside the {img.width}x{img.height} image", code="crop_out_of_bounds"
            )
    square = img.crop((x, y, x + side, y + side)).convert("RGBA").resize((px, px), Image.Resampling.LANCZOS)
    return _encode(square, "WEBP", quality=85)
