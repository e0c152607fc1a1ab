"""Server settings actions: runtime settings, invites, custom emoji and message retention.

The only code that writes these tables. Every admin change is recorded in the audit log in its
own transaction. See docs/subsystems/admin.md (Server settings).
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.admin.audit import record_audit
from tipline.domain.media.actions import purge_uploads
from tipline.domain.previews import repository as previews_repo
from tipline.domain.previews.actions import delete_preview_images
from tipline.domain.serversettings import repository as repo
from tipline.domain.serversettings.access import access_admin
from tipline.domain.serversettings.current import current, forget, largest_attachment
from tipline.domain.serversettings.schemas import (
    KINDS,
    EmojiAdminOut,
    EmojiOut,
    InviteCreated,
    InviteCreateIn,
    InviteOut,
    Retention,
    ServerSettingsOut,
    ServerSettingsPatch,
    SignupInfo,
    UploadLimits,
)
from tipline.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from tipline.runtime import Runtime
from tipline.workers import PollingWorker

log = logging.getLogger(__name__)
EMOJI_PATH = "/media/emoji/"
EMOJI_TYPES = {"PNG": ("image/png", "png"), "GIF": ("image/gif", "gif"), "WEBP": ("image/webp", "webp")}
EMOJI_MAX_PX = 512


def _settings_out(rt: Runtime, row: Mapping[Any, Any]) -> ServerSettingsOut:
    limits = UploadLimits(max_bytes=row["upload_max_bytes"], allowed_types=list(row["upload_allowed_types"]))
    ceiling = largest_attachment(rt)
    return ServerSettingsOut(
        signup_mode=row["signup_mode"],
        allowed_email_domains=list(row["allowed_email_domains"]),
        retention=Retention(**{kind: row[f"retention_{kind}_days"] for kind in KINDS}),
        uploads=limits,
        effective_upload_max_bytes=min(ceiling, row["upload_max_bytes"] or ceiling),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


async def get_settings(rt: Runtime, *, user_id: int) -> ServerSettingsOut:
    async with rt.engine.connect() as conn:
        await access_admin(conn, user_id=user_id)
        return _settings_out(rt, await repo.settings_row(conn))


def _changes(patch: ServerSettingsPatch) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if patch.signup_mode is not None:
        values["signup_mode"] = patch.signup_mode
    if patch.allowed_email_domains is not None:
        values["allowed_email_domains"] = sorted(set(patch.allowed_email_domains))
    if patch.retention is not None:
        for kind in KINDS:
            values[f"retention_{kind}_days"] = getattr(patch.retention, kind)
    if patch.uploads is not None:
        values["upload_max_bytes"] = patch.uploads.max_bytes
        values["upload_allowed_types"] = sorted(set(patch.uploads.allowed_types))
    return values


async def do_update_settings(rt: Runtime, *, user_id: int, patch: ServerSettingsPatch, ip: str) -> ServerSettingsOut:
    values = _changes(patch)
    async with rt.engine.begin() as conn:
        await access_admin(conn, user_id=user_id)
        before = await repo.settings_row(conn)
        if not values:
            return _settings_out(rt, before)
        row = await repo.update_settings(conn, values=values, actor_id=user_id)
        changed = {k: {"from": before[k], "to": v} for k, v in values.items() if before[k] != row[k]}
        await record_audit(
            conn,
            actor_id=user_id,
            action="server_settings.update",
            target_type="server_settings",
            target_id=None,
            ip=ip,
            details={"changed": _jsonable(changed)},
        )
    forget(rt)
    return _settings_out(rt, row)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


async def get_signup_info(rt: Runtime) -> SignupInfo:
    s = await current(rt)
    return SignupInfo(signup_mode=s.signup_mode, allowed_email_domains=list(s.allowed_email_domains))


# --- sign-up admission (called by accounts' sign-up, inside its transaction) ---------------------


def hash_code(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


async def admit_sign_up(conn: AsyncConnection, *, email: str, invite: str | None) -> None:
    """Refuse a sign-up the server settings do not allow; use one of its invite's uses if needed.

    Read in the sign-up's transaction (not from the cache), so a sign-up right after an admin
    closed sign-up is refused; the invite's use commits or rolls back with the account. Nothing
    here depends on whether the address has an account (docs/subsystems/accounts.md)."""
    row = await repo.settings_row(conn)
    mode = row["signup_mode"]
    if mode == "closed":
        raise Forbidden("sign-up is closed on this server; ask an admin for an account", code="signup_closed")
    domains = row["allowed_email_domains"]
    if domains and email.rpartition("@")[2] not in domains:
        raise Forbidden("sign-up is limited to addresses at " + ", ".join(domains), code="email_domain_not_allowed")
    if mode == "invite_only":
        await _use_invite(conn, invite)


async def admit_provider_account(conn: AsyncConnection, *, email: str | None) -> None:
    """A new account from an OpenID Connect sign-in: only while sign-up is open (a provider's
    sign-in carries no invite), and with an address (provider-verified) in the allowed domains."""
    row = await repo.settings_row(conn)
    if row["signup_mode"] != "open":
        raise Forbidden(
            "new accounts need an invite or an admin on this server; sign-in works for existing accounts",
            code="signup_closed",
        )
    domains = row["allowed_email_domains"]
    if domains and (email is None or email.rpartition("@")[2] not in domains):
        raise Forbidden("sign-up is limited to addresses at " + ", ".join(domains), code="email_domain_not_allowed")


async def admit_wallet_account(conn: AsyncConnection) -> None:
    """A new account from a first Sign-In with Ethereum: only while sign-up is open (a wallet's
    sign-in carries no invite) and not limited to email domains (such an account has no email)."""
    row = await repo.settings_row(conn)
    if row["signup_mode"] != "open" or row["allowed_email_domains"]:
        raise Forbidden(
            "this wallet is not linked to an account here, and new accounts need an invite or an admin: "
            "sign in another way and link the wallet in Settings → Wallets",
            code="wallet_not_linked",
        )


async def _use_invite(conn: AsyncConnection, invite: str | None) -> None:
    if not invite:
        raise Forbidden("sign-up needs an invite on this server", code="invite_required")
    code_hash = hash_code(invite.strip())
    now = datetime.now(UTC)
    if await repo.use_invite(conn, code_hash=code_hash, now=now) is not None:
        return
    row = await repo.invite_by_hash(conn, code_hash=code_hash)
    if row is None or row["revoked_at"] is not None:
        raise Forbidden("this invite is unknown or was revoked", code="invite_invalid")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise Forbidden("this invite has expired", code="invite_expired")
    raise Forbidden("this invite has been used up", code="invite_used_up")


# --- invites ---------------------------------------------------------------------------------------


def _usable(row: RowMapping, now: datetime) -> bool:
    return (
        row["revoked_at"] is None
        and (row["expires_at"] is None or row["expires_at"] > now)
        and (row["max_uses"] is None or row["uses"] < row["max_uses"])
    )


def _invite_out(row: RowMapping, now: datetime) -> InviteOut:
    return InviteOut(
        id=row["id"],
        hint=row["hint"],
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        revoked=row["revoked_at"] is not None,
        usable=_usable(row, now),
    )


async def do_create_invite(rt: Runtime, *, user_id: int, data: InviteCreateIn, ip: str) -> InviteCreated:
    code = secrets.token_urlsafe(16)
    now = datetime.now(UTC)
    expires_at = None if data.expires_in_hours is None else now + timedelta(hours=data.expires_in_hours)
    async with rt.engine.begin() as conn:
        await access_admin(conn, user_id=user_id)
        row = await repo.insert_invite(
            conn,
            values={
                "id": uuid.uuid4(),
                "code_hash": hash_code(code),
                "hint": code[:4],
                "note": data.note,
                "created_by": user_id,
                "expires_at": expires_at,
                "max_uses": data.max_uses,
            },
        )
        details = {"max_uses": data.max_uses, "expires_at": expires_at.isoformat() if expires_at else None}
        await record_audit(
            conn,
            actor_id=user_id,
            action="invite.create",
            target_type="invite",
            target_id=str(row["id"]),
            ip=ip,
            details=details,
        )
    # The code travels in the fragment, which browsers never send: it stays out of server logs.
    link = rt.settings.public_url.rstrip("/") + f"/signup#invite={code}"
    return InviteCreated(**_invite_out(row, now).model_dump(), code=code, link=link)


async def list_invites(rt: Runtime, *, user_id: int) -> list[InviteOut]:
    now = datetime.now(UTC)
    async with rt.engine.connect() as conn:
        await access_admin(conn, user_id=user_id)
        return [_invite_out(row, now) for row in await repo.list_invites(conn)]


async def do_revoke_invite(rt: Runtime, *, user_id: int, invite_id: uuid.UUID, ip: str) -> InviteOut:
    async with rt.engine.begin() as conn:
        await access_admin(conn, user_id=user_id)
        row = await repo.revoke_invite(conn, invite_id=invite_id)
        if row is None:
            raise NotFound("no such invite", code="invite_not_found")
        await record_audit(
            conn, actor_id=user_id, action="invite.revoke", target_type="invite", target_id=str(invite_id), ip=ip
        )
    return _invite_out(row, datetime.now(UTC))


# --- custom emoji ---------------------------------------------------------------------------------


def emoji_url(rt: Runtime, key: str) -> str:
    return f"{rt.settings.public_url.rstrip('/')}{EMOJI_PATH}{key.removeprefix('emoji/')}"


def _emoji_out(rt: Runtime, row: RowMapping) -> EmojiOut:
    return EmojiOut(
        name=row["name"], url=emoji_url(rt, row["key"]), content_type=row["content_type"], created_at=row["created_at"]
    )


def _emoji_admin_out(rt: Runtime, row: RowMapping) -> EmojiAdminOut:
    return EmojiAdminOut(
        **_emoji_out(rt, row).model_dump(), id=row["id"], size=row["size"], created_by=row["created_by"]
    )


async def list_emoji(rt: Runtime) -> list[EmojiOut]:
    """Every custom emoji, for any signed-in person (the picker and the renderer need them)."""
    async with rt.engine.connect() as conn:
        return [_emoji_out(rt, row) for row in await repo.list_emoji(conn)]


def _emoji_type(data: bytes) -> tuple[str, str]:
    """The checked media type and extension of an emoji image: PNG, GIF or WebP, at most 512 px."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise Invalid("a custom emoji is a PNG, GIF or WebP image", code="emoji_not_image") from None
    if fmt not in EMOJI_TYPES:
        raise Invalid("a custom emoji is a PNG, GIF or WebP image", code="emoji_not_image")
    if width > EMOJI_MAX_PX or height > EMOJI_MAX_PX:
        raise Invalid(f"a custom emoji is at most {EMOJI_MAX_PX}x{EMOJI_MAX_PX} pixels", code="emoji_too_big")
    return EMOJI_TYPES[fmt]


async def do_create_emoji(rt: Runtime, *, user_id: int, name: str, data: bytes, ip: str) -> EmojiAdminOut:
    """Store an admin's emoji image like an avatar: a new object key per emoji, served publicly."""
    async with rt.engine.connect() as conn:
        await access_admin(conn, user_id=user_id)
        if await repo.emoji_by_name(conn, name=name) is not None:
            raise Conflict(f":{name}: already exists", code="emoji_exists")
    limit = rt.settings.custom_emoji_max_bytes
    if len(data) > limit:
        raise TooLarge(f"a custom emoji is at most {limit} bytes (this one has {len(data)})", code="emoji_too_large")
    content_type, ext = _emoji_type(data)
    key = f"emoji/{uuid.uuid4().hex}.{ext}"
    await rt.objects.put(key, data, content_type=content_type)
    async with rt.engine.begin() as conn:
        row = await repo.insert_emoji(
            conn,
            values={"name": name, "key": key, "content_type": content_type, "size": len(data), "created_by": user_id},
        )
        if row is not None:
            await record_audit(
                conn,
                actor_id=user_id,
                action="emoji.create",
                target_type="emoji",
                target_id=name,
                ip=ip,
                details={"content_type": content_type, "size": len(data)},
            )
    if row is None:  # a concurrent upload took the name first
        await rt.objects.delete([key])
        raise Conflict(f":{name}: already exists", code="emoji_exists")
    return _emoji_admin_out(rt, row)


async def list_emoji_admin(rt: Runtime, *, user_id: int) -> list[EmojiAdminOut]:
    async with rt.engine.connect() as conn:
        await access_admin(conn, user_id=user_id)
        return [_emoji_admin_out(rt, row) for row in await repo.list_emoji(conn)]


async def do_delete_emoji(rt: Runtime, *, user_id: int, name: str, ip: str) -> None:
    """Delete an emoji and its image. Reactions with it stay as text (`:name:`)."""
    async with rt.engine.begin() as conn:
        await access_admin(conn, user_id=user_id)
        row = await repo.delete_emoji(conn, name=name)
        if row is None:
            raise NotFound(f"no custom emoji :{name}:", code="emoji_not_found")
        await record_audit(conn, actor_id=user_id, action="emoji.delete", target_type="emoji", target_id=name, ip=ip)
    try:
        await rt.objects.delete([row["key"]])
    except Exception:
        log.exception("could not delete the image of emoji %s", name)


async def read_emoji(rt: Runtime, *, name: str) -> tuple[bytes, str]:
    """The bytes and type of a current emoji image, by its file name (only current ones are served)."""
    async with rt.engine.connect() as conn:
        row = await repo.emoji_by_key(conn, key=f"emoji/{name}")
    if row is None:
        raise NotFound("no such emoji", code="emoji_not_found")
    return await rt.objects.read(row["key"]), row["content_type"]


# --- message retention ----------------------------------------------------------------------------


async def _expire_batch(rt: Runtime, *, kind: str, cutoff: datetime, batch: int) -> int:
    """Delete one batch of a kind's expired messages; their attachments' objects after commit."""
    async with rt.engine.begin() as conn:
        rows = await repo.expired_messages(conn, kind=kind, cutoff=cutoff, limit=batch)
        if not rows:
            return 0
        ids = [r["id"] for r in rows]
        gone = await repo.mark_uploads_deleted(conn, message_ids=ids)
        images = await previews_repo.image_keys_of_messages(conn, message_ids=ids)
        conversation_ids = await repo.delete_messages(conn, message_ids=ids)
    if gone:
        await purge_uploads(rt, upload_ids=gone)
    await delete_preview_images(rt, images)
    if rt.cache is not None:
        # The recent-message cache may hold them (a quiet conversation's last messages): it is
        # dropped for these conversations and refilled from PostgreSQL on the next read.
        for cid in conversation_ids:
            await rt.cache.forget(cid)
    return len(ids)


async def do_apply_retention(rt: Runtime, *, now: datetime | None = None, batch: int | None = None) -> int:
    """Delete messages older than their conversation kind's retention, in batches. Returns how many.

    Search reads the messages table itself, so a deleted message is out of search at once; its
    edits and reactions (the events log) go too, since an edit carries an earlier text."""
    settings = await current(rt)
    now = now or datetime.now(UTC)
    size = batch or rt.settings.retention_batch
    removed = 0
    for kind in KINDS:
        days = settings.retention_days[kind]
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        while (n := await _expire_batch(rt, kind=kind, cutoff=cutoff, batch=size)) > 0:
            removed += n
            if n < size:
                break
        while await _delete_events(rt, kind=kind, cutoff=cutoff, batch=size) >= size:
            pass
    return removed


async def _delete_events(rt: Runtime, *, kind: str, cutoff: datetime, batch: int) -> int:
    async with rt.engine.begin() as conn:
        return await repo.delete_message_events(conn, kind=kind, cutoff=cutoff, limit=batch)


class RetentionWorker(PollingWorker):
    """Every node runs it; SKIP LOCKED keeps two nodes off the same messages."""

    name = "retention"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt

    async def turn(self) -> None:
        removed = await do_apply_retention(self.rt)
        if removed:
            log.info("retention removed %d messages", removed)

    def interval(self) -> float:
        return self.rt.settings.retention_interval_s
