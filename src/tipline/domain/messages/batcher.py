"""Group commit for sends: concurrent sends share one transaction, each still acked after commit.

One batch is in flight at a time per node; sends that arrive meanwhile wait and form the next
batch, so batches grow with load and a lone send commits at once. Inside a batch every
conversation row is locked (in id order) before anything is read, which makes the seq
allocation gap-free and the ``client_msg_id`` duplicate check race-free across nodes.
A batch that fails as a whole is retried one send at a time, so one bad send cannot fail
its neighbours. See docs/subsystems/messages.md.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping

from tipline.backends.cache import entry, write_through
from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_sender_event, event_frame
from tipline.bus.on_commit import unit_of_work
from tipline.domain.media import repository as media_repo
from tipline.domain.media.schemas import attachment_dict
from tipline.domain.messages import repository as repo
from tipline.domain.messages import send_rules as rules
from tipline.domain.messages.schemas import Ack, SendRequest, message_dict
from tipline.domain.moderation import repository as mod_repo
from tipline.domain.threads import repository as threads_repo
from tipline.domain.threads.schemas import thread_updated_frames
from tipline.errors import DomainError, Unavailable
from tipline.metrics import MESSAGES_SENT
from tipline.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingSend:
    request: SendRequest
    future: asyncio.Future[Ack] = field(repr=False)


def _ack(row: Mapping[Any, Any], *, duplicate: bool) -> Ack:
    # Built from the database's own typed values: no validation needed, one per send.
    return Ack.model_construct(
        conversation_id=row["conversation_id"],
        client_msg_id=row["client_msg_id"],
        message_id=row["id"],
        seq=row["seq"],
        created_at=row["created_at"],
        duplicate=duplicate,
    )


@dataclass
class _Plan:
    """What a batch decided before writing: each send's outcome, or the row it inserts."""

    outcomes: list[Ack | DomainError | None]
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_index: list[int] = field(default_factory=list)  # batch position of each row
    first_in_batch: dict[tuple[int, int, str], int] = field(default_factory=dict)  # key -> row
    links: list[tuple[uuid.UUID, int]] = field(default_factory=list)  # (upload id, row)
    sent_now: set[tuple[int, int]] = field(default_factory=set)
    next_seq: dict[int, int] = field(default_factory=dict)


class SendBatcher:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._queue: deque[PendingSend] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.committed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="send-batcher")

    async def stop(self) -> None:
        """Finish every send already accepted, then stop (graceful shutdown)."""
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def drain(self) -> None:
        while self._queue or not self._idle.is_set():
            await self._idle.wait()
            if self._queue:
                await asyncio.sleep(0)

    def submit(self, request: SendRequest) -> asyncio.Future[Ack]:
        """Queue a send (synchronously, so one client's sends keep their order)."""
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._queue.append(PendingSend(request, future))
        self._idle.clear()
        self._wake.set()
        return future

    async def _run(self) -> None:
        limit = self._rt.settings.send_batch_max
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]
                await self._commit(batch)
            self._idle.set()

    async def _commit(self, batch: list[PendingSend]) -> None:
        try:
            await self._commit_batch(batch)
        except Exception as exc:
            if len(batch) > 1:
                log.warning("send batch of %d failed (%s); retrying one by one", len(batch), type(exc).__name__)
                for item in batch:
                    await self._commit([item])
                return
            log.exception("send failed")
            if not batch[0].future.done():
                batch[0].future.set_exception(
                    Unavailable("the message could not be stored; retry with the same client_msg_id")
                )

    async def _commit_batch(self, batch: list[PendingSend]) -> None:
        """One transaction for the batch, through the one publish-after-commit path: on commit the
        senders are answered first (an ack needs only the commit), then the events go to the bus
        (both reach sockets in the same loop turn, acks first), then the cache is written."""
        sends = [p.request for p in batch]
        async with unit_of_work(self._rt.engine, self._rt.bus) as uow:
            ctx = await rules.prefetch(uow.conn, sends, mention_all_max=self._rt.settings.mention_all_max_members)
            plan = _plan(sends, ctx)
            inserted: list[RowMapping] = []
            threads: list[RowMapping] = []
            if plan.rows:
                last = {cid: seq for cid, seq in plan.next_seq.items() if seq != ctx.locked[cid]["last_seq"]}
                inserted = await repo.insert_messages(uow.conn, rows=plan.rows, last=last)
                # Thread roots' summaries and follows: one statement, only when the batch has replies.
                threads = await threads_repo.record_replies(uow.conn, rows=inserted)
                if plan.links:
                    await media_repo.attach(
                        uow.conn, links=[(a, inserted[pos]["id"], n) for n, (a, pos) in enumerate(plan.links)]
                    )
                await mod_repo.mark_sent(uow.conn, pairs=plan.sent_now & ctx.slow_pairs)
            outcomes, published, created = _results(sends, plan, ctx, inserted)
            uow.outbox.extend(published)
            uow.outbox.extend(thread_updated_frames(threads))  # each root's summary after its replies
            uow.on_commit.append(lambda: self._answer(batch, outcomes))
            if self._rt.cache is not None and created:
                uow.after_commit.append(lambda: self._write_through(created))

    def _answer(self, batch: list[PendingSend], outcomes: list[Ack | DomainError]) -> None:
        self.batches += 1
        stored = sum(1 for o in outcomes if isinstance(o, Ack) and not o.duplicate)
        self.committed += stored
        MESSAGES_SENT.inc(stored)
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, DomainError):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def _write_through(self, inserted: list[tuple[RowMapping, dict[str, Any]]]) -> None:
        """Cache exactly what was published (attachments included), after the commit."""
        by_conversation: dict[int, list[tuple[RowMapping, dict[str, Any]]]] = {}
        for row, data in inserted:
            by_conversation.setdefault(row["conversation_id"], []).append((row, data))
        await asyncio.gather(
            *(
                write_through(
                    self._rt.cache,
                    cid,
                    seqs=[row["seq"] for row, _ in rows],
                    entries=[entry(data, row["seq"]) for row, data in rows],
                    events=[],
                )
                for cid, rows in by_conversation.items()
            )
        )


def _plan(sends: list[SendRequest], ctx: rules.BatchContext) -> _Plan:
    """Apply the rules to each send in order; the survivors get the next seqs."""
    plan = _Plan(outcomes=[None] * len(sends), next_seq={cid: int(r["last_seq"]) for cid, r in ctx.locked.items()})
    claimed: set[uuid.UUID] = set()
    for idx, send in enumerate(sends):
        refusal = rules.session_ended(send, ctx.sessions)
        if refusal is None and send.key in ctx.existing:
            plan.outcomes[idx] = _ack(ctx.existing[send.key], duplicate=True)
            continue
        if refusal is None and send.key in plan.first_in_batch:
            continue  # a second copy in this batch: answered from the first copy's row
        refusal = refusal or _refusal(send, ctx, plan, claimed)
        if refusal is not None:
            plan.outcomes[idx] = refusal
            continue
        claimed.update(send.attachment_ids)
        plan.links.extend((a, len(plan.rows)) for a in send.attachment_ids)
        plan.next_seq[send.conversation_id] += 1
        pair = (send.conversation_id, send.user_id)
        plan.sent_now.add(pair)
        plan.first_in_batch[send.key] = len(plan.rows)
        plan.row_index.append(idx)
        plan.rows.append(
            {
                "conversation_id": send.conversation_id,
                "seq": plan.next_seq[send.conversation_id],
                "sender_id": send.user_id,
                "client_msg_id": send.client_msg_id,
                "body": send.body,
                "reply_to_id": send.reply_to,
                "thread_only": send.thread_only,
                "mention_ids": rules.visible_mentions(send, ctx.handles[idx], ctx.mentions, ctx.mention_blocks),
            }
        )
    return plan


def _refusal(send: SendRequest, ctx: rules.BatchContext, plan: _Plan, claimed: set[uuid.UUID]) -> DomainError | None:
    """The first rule that refuses this send, in the order the single-send checks run."""
    refusal = rules.not_member(send, ctx)
    if refusal is not None:
        return refusal
    conv = ctx.locked[send.conversation_id]
    pair = (send.conversation_id, send.user_id)
    return (
        rules.archived(conv)
        or rules.blocked_direct(send, ctx.blocked_dm)
        or rules.slow_mode_wait(ctx.slow.get(pair), conv, ctx.now, again=pair in plan.sent_now)
        or ctx.mention_all.get(send.key)
        or rules.reply_elsewhere(send, ctx.reply_convs)
        or rules.attachments_refused(send, ctx.files, claimed)
        or rules.out_of_order(send, ctx.existing, plan.first_in_batch)
    )


def _results(
    sends: list[SendRequest], plan: _Plan, ctx: rules.BatchContext, inserted: list[RowMapping]
) -> tuple[list[Ack | DomainError], list[tuple[str, bytes]], list[tuple[RowMapping, dict[str, Any]]]]:
    attached: dict[int, list[dict[str, Any]]] = {}
    for upload_id, pos in plan.links:
        attached.setdefault(pos, []).append(
            {**attachment_dict(ctx.files[upload_id]), "message_id": inserted[pos]["id"]}
        )
    outcomes = plan.outcomes
    published: list[tuple[str, bytes]] = []
    created: list[tuple[RowMapping, dict[str, Any]]] = []
    for pos, row in enumerate(inserted):
        outcomes[plan.row_index[pos]] = _ack(row, duplicate=False)
        data = message_dict(row, attachments=attached.get(pos))
        created.append((row, data))
        frame = event_frame("message.created", row["conversation_id"], row["seq"], data)
        # Tagged with the sender so hubs can leave the words out for people who blocked them.
        published.append((topic_conversation(row["conversation_id"]), encode_sender_event(row["sender_id"], frame)))
    for idx, send in enumerate(sends):
        if outcomes[idx] is None:
            # A second copy of a send in this same batch: same ack as the first copy.
            outcomes[idx] = _ack(inserted[plan.first_in_batch[send.key]], duplicate=True)
    return [o for o in outcomes if o is not None], published, created
