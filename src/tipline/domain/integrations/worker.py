"""The outgoing-webhook worker: on every node, finds new messages and delivers them, each at least once.

Nothing is added to the send path. Each turn:

1. **Scan.** Outgoing webhooks whose conversation's ``last_seq`` is past their ``cursor_seq`` are
   locked (``FOR UPDATE SKIP LOCKED``: one node per hook). Their new messages (seq after the cursor
   up to the ``last_seq`` just read: every one of them has committed, since a message and its
   conversation's ``last_seq`` commit together) that match the trigger words, bots' own messages
   left out, become rows of ``webhook_deliveries``; the cursor moves in the same transaction. A
   crash before the commit scans again; after it, the deliveries are durable.
2. **Deliver.** Due deliveries are leased (like the mail outbox) and POSTed, signed, through the
   outbound guard, up to OUTGOING_WEBHOOK_CONCURRENCY at once: each is its own task, so an endpoint
   that hangs until its timeout holds up nobody else's deliveries. Only the lease's holder records
   the outcome (the row's ``attempts`` is the lease token), so a delivery whose lease ran out and
   was claimed again is not finished twice. A 2xx is done; its answer's ``text``, if any, is posted
   as the hook's bot with ``client_msg_id`` ``hook-out:<delivery id>`` (a retry after a crash posts
   nothing twice). A failure is retried with exponential backoff and jitter up to
   OUTGOING_WEBHOOK_MAX_ATTEMPTS; a refused address or a 4xx (but 408 and 429) is given up at once.
   The hook row keeps what its owner sees: failures in a row, the last status and error.

See docs/subsystems/integrations.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta

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
from tipline.workers import QueueWorker

log = logging.getLogger(__name__)

HOOKS_PER_SCAN = 50
MESSAGES_PER_HOOK = 500


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


class OutgoingWebhookWorker(QueueWorker):
    """One per node, started and stopped by the node (or a test); ``run_once`` is one turn.
    Stopping cuts the deliveries in flight short: their leases run out and they are attempted
    again (delivery is at least once)."""

    name = "outgoing-webhooks"

    def __init__(self, rt: Runtime, sends: SendRouter) -> None:
        super().__init__()
        self.rt = rt
        self.sends = sends
        self._deliveries: set[asyncio.Task[None]] = set()
        self.delivered = 0

    async def _after_stop(self) -> None:
        for task in self._deliveries:
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def turn(self) -> None:
        await self.run_once()

    def interval(self) -> float:
        return self.rt.settings.outgoing_webhook_poll_s

    async def run_once(self) -> int:
        """Scan, then start the deliveries that are due, as many as there are free slots; the number
        started (they finish in the background)."""
        await scan(self.rt)
        free = self.rt.settings.outgoing_webhook_concurrency - len(self._deliveries)
        if free <= 0:
            return 0
        async with self.rt.engine.begin() as conn:
            rows = await repo.claim_due(conn, limit=free, lease_s=self.rt.settings.outgoing_webhook_timeout_s + 30)
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"{self.name}:{row['id']}")
            self._deliveries.add(task)
            task.add_done_callback(self._delivery_done)
        return len(rows)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The database went away mid-delivery: the lease runs out and the delivery is retried.
            log.warning("outgoing webhook delivery failed", exc_info=exc)

    async def _deliver(self, row: RowMapping) -> None:
        rt = self.rt
        attempted = {"last_attempt_at": func.now()}
        lease = {"delivery_id": row["id"], "attempts": row["attempts"]}
        try:
            response = await call_integration(
                rt,
                url=row["url"],
                secret=row["secret"],
                payload=orjson.loads(row["payload"]),
                timeout_s=rt.settings.outgoing_webhook_timeout_s,
            )
        except safehttp.FetchFailed as exc:
            give_up = _permanent(exc) or row["attempts"] >= rt.settings.outgoing_webhook_max_attempts
            retry_at = None if give_up else datetime.now(UTC) + timedelta(seconds=backoff_s(rt, row["attempts"]))
            async with rt.engine.begin() as conn:
                if not await repo.finish_delivery(conn, **lease, delivered=False, error=exc.reason, retry_at=retry_at):
                    return  # the lease ran out and another turn owns the delivery now
            await record_outcome(
                rt, outgoing_webhooks, row_id=row["hook_id"], status=exc.status, error=exc.reason, extra=attempted
            )
            return
        async with rt.engine.begin() as conn:
            if not await repo.finish_delivery(conn, **lease, delivered=True, error=None, retry_at=None):
                return
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
