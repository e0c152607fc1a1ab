"""The server settings as the rest of the server reads them, cached per process.

Reading them costs no query per request: each process keeps what it read for
SERVER_SETTINGS_CACHE_TTL_S; a change made on this node is seen at once, one made on another node
within that time. See docs/subsystems/admin.md (Server settings)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tipline.domain.serversettings import repository as repo
from tipline.domain.serversettings.schemas import KINDS
from tipline.errors import Invalid, TooLarge
from tipline.runtime import Runtime


@dataclass(frozen=True)
class Effective:
    """The settings as the rest of the server reads them (upload checks, retention)."""

    signup_mode: str
    allowed_email_domains: tuple[str, ...]
    retention_days: dict[str, int | None]
    upload_max_bytes: int | None
    upload_allowed_types: tuple[str, ...]

    def allows_type(self, content_type: str) -> bool:
        if not self.upload_allowed_types:
            return True
        content_type = content_type.lower()
        major = content_type.partition("/")[0] + "/*"
        return content_type in self.upload_allowed_types or major in self.upload_allowed_types


def _effective(row: Mapping[Any, Any]) -> Effective:
    return Effective(
        signup_mode=row["signup_mode"],
        allowed_email_domains=tuple(row["allowed_email_domains"]),
        retention_days={kind: row[f"retention_{kind}_days"] for kind in KINDS},
        upload_max_bytes=row["upload_max_bytes"],
        upload_allowed_types=tuple(row["upload_allowed_types"]),
    )


# Per engine (one per Runtime): (monotonic time read, settings). A change made on this node is
# seen at once; one made on another node within SERVER_SETTINGS_CACHE_TTL_S.
_cache: dict[int, tuple[float, Effective]] = {}


def forget(rt: Runtime) -> None:
    _cache.pop(id(rt.engine), None)


async def current(rt: Runtime) -> Effective:
    """The settings, from a per-process cache kept SERVER_SETTINGS_CACHE_TTL_S (no query per request)."""
    key = id(rt.engine)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < rt.settings.server_settings_cache_ttl_s:
        return hit[1]
    async with rt.engine.connect() as conn:
        value = _effective(await repo.settings_row(conn))
    _cache[key] = (now, value)
    return value


def largest_attachment(rt: Runtime) -> int:
    s = rt.settings
    return max(s.media_max_image_bytes, s.media_max_audio_bytes, s.media_max_video_bytes, s.media_max_file_bytes)


async def check_upload(rt: Runtime, *, content_type: str, size: int) -> None:
    """Refuse an attachment the admins' upload limits do not allow (the environment's per-kind
    ceilings are checked by media itself; the smaller limit wins)."""
    s = await current(rt)
    if not s.allows_type(content_type):
        raise Invalid(
            f"this server does not accept {content_type} attachments (allowed: {', '.join(s.upload_allowed_types)})",
            code="upload_type_not_allowed",
        )
    if s.upload_max_bytes is not None and size > s.upload_max_bytes:
        raise TooLarge(
            f"an attachment is at most {s.upload_max_bytes} bytes on this server (this one has {size})",
            code="upload_too_large",
        )
