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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from tipline.bus.base import topic_conversation
from tipline.bus.envelope import encode_sender_event, event_frame
from tipline.domain.conversations.access import MANAGERS
from tipline.domain.media import repository as media_repo
from tipline.domain.media.access import require_attachable
from tipline.domain.media.schemas import attachment_dict
from tipline.domain.messages import repository as repo
from tipline.domain.messages.cache import entry, write_through
from tipline.domain.messages.schemas import Ack, mentioned_handles, message_dict
from tipline.domain.moderation import repository as mod_repo
from tipline.domain.moderation.access import BLOCKED
from tipline.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited, Unavailable
from tipline.metrics import MESSAGES_SENT
from tipline.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class PendingSend:
    user_id: int
    conversation_id: int
    client_msg_id: str
    body: str
    reply_to: int | None
    future: asyncio.Future[Ack] = field(repr=False)
    attachment_ids: tuple[uuid.UUID, ...] = ()

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.conversation_id, self.user_id, self.client_msg_id)


def _ack(row: RowMapping, *, duplicate: bool) -> Ack:
    return Ack(
        conversation_id=row["conversation_id"],
        client_msg_id=row["client_msg_id"],
        message_id=row["id"],
        seq=row["seq"],
        created_at=row["created_at"],
        duplicate=duplicate,
    )


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

    def submit(
        self,
        *,
        user_id: int,
        conversation_id: int,
        client_msg_id: str,
        body: str,
        reply_to: int | None,
        attachment_ids: Sequence[uuid.UUID] = (),
    ) -> asyncio.Future[Ack]:
        """Queue a send (synchronously, so one client's sends keep their order)."""
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._queue.append(
            PendingSend(user_id, conversation_id, client_msg_id, body, reply_to, future, tuple(attachment_ids))
        )
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
            outcomes, published, inserted = await self._commit_batch(batch)
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
            return
        self.batches += 1
        stored = sum(1 for o in outcomes if isinstance(o, Ack) and not o.duplicate)
        self.committed += stored
        MESSAGES_SENT.inc(stored)
        # Committed: answer the senders first (an ack needs only the commit), then hand the
        # events to the bus; both are written to sockets in the same loop turn, acks first.
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, DomainError):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        if published:
            try:
                await self._rt.bus.publish_many(published)
            except Exception:
                # The bus is the fast path; clients repair the gap from PostgreSQL.
                log.exception("publish failed after commit")
        if self._rt.cache is not None and inserted:
            await self._write_through(inserted)

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

    async def _commit_batch(
        self, batch: list[PendingSend]
    ) -> tuple[list[Ack | DomainError], list[tuple[str, bytes]], list[tuple[RowMapping, dict[str, Any]]]]:
        outcomes: list[Ack | DomainError | None] = [None] * len(batch)
        published: list[tuple[str, bytes]] = []
        async with self._rt.engine.begin() as conn:
            locked = await repo.lock_conversations(conn, conversation_ids=sorted({i.conversation_id for i in batch}))
            existing = await repo.existing_by_client_id(conn, keys={i.key for i in batch})
            pairs = {(i.conversation_id, i.user_id) for i in batch if i.conversation_id in locked}
            member_pairs = await repo.memberships(conn, pairs=pairs) if pairs else set()
            reply_ids = {i.reply_to for i in batch if i.reply_to is not None}
            reply_convs = await repo.message_conversations(conn, message_ids=reply_ids) if reply_ids else {}
            handles_of = [mentioned_handles(i.body) for i in batch]
            all_handles = set().union(*handles_of)
            mentions = (
                await repo.resolve_mentions(
                    conn, conversation_ids={i.conversation_id for i in batch}, handles=all_handles
                )
                if all_handles
                else {}
            )
            wanted = [a for i in batch for a in i.attachment_ids]
            files = await media_repo.uploads_for_update(conn, upload_ids=wanted) if wanted else {}
            claimed: set[uuid.UUID] = set()
            links: list[tuple[uuid.UUID, int]] = []  # (upload id, row index)
            # Moderation: a block closes a DM both ways and silences mentions both ways; slow
            # mode spaces a member's messages. Each costs a query only when it can apply.
            member_items = [i for i in batch if (i.conversation_id, i.user_id) in member_pairs]
            direct = {
                (i.conversation_id, i.user_id) for i in member_items if locked[i.conversation_id]["kind"] == "direct"
            }
            blocked_dm = await mod_repo.blocked_direct_senders(conn, pairs=direct)
            slow_pairs = {
                (i.conversation_id, i.user_id) for i in member_items if locked[i.conversation_id]["slow_mode_s"]
            }
            slow = await mod_repo.slow_mode_state(conn, pairs=slow_pairs) if slow_pairs else {}
            now = await mod_repo.now(conn) if slow_pairs else None
            sent_now: set[tuple[int, int]] = set()
            mentioned = {uid for uid in mentions.values()}
            mention_blocks = (
                await mod_repo.blocks_among(conn, user_ids={i.user_id for i in batch} | mentioned)
                if mentioned
                else set()
            )
            next_seq = {cid: int(row["last_seq"]) for cid, row in locked.items()}
            rows: list[dict[str, Any]] = []
            row_index: list[int] = []
            first_in_batch: dict[tuple[int, int, str], int] = {}
            for idx, item in enumerate(batch):
                if item.key in existing:
                    outcomes[idx] = _ack(existing[item.key], duplicate=True)
                    continue
                if item.key in first_in_batch:
                    continue  # resolved below from the first copy's row
                conv = locked.get(item.conversation_id)
                if conv is None or (item.conversation_id, item.user_id) not in member_pairs:
                    outcomes[idx] = self._not_member(conv)
                    continue
                if conv["archived_at"] is not None:
                    outcomes[idx] = Conflict("this conversation is archived", code="conversation_archived")
                    continue
                pair = (item.conversation_id, item.user_id)
                if pair in blocked_dm:
                    outcomes[idx] = Forbidden(BLOCKED, code="blocked")
                    continue
                if pair in slow and (wait := self._slow_wait(slow[pair], conv, now, again=pair in sent_now)):
                    outcomes[idx] = wait
                    continue
                if item.reply_to is not None and reply_convs.get(item.reply_to) != item.conversation_id:
                    outcomes[idx] = NotFound(
                        "the message replied to is not in this conversation", code="reply_not_found"
                    )
                    continue
                if item.attachment_ids:
                    try:
                        require_attachable(
                            files,
                            upload_ids=item.attachment_ids,
                            user_id=item.user_id,
                            conversation_id=item.conversation_id,
                        )
                    except DomainError as exc:
                        outcomes[idx] = exc
                        continue
                    if claimed.intersection(item.attachment_ids):
                        outcomes[idx] = Conflict("an attachment is already on a message", code="attachment_used")
                        continue
                    claimed.update(item.attachment_ids)
                    links.extend((a, len(rows)) for a in item.attachment_ids)
                next_seq[item.conversation_id] += 1
                mention_ids = sorted(
                    {
                        uid
                        for h in handles_of[idx]
                        if (uid := mentions.get((item.conversation_id, h))) is not None
                        and (item.user_id, uid) not in mention_blocks
                        and (uid, item.user_id) not in mention_blocks
                    }
                )
                sent_now.add(pair)
                first_in_batch[item.key] = len(rows)
                row_index.append(idx)
                rows.append(
                    {
                        "conversation_id": item.conversation_id,
                        "seq": next_seq[item.conversation_id],
                        "sender_id": item.user_id,
                        "client_msg_id": item.client_msg_id,
                        "body": item.body,
                        "reply_to_id": item.reply_to,
                        "mention_ids": mention_ids,
                    }
                )
            inserted: list[RowMapping] = []
            if rows:
                inserted = await repo.insert_messages(conn, rows=rows)
                if links:
                    await media_repo.attach(
                        conn, links=[(a, inserted[pos]["id"], n) for n, (a, pos) in enumerate(links)]
                    )
                await mod_repo.mark_sent(conn, pairs=sent_now & slow_pairs)
                last = {cid: seq for cid, seq in next_seq.items() if seq != locked[cid]["last_seq"]}
                await repo.set_last_seqs(conn, last=last)
        # Committed. Build acks and the frames to publish.
        attached: dict[int, list[dict[str, Any]]] = {}
        for upload_id, pos in links:
            attached.setdefault(pos, []).append(
                {**attachment_dict(files[upload_id]), "message_id": inserted[pos]["id"]}
            )
        created: list[tuple[RowMapping, dict[str, Any]]] = []
        for pos, row in enumerate(inserted):
            outcomes[row_index[pos]] = _ack(row, duplicate=False)
            data = message_dict(row, attachments=attached.get(pos))
            created.append((row, data))
            frame = event_frame("message.created", row["conversation_id"], row["seq"], data)
            # Tagged with the sender so hubs can leave the words out for people who blocked them.
            published.append((topic_conversation(row["conversation_id"]), encode_sender_event(row["sender_id"], frame)))
        for idx, item in enumerate(batch):
            if outcomes[idx] is None:
                # A second copy of a send in this same batch: same ack as the first copy.
                first = inserted[first_in_batch[item.key]]
                outcomes[idx] = _ack(first, duplicate=True)
        return [o for o in outcomes if o is not None], published, created

    @staticmethod
    def _slow_wait(state: RowMapping, conv: RowMapping, now: datetime | None, *, again: bool) -> RateLimited | None:
        """Slow mode: the wait before this member may send here again (owners and admins of the
        conversation and server admins are exempt)."""
        if state["role"] in MANAGERS or state["is_admin"]:
            return None
        interval = float(conv["slow_mode_s"])
        if again:
            waited = 0.0  # a second send from the same member in this very batch
        elif state["last_sent_at"] is None or now is None:
            return None
        else:
            waited = (now - state["last_sent_at"]).total_seconds()
        if waited >= interval:
            return None
        error = RateLimited(
            f"slow mode: one message every {int(interval)} seconds in this conversation", retry_after=interval - waited
        )
        error.code = "slow_mode"
        return error

    @staticmethod
    def _not_member(conv: RowMapping | None) -> DomainError:
        # The same answers as access_member(): 404 unless it is a public channel.
        if conv is not None and conv["kind"] == "public":
            return Forbidden("join this channel first", code="not_a_member")
        return NotFound("conversation not found")
