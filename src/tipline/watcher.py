"""The chain watcher: follows new blocks and settles tips from what the chain really says.

One watcher is active per deployment: every node runs this loop, and the one holding a
PostgreSQL advisory lock (held by a connection of its own, so it is released when that node
dies) does the work; the others wait to take over. Every change is also guarded by the tip's
current state and by the unique (chain_id, tx_hash, log_index), so even two active watchers
for a moment could not credit anything twice. The checks are listed in
docs/subsystems/tipping.md; each is one line of ``tipline.chain.verdict.judge``, a pure function
of what this module reads from the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.chain import verdict
from tipline.chain.abi import TIPPED_TOPIC, TippedLog, decode_tipped
from tipline.chain.rpc import Rpc
from tipline.domain.tips import repository as tips_repo
from tipline.domain.tips.actions import do_mark_verified, do_settle
from tipline.metrics import CHAIN_HEAD
from tipline.runtime import Runtime

log = logging.getLogger(__name__)
PENDING = ("pending",)
MAX_LOG_RANGE = 2000  # blocks per eth_getLogs: providers cap the range


def lock_key(chain_id: int, contract: str) -> int:
    """A stable signed 64-bit advisory-lock key for one chain and contract."""
    digest = hashlib.sha256(f"tipline:chain-watcher:{chain_id}:{contract}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ChainWatcher:
    def __init__(self, rt: Runtime, *, rpc_url: str, contract: str) -> None:
        self.rt = rt
        self.rpc = Rpc(rpc_url)
        self.contract = contract.lower()
        self.chain_id = rt.settings.chain_id
        self.active = False
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scanned: int | None = None  # last block whose Tipped logs were read
        self._reported_at = float("-inf")
        # The admin status page reads these (api/admin.py): the head the last pass saw, and when.
        self.head: int | None = None
        self.last_pass_at: datetime | None = None

    @property
    def scanned(self) -> int | None:
        return self._scanned

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chain-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.rpc.close()

    async def _run(self) -> None:
        interval = self.rt.settings.chain_poll_interval_s
        while True:
            try:
                async with self.rt.engine.connect() as lock_conn:
                    if await self._take_lock(lock_conn):
                        try:
                            await self._watch(lock_conn, interval)
                        finally:
                            self.active = False
                            # The connection goes back to the pool: it must not keep the lock.
                            with contextlib.suppress(Exception):
                                await asyncio.shield(self._release(lock_conn))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("chain watcher failed; retrying")
            await asyncio.sleep(max(interval, 1.0))

    async def _watch(self, lock_conn: AsyncConnection, interval: float) -> None:
        await self._check_chain()
        self.active = True
        log.info("chain watcher active for chain %d, contract %s", self.chain_id, self.contract)
        while True:
            try:
                await self.tick()
            except Exception:
                # One bad pass (a node hiccup, a deadlock victim) is retried on the next one.
                log.exception("chain watcher pass failed")
            # Still holding the lock? (Its connection may have died.)
            await lock_conn.execute(text("SELECT 1"))
            await lock_conn.commit()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self.wake.wait()
            self.wake.clear()

    async def _release(self, conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.chain_id, self.contract)})
        await conn.commit()

    async def _take_lock(self, conn: AsyncConnection) -> bool:
        got = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.chain_id, self.contract)})
        ).scalar()
        # The lock is session-level: ending the transaction keeps it, and idles the connection.
        await conn.commit()
        return bool(got)

    async def _check_chain(self) -> None:
        actual = await self.rpc.chain_id()
        if actual != self.chain_id:
            raise RuntimeError(f"CHAIN_RPC_URL serves chain {actual}, not CHAIN_ID {self.chain_id}: not watching")

    async def tick(self) -> None:
        """One pass: settle what can be settled at the current head."""
        head = await self.rpc.block_number()
        self.head = head
        await self.discover(head)
        self._report(head)
        self.last_pass_at = datetime.now(UTC)
        async with self.rt.engine.connect() as conn:
            rows = await tips_repo.watch_list(
                conn,
                chain_id=self.chain_id,
                contract=self.contract,
                reorg_depth=self.rt.settings.chain_reorg_depth,
                head=head,
            )
        canonical: dict[int, str | None] = {}  # block hashes read in this pass, by height
        still_there: list[tuple[int, str]] = []
        for row in rows:
            if row["state"] == "created":
                await do_settle(
                    self.rt,
                    intent_pk=row["id"],
                    from_states=("created",),
                    state="expired",
                    reason="no transaction was reported in time",
                )
            elif row["state"] == "pending":
                await self.verify(row, head)
            elif row["state"] == "confirmed" and await self.recheck(row, canonical):
                still_there.append((row["id"], row["block_hash"]))
        if still_there:
            await do_mark_verified(self.rt, tips=still_there, head=head)

    def _report(self, head: int) -> None:
        """The head in /metrics, and once a minute a log line carrying the lag, which the AWS
        deployment turns into its watcher-lag metric and alarm (infra: WatcherLagFilter)."""
        CHAIN_HEAD.set(head)
        now = time.monotonic()
        if now - self._reported_at >= 60:
            self._reported_at = now
            lag = head - (self._scanned if self._scanned is not None else head)
            log.info("chain watcher at block %d", head, extra={"watcher_lag_blocks": lag, "chain_head": head})

    async def discover(self, head: int) -> None:
        """Tips whose transaction nobody reported (a client that crashed after sending): the
        contract's Tipped logs in the new blocks that name an issued intent make it pending, and
        the usual checks then apply to that transaction."""
        start = max(0, head - self.rt.settings.chain_reorg_depth) if self._scanned is None else self._scanned + 1
        start = max(start, head - MAX_LOG_RANGE + 1)
        if start > head:
            return
        logs = await self.rpc.get_logs(address=self.contract, topics=[TIPPED_TOPIC], from_block=start, to_block=head)
        # Anyone can call the contract with an intent id they have seen, so one intent may be
        # named by several logs: all are kept, and only one that pays the intent is taken.
        seen: dict[str, list[TippedLog]] = {}
        for raw in logs:
            if (t := decode_tipped(raw)) is not None and t.contract == self.contract:
                seen.setdefault("0x" + t.intent_id.hex(), []).append(t)
        if seen:
            async with self.rt.engine.connect() as conn:
                issued = await tips_repo.issued(
                    conn, chain_id=self.chain_id, contract=self.contract, intent_ids=list(seen)
                )
                wallets = {
                    row["tipper_id"]: await tips_repo.linked_addresses(
                        conn, user_id=row["tipper_id"], chain_id=self.chain_id
                    )
                    for row in issued
                }
            for row in issued:
                paying = verdict.paying_log(seen[row["intent_id"]], row, wallets[row["tipper_id"]])
                if paying is None:
                    continue  # a stranger's call with this intent id: it changes nothing
                await do_settle(
                    self.rt,
                    intent_pk=row["id"],
                    from_states=("created",),
                    state="pending",
                    values={"tx_hash": paying.tx_hash, "expires_at": _expiry(self.rt)},
                )
        self._scanned = head

    async def recheck(self, row: RowMapping, canonical: dict[int, str | None]) -> bool:
        """True when the confirmed tip's block is still on the chain; if it is not, the tip goes
        back to pending. However deep the block is now: a watcher that was stopped or behind
        while a reorg happened must still see it (tips_repo.watch_list says which are asked)."""
        number = int(row["block_number"])
        if number not in canonical:
            canonical[number] = await self.rpc.block_hash(number)
        if canonical[number] == row["block_hash"]:
            return True
        await do_settle(
            self.rt,
            intent_pk=row["id"],
            from_states=("confirmed",),
            state="pending",
            reason="the block with this tip was reorganised away; waiting for it to land again",
            values=_uncredited(self.rt),
        )
        return False

    async def verify(self, row: RowMapping, head: int) -> None:
        receipt = await self.rpc.receipt(row["tx_hash"])
        wallets: list[str] = []
        if receipt is not None and receipt.get("status") == "0x1":
            async with self.rt.engine.connect() as conn:
                wallets = await tips_repo.linked_addresses(conn, user_id=row["tipper_id"], chain_id=self.chain_id)
        found = verdict.judge(
            receipt,
            row,
            contract=self.contract,
            tipper_wallets=wallets,
            head=head,
            confirmations=self.rt.settings.chain_confirmations,
            now=datetime.now(UTC),
        )
        if found.action == "fail":
            assert found.state is not None
            await do_settle(self.rt, intent_pk=row["id"], from_states=PENDING, state=found.state, reason=found.reason)
            return
        if found.action == "wait" or found.paid is None:
            return
        paid = found.paid
        if await self.rpc.block_hash(paid.block_number) != paid.block_hash:
            return  # the receipt's block was just replaced: look again next block
        await do_settle(
            self.rt,
            intent_pk=row["id"],
            from_states=PENDING,
            state="confirmed",
            values={
                "log_index": paid.log_index,
                "block_number": paid.block_number,
                "block_hash": paid.block_hash,
                "tipper_address": paid.tipper,
                "confirmed_at": datetime.now(UTC),
                "verified_block": head,
            },
        )


def _expiry(rt: Runtime) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=rt.settings.tip_intent_ttl_s)


def _uncredited(rt: Runtime) -> dict[str, Any]:
    return {
        "log_index": None,
        "block_number": None,
        "block_hash": None,
        "confirmed_at": None,
        "verified_block": None,
        "expires_at": _expiry(rt),
    }
