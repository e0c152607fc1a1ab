"""The address worker: settles password reset and verification resend requests, on every node
that sends mail (MAIL_WORKER).

``POST /auth/password/forgot`` and ``POST /auth/verify/resend`` only store the address, so their
answer takes the same time whether or not it has an account; each turn this worker settles what
waits, one request per transaction (``actions.settle_address_request``: rows are taken with
``FOR UPDATE SKIP LOCKED``, so nodes never settle the same one). See docs/subsystems/accounts.md.
"""

from __future__ import annotations

from tipline.domain.accounts.actions import settle_address_request
from tipline.runtime import Runtime
from tipline.workers import PollingWorker


class AddressWorker(PollingWorker):
    """One per node, started and stopped by the node (or a test). Polls like the mail worker, whose
    queue it fills: MAIL_POLL_INTERVAL_S."""

    name = "address-worker"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt

    async def turn(self) -> None:
        while await settle_address_request(self.rt):
            pass

    def interval(self) -> float:
        return self.rt.settings.mail_poll_interval_s
