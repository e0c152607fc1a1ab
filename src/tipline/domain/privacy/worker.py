"""The export worker: builds requested data exports into zips, on every node, and purges expired ones.

Each turn it claims the oldest queued export (``FOR UPDATE SKIP LOCKED`` with a lease, so nodes
never build the same one and a node that dies mid-build leaves it to another), writes the
person's data as JSON files plus their attachments' files into a zip, stores it in object
storage and marks it ready until EXPORT_TTL_DAYS have passed. See docs/subsystems/accounts.md.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
import zipfile
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import RowMapping

from tipline.domain.privacy import repository as repo
from tipline.domain.privacy.actions import do_purge_expired_exports, export_expiry, storage_name
from tipline.runtime import Runtime
from tipline.workers import PollingWorker

log = logging.getLogger(__name__)

LEASE_S = 300.0
PAGE = 1000

README = """Your data from Tipline
======================

profile.json            your account (no password or secret is ever included)
sessions.json           the devices signed in to your account
tokens.json, bots.json  your personal access tokens (names and scopes, never the secrets) and bots
memberships.json        the conversations you are a member of
messages.json           every message you sent
attachments.json        the files you attached; the files themselves are in attachments/
reactions.json, tips.json, wallets.json, blocks.json, passkeys.json, two_factor.json,
sign_in_providers.json  the rest of what Tipline keeps about you
"""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID) or type(value).__name__ == "UUID":
        return str(value)  # asyncpg's own UUID type is not uuid.UUID
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(type(value).__name__)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._")
    return cleaned[:100] or "file"


class ExportWorker(PollingWorker):
    """One per node, started and stopped by the node (or a test)."""

    name = "export-worker"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt

    async def turn(self) -> None:
        while await self.run_once():
            pass
        await do_purge_expired_exports(self.rt)

    def interval(self) -> float:
        return self.rt.settings.export_poll_interval_s

    async def run_once(self) -> bool:
        """Build one due export; False when none was due."""
        async with self.rt.engine.begin() as conn:
            job = await repo.claim_export(conn, lease_s=LEASE_S, store=storage_name(self.rt))
        if job is None:
            return False
        try:
            await self.build(job)
        except Exception as exc:
            log.exception("export %s failed", job["id"])
            async with self.rt.engine.begin() as conn:
                await repo.fail_export(conn, export_id=job["id"], error=type(exc).__name__)
        return True

    async def _progress(self, export_id: uuid.UUID, progress: int) -> None:
        async with self.rt.engine.begin() as conn:
            await repo.set_progress(conn, export_id=export_id, progress=min(99, progress), lease_s=LEASE_S)

    async def build(self, job: RowMapping) -> None:
        rt, user_id = self.rt, job["user_id"]
        key = f"exports/{user_id}/{job['id'].hex}.zip"
        with tempfile.TemporaryFile() as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                await self._write_account(zf, job)
                await self._write_messages(zf, job)
                await self._write_attachments(zf, job)
            size = tmp.tell()
            tmp.seek(0)
            data = await asyncio.to_thread(tmp.read)
        await rt.objects.put(key, data, content_type="application/zip")
        async with rt.engine.begin() as conn:
            done = await repo.finish_export(
                conn, export_id=job["id"], object_key=key, size=size, expires_at=export_expiry(rt)
            )
        if not done:  # the account (and its export row) went while this was built
            await rt.objects.delete([key])
            return

    async def _write_account(self, zf: zipfile.ZipFile, job: RowMapping) -> None:
        async with self.rt.engine.connect() as conn:
            profile = await repo.profile(conn, user_id=job["user_id"])
            parts = await repo.account_parts(conn, user_id=job["user_id"])
        zf.writestr("README.txt", README)
        zf.writestr("profile.json", _json(profile))
        for name, rows in parts.items():
            zf.writestr(f"{name}.json", _json(rows))
        await self._progress(job["id"], 10)

    async def _write_messages(self, zf: zipfile.ZipFile, job: RowMapping) -> None:
        user_id, after, written = job["user_id"], 0, 0
        async with self.rt.engine.connect() as conn:
            total = max(1, await repo.message_count(conn, user_id=user_id))
        with zf.open("messages.json", "w") as out:
            out.write(b"[")
            while True:
                async with self.rt.engine.connect() as conn:
                    page = await repo.messages_page(conn, user_id=user_id, after_id=after, limit=PAGE)
                for row in page:
                    out.write((b",\n" if written else b"\n") + orjson.dumps(row, default=_default))
                    written += 1
                if len(page) < PAGE:
                    break
                after = page[-1]["id"]
                await self._progress(job["id"], 10 + 30 * written // total)
            out.write(b"\n]\n")
        await self._progress(job["id"], 40)

    async def _write_attachments(self, zf: zipfile.ZipFile, job: RowMapping) -> None:
        async with self.rt.engine.connect() as conn:
            files = await repo.attachments(conn, user_id=job["user_id"])
        listed = []
        for i, row in enumerate(files, start=1):
            path = f"attachments/{row['id'].hex}-{_safe_name(row['filename'])}"
            try:
                data = await self.rt.objects.read(row["object_key"])
            except Exception:  # removed meanwhile (its message was deleted)
                listed.append({**row, "path": None})
                continue
            await asyncio.to_thread(_write, zf, path, data)
            listed.append({**row, "path": path})
            if i % 20 == 0:
                await self._progress(job["id"], 40 + 55 * i // len(files))
        zf.writestr("attachments.json", _json(listed))


def _write(zf: zipfile.ZipFile, path: str, data: bytes) -> None:
    zf.writestr(path, data)
