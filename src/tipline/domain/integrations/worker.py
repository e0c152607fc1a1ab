"""The outgoing-webhook worker: on every node, finds new messages and delivers them, each at least once.

Nothing is added to the send path. Each turn:

1. **Scan.** Outgoing webhooks whose conversation's ``last_seq`` is past their ``cursor_seq`` are
   locked (``FOR UPDATE SKIP LOCKED``: one node per hook). Their new messages (seq after the cursor
   up to the ``last_seq`` just read: every one of them has committed, since a message and its
   conversation's ``last_seq`` commit together) that match the trigger words, bots' own messages
   left out, become rows of ``webhook_deliveries``; the cursor moves in the same transaction. A
   crash before the commit scans again; after it, the deliveries are durable.
2. **Deliver.** Due deliveries are leased (like the mail outbox) and POSTed, signed, through the
   outbound guard. A 2xx is done; its answer's ``text``, if any, is posted as the hook's bot with
   ``client_msg_id`` ``hook-out:<delivery id>`` (a retry after a crash posts nothing twice). A
   failure is retried with exponential backoff and jitter up to OUTGOING_WEBHOOK_MAX_ATTEMPTS; a
   refused address or a 4xx (but 408 and 429) is given up at once. The hook row keeps what its
   owner sees: failures in a row, the last status and error.

See docs/subsystems/integrations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import RowMapping, func

from tipline.backends import safehttp
from tipline.domain.integrations import repository as repo
from tipline.domain.integrations.actions import (
    IntegrationFailed,
    call_integration,
    parse_answer,
    post_as_bot,
    record_outcome,
)
from tipline.domain.integrations.models import outgoing_webhooks
from tipline.domain.integrations.render import render
from tipline.domain.messages.routing import SendRouter
from tipline.errors import DomainError
from tipline.runtime import Runtime

log = logging.getLogger(__name__)

HOOKS_PER_SCAN = 50
MESSAGES_PER_HOOK = 500
BATCH = 10


def trigger_word(words: list[str], body: str) -> str | None:
    """The trigger word a message starts with ("" when the hook takes every message), or None."""
    if not words:
        return ""
    first = body.split(maxsplit=1)[0].lower() if body.strip() else ""
    return first if first in words else None


def backoff_s(rt: Runtime, attempts: int) -> float:
    settings = rt.settings
    delay: float = min(
        settings.outgoing_webhook_retry_max_s, settings.outgoing_webhook_retry_base_s * 2.0 ** max(0, attempts - 1)
    )
    return delay / 2 + random.uniform(0, delay / 2)


def _payload(hook: RowMapping, message: RowMapping, word: str) -> bytes:
    return orjson.dumps(
        {
            "type": "message",
            "hook_id": hook["id"],
            "conversation_id": hook["conversation_id"],
            "conversation_name": hook["conversation_name"],
            "channel_id": hook["conversation_id"],
            "channel_name": hook["conversation_name"],
            "message_id": message["id"],
            "seq": message["seq"],
            "user_id": message["sender_id"],
            "user_name": message["handle"],
            "text": message["body"],
            "trigger_word": word,
            "timestamp": message["created_at"].isoformat(),
        }
    )


async def scan(rt: Runtime) -> int:
    """Turn new messages into deliveries; the number of deliveries made."""
    made = 0
    async with rt.engine.begin() as conn:
        for hook in await repo.hooks_behind(conn, limit=HOOKS_PER_SCAN):
            upto = int(hook["last_seq"])
            rows = await repo.messages_between(
                conn,
                conversation_id=hook["conversation_id"],
                after=hook["cursor_seq"],
                upto=upto,
                limit=MESSAGES_PER_HOOK,
            )
            if len(rows) == MESSAGES_PER_HOOK:
                upto = int(rows[-1]["seq"])
            words = list(hook["trigger_words"])
            deliveries = [
                {"hook_id": hook["id"], "message_id": m["id"], "payload": _payload(hook, m, word)}
                for m in rows
                if not m["is_bot"] and (word := trigger_word(words, m["body"])) is not None
            ]
            await repo.insert_deliveries(conn, rows=deliveries)
            await repo.update_row(conn, outgoing_webhooks, row_id=hook["id"], values={"cursor_seq": upto})
            made += len(deliveries)
    return made


def _permanent(exc: safehttp.FetchFailed) -> bool:
    if isinstance(exc, safehttp.RefusedAddress):
        return True
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429)


class OutgoingWebhookWorker:
    """One per node, started and stopped by the node (or a test); ``run_once`` is one turn."""

    name = "outgoing-webhooks"

    def __init__(self, rt: Runtime, sends: SendRouter) -> None:
        self.rt = rt
        self.sends = sends
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._inflight: asyncio.Future[Any] | None = None
        self.delivered = 0

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        if self._inflight is not None:
            self._inflight.cancel()
        await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:  # the database is away: try again next turn
                log.warning("outgoing webhook turn failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.rt.settings.outgoing_webhook_poll_s)

    async def run_once(self) -> int:
        """Scan, then deliver what is due; the number of deliveries attempted."""
        await scan(self.rt)
        lease_s = self.rt.settings.outgoing_webhook_timeout_s * BATCH + 30
        async with self.rt.engine.begin() as conn:
            rows = await repo.claim_due(conn, limit=BATCH, lease_s=lease_s)
        for row in rows:
            if self._stopping.is_set():
                break  # the rest is due again when its lease ends
            await self._deliver(row)
        return len(rows)

    async def _attempt(self, row: RowMapping) -> safehttp.SafeResponse | None:
        """POST the delivery; None when stopping interrupted it."""
        self._inflight = asyncio.ensure_future(
            call_integration(
                self.rt,
                url=row["url"],
                secret=row["secret"],
                payload=orjson.loads(row["payload"]),
                timeout_s=self.rt.settings.outgoing_webhook_timeout_s,
            )
        )
        try:
            response: safehttp.SafeResponse = await self._inflight
            return response
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                raise
            return None
        finally:
            self._inflight = None

    async def _deliver(self, row: RowMapping) -> None:
        rt = self.rt
        attempted = {"last_attempt_at": func.now()}
        try:
            response = await self._attempt(row)
        except safehttp.FetchFailed as exc:
            give_up = _permanent(exc) or row["attempts"] >= rt.settings.outgoing_webhook_max_attempts
            retry_at = None if give_up else datetime.now(UTC) + timedelta(seconds=backoff_s(rt, row["attempts"]))
            async with rt.engine.begin() as conn:
                await repo.finish_delivery(
                    conn, delivery_id=row["id"], delivered=False, error=exc.reason, retry_at=retry_at
                )
            await record_outcome(
                rt, outgoing_webhooks, row_id=row["hook_id"], status=exc.status, error=exc.reason, extra=attempted
            )
            return
        if response is None:
            return
        async with rt.engine.begin() as conn:
            await repo.finish_delivery(conn, delivery_id=row["id"], delivered=True, error=None, retry_at=None)
        self.delivered += 1
        error = await self._answer(row, response)
        await record_outcome(
            rt, outgoing_webhooks, row_id=row["hook_id"], status=response.status, error=error, extra=attempted
        )

    async def _answer(self, row: RowMapping, response: safehttp.SafeResponse) -> str | None:
        """Post the answer's text as the hook's bot; why it could not be, or None."""
        try:
            answer = parse_answer(response)
            text = render(answer.text, answer.attachments)
            if text.strip():
                await post_as_bot(
                    self.rt,
                    self.sends,
                    bot_id=row["bot_id"],
                    conversation_id=row["conversation_id"],
                    client_msg_id=f"hook-out:{row['id']}",
                    body=text,
                )
        except IntegrationFailed as exc:
            return exc.message
        except DomainError as exc:
            return f"the answer could not be posted: {exc.message}"
        return None
