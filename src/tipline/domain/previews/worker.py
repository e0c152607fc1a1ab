"""The link preview worker: on every node, finds new messages with links and attaches previews.

Nothing is added to the send path. Each turn:

1. **Scan.** From a durable cursor over the messages table (its row in ``notify_cursor``, locked
   ``FOR UPDATE SKIP LOCKED``: one node scans at a time), new messages whose body holds ``://``
   are read; the first LINK_PREVIEW_MAX_LINKS http(s) links of each become a row of
   ``link_preview_jobs``, in the same transaction that moves the cursor. Like the notification
   worker's, the cursor trails the newest message by SETTLE_S (a lower id can still commit
   meanwhile) and remembers the ids it handled above it. A turn reads only the messages above
   the newest one the previous turn read; every few turns (within SETTLE_S / 2) it reads the
   whole unsettled window again, for a message that committed after a higher id was read, so
   each message is read a few times rather than once a turn while the cursor settles.
2. **Fetch.** Jobs are leased (a dead node's jobs are taken again when the lease ends, up to
   MAX_ATTEMPTS) and each runs as a task of its own: its links are fetched concurrently through
   the outbound guard, all links of all jobs sharing LINK_PREVIEW_CONCURRENCY slots, so a slow
   site holds one slot and delays no other message. The worker claims new jobs while slots are
   free, without waiting for the slow ones.
3. **Attach.** A job's previews are attached in one transaction (``do_attach_previews``: the
   ``preview.added`` event, the job deleted); a link that gave nothing gets no preview.

See docs/subsystems/previews.md.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import RowMapping

from tipline.domain.previews import repository as repo
from tipline.domain.previews.actions import Found, do_attach_previews, fetch_preview
from tipline.domain.previews.parse import extract_urls
from tipline.runtime import Runtime
from tipline.workers import QueueWorker

log = logging.getLogger(__name__)

SCAN_LIMIT = 500
# A message id below the newest can still commit this long after (a slow transaction).
SETTLE_S = 10.0
MAX_ATTEMPTS = 3


async def scan(rt: Runtime, *, seen: int = 0) -> tuple[int, int]:
    """Queue the links of new messages: (messages queued, the newest message id read).

    Messages up to ``seen`` were read by an earlier turn: only those above it are read, unless
    ``seen`` is 0, when the whole window above the cursor is (a message with a lower id than
    one read may commit later)."""
    limit = rt.settings.link_preview_max_links
    async with rt.engine.begin() as conn:
        cursor = await repo.lock_cursor(conn)
        if cursor is None:
            return 0, seen  # another node is scanning
        after, recent = cursor
        top = await repo.newest_id(conn)
        rows = await repo.candidates(conn, after=max(after, seen), upto=top, skip=recent, limit=SCAN_LIMIT)
        if len(rows) == SCAN_LIMIT:
            top = int(rows[-1]["id"])
        jobs = [
            {"message_id": r["id"], "conversation_id": r["conversation_id"], "urls": urls}
            for r in rows
            if (urls := extract_urls(r["body"], limit=limit))
        ]
        await repo.queue_jobs(conn, rows=jobs)
        settled = await repo.settled_id(conn, after=after, settle_s=SETTLE_S)
        handled = [i for i in [*recent, *(r["id"] for r in rows)] if i > settled]
        if rows or settled != after:
            await repo.save_cursor(conn, last_message_id=settled, recent_ids=handled)
    return len(jobs), top


class LinkPreviewWorker(QueueWorker):
    """One per node with LINK_PREVIEWS on, started and stopped by the node (or a test). Jobs cut
    short by a stop stay leased; another turn takes them again when the lease ends."""

    name = "link-previews"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(rt.settings.link_preview_concurrency)
        self._jobs: set[asyncio.Task[None]] = set()
        self._seen = 0  # the newest message id the last scan read
        self._turns = 0
        self.attached = 0

    async def _after_stop(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    async def turn(self) -> None:
        await self.run_once(wait=False)

    def interval(self) -> float:
        return self.rt.settings.link_preview_poll_s

    async def run_once(self, *, wait: bool = True) -> int:
        """Scan, then start the jobs there is room for; the number started. ``wait``: until they end."""
        # Most turns read only messages newer than the last turn's; every few turns (well within
        # SETTLE_S) the whole unsettled window again, for a message that committed late.
        full = self._turns % max(1, int(SETTLE_S / 2 / self.rt.settings.link_preview_poll_s)) == 0
        self._turns += 1
        _, self._seen = await scan(self.rt, seen=0 if full else self._seen)
        room = self.rt.settings.link_preview_concurrency - len(self._jobs)
        if room <= 0:
            return 0
        # Long enough for every link of a job, page and image, each within its time limit.
        lease_s = self.rt.settings.link_preview_timeout_s * 2 * self.rt.settings.link_preview_max_links + 30
        async with self.rt.engine.begin() as conn:
            rows = await repo.claim_jobs(conn, limit=room, lease_s=lease_s)
        started = []
        for row in rows:
            task = asyncio.create_task(self._job(row), name=f"link-preview-{row['message_id']}")
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
            started.append(task)
        if wait and started:
            await asyncio.gather(*started, return_exceptions=True)
        return len(started)

    async def _job(self, row: RowMapping) -> None:
        message_id = int(row["message_id"])
        try:
            if row["attempts"] > MAX_ATTEMPTS:
                found: list[Found] = []  # it failed every time: give up, attach nothing
            else:
                results = await asyncio.gather(
                    *(self._link(url, position, message_id) for position, url in enumerate(row["urls"]))
                )
                found = [f for f in results if f is not None]
            if await do_attach_previews(self.rt, message_id=message_id, found=found):
                self.attached += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("link preview of message %s failed", message_id, exc_info=True)

    async def _link(self, url: str, position: int, message_id: int) -> Found | None:
        async with self._slots:
            try:
                return await fetch_preview(self.rt, url, position=position, message_id=message_id)
            except Exception:
                log.warning("link preview of %s failed", url, exc_info=True)
                return None
