"""The notification worker: finds the DMs and mentions in new messages, pushes them to members
with no open socket, and mails the ones left unread. One per node; nodes share the work through
row locks. See docs/subsystems/notifications.md.

It reads the messages table after the send's commit, from a durable cursor, so the send path
does no notification work at all and nothing is lost when a node stops: the cursor, the push
outbox and the pending digest items are rows in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.mail.actions import queue_mail
from tipline.domain.moderation import repository as mod_repo
from tipline.domain.notifications import repository as repo
from tipline.domain.notifications.access import endpoint_refusal
from tipline.domain.notifications.actions import unsubscribe_url
from tipline.domain.notifications.digest import digest_mail
from tipline.domain.notifications.push import push_enabled, send_push
from tipline.domain.notifications.schemas import mentions_all
from tipline.runtime import Runtime
from tipline.workers import QueueWorker

log = logging.getLogger(__name__)

SCAN_LIMIT = 500
PUSH_BATCH = 50
DIGEST_BATCH = 20
# A message id below the newest can still commit this long after (a slow transaction): the
# cursor trails by it, and recent_ids keeps what was handled meanwhile from being handled twice.
SETTLE_S = 10.0
PREVIEW = 140


def backoff_s(rt: Runtime, attempts: int) -> float:
    delay: float = min(rt.settings.mail_retry_max_s, rt.settings.mail_retry_base_s * 2.0 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def notify_targets(
    message: Mapping[Any, Any], members: Sequence[Mapping[Any, Any]], blocks: set[tuple[int, int]]
) -> list[Mapping[Any, Any]]:
    """The members this message notifies, by its kind, its mentions and each member's level."""
    direct = message["kind"] == "direct"
    everyone = "channel" in mentions_all(message["body"])
    mentioned = set(message["mention_ids"])
    sender = message["sender_id"]
    out = []
    for member in members:
        uid = member["user_id"]
        explicit = uid in mentioned or everyone
        if uid == sender or member["last_read_seq"] >= message["seq"] or member["level"] == "mute":
            continue
        if not explicit and (member["level"] == "mentions" or not direct):
            continue
        if (sender, uid) in blocks or (uid, sender) in blocks:
            continue
        out.append(member)
    return out


class NotifyWorker(QueueWorker):
    """Started and stopped by the node (or a test). Stopping interrupts the wait between turns."""

    name = "notify-worker"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt
        self._client: httpx.AsyncClient | None = None
        self.pushed = 0
        self.mailed = 0

    def _on_start(self) -> None:
        self._client = httpx.AsyncClient(trust_env=False, headers={"User-Agent": "Tipline"})

    async def _after_stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def turn(self) -> None:
        while not self.stopping and await self.run_once():
            pass

    def interval(self) -> float:
        return self.rt.settings.notify_poll_interval_s

    async def run_once(self) -> int:
        """One turn: scan new messages, send due pushes, mail due digests; how much was done."""
        return await self.scan() + await self.push_due() + await self.digest_due()

    # --- scanning ------------------------------------------------------------------------------

    async def scan(self) -> int:
        async with self.rt.engine.begin() as conn:
            cursor = await repo.lock_cursor(conn)
            if cursor is None:
                return 0  # another node is scanning
            after, recent = cursor
            rows = await repo.candidates(conn, after=after, skip=recent, limit=SCAN_LIMIT)
            if rows:
                await self._queue(conn, rows)
            settled = await repo.settled_id(conn, after=after, settle_s=SETTLE_S)
            handled = [i for i in [*recent, *(r["id"] for r in rows)] if i > settled]
            if rows or settled != after:
                await repo.save_cursor(conn, last_message_id=settled, recent_ids=handled)
        return len(rows)

    async def _queue(self, conn: AsyncConnection, rows: list[RowMapping]) -> None:
        members: dict[int, list[RowMapping]] = {}
        for r in await repo.recipients(conn, conversation_ids=sorted({m["conversation_id"] for m in rows})):
            members.setdefault(r["conversation_id"], []).append(r)
        people = {r["user_id"] for rs in members.values() for r in rs} | {m["sender_id"] for m in rows}
        blocks = await mod_repo.blocks_among(conn, user_ids=people)
        targets = [(m, t) for m in rows for t in notify_targets(m, members.get(m["conversation_id"], []), blocks)]
        if not targets:
            return
        uids = sorted({t["user_id"] for _, t in targets})
        await self._queue_pushes(conn, targets, uids)
        delay = timedelta(seconds=self.rt.settings.email_notify_delay_s)
        verified_only = self.rt.settings.email_verification
        emails = [
            {"user_id": t["user_id"], "message_id": m["id"], "due_at": m["created_at"] + delay}
            for m, t in targets
            if t["email"] and t["email_enabled"] and (t["email_verified"] or not verified_only)
        ]
        await repo.queue_emails(conn, rows=emails)

    async def _queue_pushes(
        self, conn: AsyncConnection, targets: list[tuple[RowMapping, Mapping[Any, Any]]], uids: list[int]
    ) -> None:
        if not push_enabled(self.rt.settings):
            return
        subs = await repo.subscriptions_for(conn, user_ids=uids)
        if not subs:
            return
        # Only to people with no open socket anywhere: an open tab notifies by itself.
        presence = await self.rt.presence.get_many(sorted(subs))
        away = {uid for uid, status in presence.items() if status == "offline"}
        rows = [
            {"subscription_id": sid, "message_id": m["id"]}
            for m, t in targets
            if t["user_id"] in away
            for sid in subs.get(t["user_id"], [])
        ]
        await repo.queue_pushes(conn, rows=rows)

    # --- pushing -------------------------------------------------------------------------------

    async def push_due(self) -> int:
        if not push_enabled(self.rt.settings):
            return 0
        lease_s = self.rt.settings.push_timeout_s * 2 + 30
        async with self.rt.engine.begin() as conn:
            rows = await repo.claim_pushes(conn, limit=PUSH_BATCH, lease_s=lease_s)
        if rows:
            await asyncio.gather(*(self._push(row) for row in rows))
        return len(rows)

    async def _push(self, row: RowMapping) -> None:
        retry_at: datetime | None = None
        outcome = await self._deliver(row)
        async with self.rt.engine.begin() as conn:
            if outcome == "sent":
                await repo.push_done(conn, push_id=row["id"], subscription_id=row["subscription_id"])
                self.pushed += 1
                return
            if outcome == "gone":
                await repo.delete_subscription(conn, subscription_id=row["subscription_id"])
                return
            if outcome.startswith("retry:"):
                retry_at = datetime.now(UTC) + timedelta(seconds=backoff_s(self.rt, row["attempts"]))
            await repo.push_failed(conn, push_id=row["id"], error=outcome, retry_at=retry_at)

    async def _deliver(self, row: RowMapping) -> str:
        """Send one push: ``sent``, ``gone``, ``retry: why`` or the reason it is given up."""
        if row["deleted_at"] is not None or row["last_read_seq"] is None or row["last_read_seq"] >= row["seq"]:
            return "skipped: deleted, read or no longer a member"
        allowed = self.rt.settings.push_allowed_private_hosts
        refusal = await asyncio.to_thread(endpoint_refusal, row["endpoint"], allowed_private=allowed)
        if refusal is not None:
            log.warning("push %s refused: %s", row["id"], refusal)
            return f"refused: {refusal}"
        subscription = {"endpoint": row["endpoint"], "keys": {"p256dh": row["p256dh"], "auth": row["auth"]}}
        assert self._client is not None
        try:
            result = await send_push(self._client, self.rt.settings, subscription, push_payload(row))
        except Exception as exc:  # unreachable, timed out: try again later
            return f"retry: {exc!r}"
        if result.delivered:
            return "sent"
        if result.gone:
            return "gone"
        return f"retry: HTTP {result.status}" if result.retry else f"refused: HTTP {result.status}"

    # --- mailing -------------------------------------------------------------------------------

    async def digest_due(self) -> int:
        async with self.rt.engine.connect() as conn:
            uids = await repo.users_due(conn, limit=DIGEST_BATCH)
        for uid in uids:
            async with self.rt.engine.begin() as conn:
                await self._digest(conn, uid)
        return len(uids)

    async def _digest(self, conn: AsyncConnection, user_id: int) -> None:
        items = await repo.take_digest(conn, user_id=user_id)
        person = await repo.digest_recipient(conn, user_id=user_id)
        if not items or person is None or not person["email"] or person["email_enabled"] is False:
            return
        mail = digest_mail(
            to=person["email"],
            display_name=person["display_name"],
            items=items,
            open_url=self.rt.settings.public_url,
            unsubscribe_url=unsubscribe_url(self.rt, user_id=user_id),
        )
        await queue_mail(conn, mail)
        self.mailed += 1


def push_payload(row: Mapping[Any, Any]) -> bytes:
    """What the service worker shows: who, where, the start of the message, and where to go."""
    sender = row["sender_name"] or "Someone"
    title = sender if row["kind"] == "direct" else f"{sender} in {row['conversation_name'] or 'a conversation'}"
    body = " ".join(str(row["body"]).split())
    return orjson.dumps(
        {
            "type": "message",
            "title": title,
            "body": body if len(body) <= PREVIEW else body[: PREVIEW - 1] + "…",
            "conversation_id": row["conversation_id"],
            "message_id": row["message_id"],
            "seq": row["seq"],
            "tag": f"conversation-{row['conversation_id']}",
        }
    )
