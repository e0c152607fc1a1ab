"""Privacy actions: a person's data export and the deletion of an account.

The only code of this domain that writes and publishes. See docs/subsystems/accounts.md
("Your data: export and deletion").
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import RowMapping

from tipline.backends.cache import RedisMessageCache
from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_event, event_frame
from tipline.bus.on_commit import UnitOfWork, unit_of_work
from tipline.domain.accounts import repository as accounts_repo
from tipline.domain.accounts.actions import reauthenticate, revoke_all_sessions
from tipline.domain.admin.audit import record_audit
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.media.actions import purge_uploads
from tipline.domain.previews import repository as previews_repo
from tipline.domain.privacy import repository as repo
from tipline.domain.privacy.access import (
    access_export,
    require_not_last_admin,
    require_ready,
    require_server_admin,
)
from tipline.domain.privacy.schemas import AccountDeleted, DeleteAccountIn, ExportOut
from tipline.errors import Forbidden, Invalid, NotFound, Unavailable
from tipline.runtime import Runtime

log = logging.getLogger(__name__)


def export_out(row: RowMapping) -> ExportOut:
    return ExportOut(
        id=row["id"],
        user_id=row["user_id"],
        state=row["state"],
        progress=row["progress"],
        size=row["size"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        expires_at=row["expires_at"],
        error=row["error"],
    )


# --- export ---------------------------------------------------------------------------------------


def storage_name(rt: Runtime) -> str:
    """Names the object store this node writes to (never a credential)."""
    s = rt.settings
    if s.media_backend == "s3":
        return f"s3:{s.s3_endpoint_url or ''}/{s.s3_bucket}"
    return f"local:{s.media_dir or ''}"


async def do_request_export(rt: Runtime, *, user_id: int, requested_by: int) -> ExportOut:
    """Queue an export of ``user_id``'s data for ``requested_by``; one still being built is reused."""
    async with rt.engine.begin() as conn:
        row = await repo.open_export(conn, user_id=user_id, requested_by=requested_by)
        if row is None:
            row = await repo.insert_export(
                conn, export_id=uuid.uuid4(), user_id=user_id, requested_by=requested_by, store=storage_name(rt)
            )
    return export_out(row)


async def do_admin_request_export(rt: Runtime, *, admin_id: int, target_id: int, ip: str) -> ExportOut:
    """An admin's export of someone's data: the admin's to download, recorded in the audit log."""
    async with rt.engine.begin() as conn:
        await require_server_admin(conn, user_id=admin_id)
        if await accounts_repo.user_by_id(conn, user_id=target_id) is None:
            raise NotFound("user not found", code="user_not_found")
        row = await repo.open_export(conn, user_id=target_id, requested_by=admin_id)
        if row is None:
            row = await repo.insert_export(
                conn, export_id=uuid.uuid4(), user_id=target_id, requested_by=admin_id, store=storage_name(rt)
            )
        await record_audit(
            conn,
            actor_id=admin_id,
            action="user.export",
            target_type="user",
            target_id=str(target_id),
            ip=ip,
            details={"export_id": str(row["id"])},
        )
    return export_out(row)


async def list_exports(rt: Runtime, *, user_id: int) -> list[ExportOut]:
    async with rt.engine.connect() as conn:
        return [export_out(r) for r in await repo.exports_requested_by(conn, user_id=user_id)]


async def get_export(rt: Runtime, *, user_id: int, export_id: uuid.UUID) -> ExportOut:
    async with rt.engine.connect() as conn:
        return export_out(access_export(await repo.export(conn, export_id=export_id), caller_id=user_id))


async def read_export(rt: Runtime, *, user_id: int, export_id: uuid.UUID) -> tuple[bytes, str]:
    """The zip's bytes and its file name, for whoever requested it, while it is ready."""
    async with rt.engine.connect() as conn:
        row = access_export(await repo.export(conn, export_id=export_id), caller_id=user_id)
    key = require_ready(row)
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        raise NotFound("this export has expired", code="export_expired")
    try:
        data = await rt.objects.read(key)
    except FileNotFoundError:
        raise NotFound("this export is no longer available", code="export_expired") from None
    stamp = row["created_at"].strftime("%Y%m%d")
    return data, f"tipline-export-{row['user_id']}-{stamp}.zip"


async def do_purge_expired_exports(rt: Runtime, *, now: datetime | None = None) -> int:
    """Delete the zips past EXPORT_TTL_DAYS and mark their rows expired."""
    async with rt.engine.begin() as conn:
        rows = await repo.expired_exports(conn, now=now or datetime.now(UTC), store=storage_name(rt))
        if not rows:
            return 0
        await rt.objects.delete([r["object_key"] for r in rows if r["object_key"]])
        await repo.mark_expired(conn, export_ids=[r["id"] for r in rows])
    return len(rows)


def export_expiry(rt: Runtime) -> datetime:
    return datetime.now(UTC) + timedelta(days=rt.settings.export_ttl_days)


# --- deletion -------------------------------------------------------------------------------------


async def do_delete_account(rt: Runtime, *, user_id: int, body: DeleteAccountIn) -> AccountDeleted:
    """A person deletes their own account, confirmed as a change to their second factors is."""
    async with rt.engine.begin() as conn:
        user = await repo.user_for_update(conn, user_id=user_id)
        if user is None:
            raise NotFound("user not found", code="user_not_found")
        require_not_last_admin(user, other_admins=await repo.other_active_admins(conn, user_id=user_id))
        factors = await accounts_repo.second_factors(conn, user_id=user_id)
        if user["password_hash"] is None and not factors["totp"]:
            # No password and no code to give (signed up through a sign-in provider): typing the
            # handle confirms.
            if body.handle != user["handle"]:
                raise Invalid("confirm by typing your handle", code="reauth_required")
        else:
            await reauthenticate(rt, conn, user_id=user_id, password=body.password, code=body.code)
    return await _erase(rt, user_id=user_id)


async def do_admin_delete_user(rt: Runtime, *, admin_id: int, target_id: int, ip: str) -> AccountDeleted:
    """An admin deletes someone's account (their own goes through ``do_delete_account``)."""
    async with rt.engine.begin() as conn:
        await require_server_admin(conn, user_id=admin_id)
        user = await repo.user_for_update(conn, user_id=target_id)
        if user is None:
            raise NotFound("user not found", code="user_not_found")
        if target_id == admin_id:
            raise Forbidden("delete your own account from your settings", code="use_own_settings")
    result = await _erase(rt, user_id=target_id)
    async with rt.engine.begin() as conn:
        # After the erasure, so the entry holds no personal data of the person: only the id it had.
        details = {"messages": result.messages, "messages_affected": result.messages_affected}
        await record_audit(
            conn,
            actor_id=admin_id,
            action="user.delete",
            target_type="user",
            target_id=str(target_id),
            ip=ip,
            details=details,
        )
    return result


async def _erase(rt: Runtime, *, user_id: int) -> AccountDeleted:
    """Objects first (a storage outage leaves the account as it was, to try again), then the
    sessions (sockets close), then the rows, in one transaction."""
    async with rt.engine.begin() as conn:
        ids = [user_id, *await repo.bot_ids(conn, owner_id=user_id)]
        user = await accounts_repo.user_by_id(conn, user_id=user_id)
        email: str | None = None if user is None else user["email"]
        await repo.mark_uploads_deleted(conn, user_ids=ids)
        upload_ids = await repo.upload_ids_of(conn, user_ids=ids)
        keys = await repo.object_keys(conn, user_ids=ids)
        if rt.settings.deleted_user_messages != "keep":
            # Erased messages take their link previews with them (rows by foreign key, images here).
            keys += await previews_repo.image_keys_of_senders(conn, user_ids=ids)
    purged = await purge_uploads(rt, upload_ids=upload_ids)
    try:
        if keys:
            await rt.objects.delete(keys)
    except Exception as exc:
        log.exception("could not delete the objects of account %s", user_id)
        raise Unavailable("object storage is unavailable; nothing was deleted, try again", code="storage") from exc
    if purged < len(upload_ids):
        raise Unavailable("object storage is unavailable; nothing was deleted, try again", code="storage")
    async with unit_of_work(rt.engine, rt.bus) as uow:
        for uid in ids:
            await revoke_all_sessions(uow, user_id=uid, reason="account_deleted")
        await repo.deactivate(uow.conn, user_ids=ids)
    async with unit_of_work(rt.engine, rt.bus) as uow:
        affected, conversations = await _forget_messages(rt, uow, user_ids=ids)
        for uid in ids:
            await repo.scrub_mentions(uow.conn, user_id=uid)
            await repo.forget_elsewhere(uow.conn, user_id=uid, email=email if uid == user_id else None)
        await repo.delete_users(uow.conn, user_ids=ids)
    await _drop_cached(rt, conversations)
    return AccountDeleted(
        user_id=user_id,
        messages=rt.settings.deleted_user_messages,
        messages_affected=affected,
        attachments_purged=purged,
        bots_deleted=len(ids) - 1,
    )


async def _forget_messages(rt: Runtime, uow: UnitOfWork, *, user_ids: Sequence[int]) -> tuple[int, set[int]]:
    """Erase the people's messages (tombstones, a ``message.deleted`` event each) or unlink them,
    as DELETED_USER_MESSAGES says; scrub their ids from the conversations' event logs."""
    rows = await repo.sent_messages(uow.conn, user_ids=user_ids)
    conversations = {r["conversation_id"] for r in rows}
    erased: list[int] = []
    if rt.settings.deleted_user_messages == "keep":
        await repo.unlink_messages(uow.conn, user_ids=user_ids)
    else:
        for cid in sorted(conversations):
            await conv_repo.conversation(uow.conn, conversation_id=cid, for_update=True)
            mine = [r["id"] for r in rows if r["conversation_id"] == cid]
            fresh = {r["id"] for r in rows if r["conversation_id"] == cid and r["deleted_at"] is None}
            for row in await repo.erase_messages(uow.conn, message_ids=mine):
                if row["id"] in fresh:
                    data = {"id": row["id"], "deleted_at": row["deleted_at"].isoformat(), "by": 0}
                    seq = await conv_repo.append_event(
                        uow.conn, conversation_id=cid, event="message.deleted", data=data
                    )
                    frame = event_frame("message.deleted", cid, seq, data)
                    uow.outbox.add(topic_conversation(cid), encode_event(frame))
            erased += mine
        await repo.forget_erased_messages(uow.conn, message_ids=erased)
    for uid in user_ids:
        await repo.scrub_events(uow.conn, user_id=uid, erased_message_ids=erased)
    return len(rows), conversations


async def _drop_cached(rt: Runtime, conversations: set[int]) -> None:
    """The recent-message cache forgets these conversations; the next read refills it from
    PostgreSQL, where the person no longer is."""
    cache = rt.cache
    if not isinstance(cache, RedisMessageCache) or not conversations:
        return
    for cid in conversations:
        try:
            await cache._client.delete(*cache.keys(cid))
        except Exception:
            log.warning("could not drop the cached messages of conversation %s", cid, exc_info=True)
    await asyncio.sleep(0)
