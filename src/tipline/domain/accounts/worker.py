"""The address worker: settles password reset and verification resend requests, on every node
that sends mail (MAIL_WORKER).

``POST /auth/password/forgot`` and ``POST /auth/verify/resend`` only store the address, so their
answer takes the same time whether or not it has an account; each turn this worker settles what
waits, one request per transaction (``actions.settle_address_request``: rows are taken with
``FOR UPDATE SKIP LOCKED``, so nodes never settle the same one). See docs/subsystems/accounts.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from tipline.domain.accounts.actions import settle_address_request
from tipline.runtime import Runtime
from tipline.workers import LoopWorker

log = logging.getLogger(__name__)


class AddressWorker(LoopWorker):
    """One per node, started and stopped by the node (or a test). Polls like the mail worker, whose
    queue it fills: MAIL_POLL_INTERVAL_S."""

    name = "address-worker"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt
        self.settled = 0

    def _run(self) -> Coroutine[Any, Any, None]:
        return self._loop()

    async def _loop(self) -> None:
        while True:
            try:
                while await settle_address_request(self.rt):
                    self.settled += 1
            except Exception:  # the database is away: try again next turn
                log.warning("address worker turn failed", exc_info=True)
            await asyncio.sleep(self.rt.settings.mail_poll_interval_s)
