"""A background loop owned by a node: started once, stopped (cancelled and awaited) once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class LoopWorker:
    """Subclasses write ``_run``; ``start`` runs it as a named task, ``stop`` cancels and awaits it."""

    name = "worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def _run(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class QueueWorker:
    """A worker that takes due work from a table each turn, then waits ``interval()`` (read each
    turn) or until stopped. Stopping interrupts only that wait and whatever ``_cut_short`` and
    ``_after_stop`` end, never a turn's database write: a transaction cut in the middle would
    leave its connection holding row locks. A turn that raises is logged and the next one tries
    again."""

    name = "queue-worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._stopping.clear()
        self._on_start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._cut_short()
        with contextlib.suppress(asyncio.CancelledError):  # a PollingWorker's turn, cancelled
            await self._task
        self._task = None
        await self._after_stop()

    async def turn(self) -> None:
        raise NotImplementedError

    def interval(self) -> float:
        raise NotImplementedError

    def _on_start(self) -> None:
        """Before the first turn (e.g. open a client)."""

    def _cut_short(self) -> None:
        """When stopping, before the turn in progress is awaited."""

    async def _after_stop(self) -> None:
        """Once the turn in progress has ended (e.g. cancel background deliveries, close a client)."""

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.turn()
            except Exception:
                log.warning("%s: turn failed, trying again next turn", self.name, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval())


class PollingWorker(QueueWorker):
    """A QueueWorker whose stop also cancels the turn in progress: for turns whose every write is
    its own short transaction (rolled back if cut) or that may run long (an export being built),
    where waiting for the turn would hold up the node's stop."""

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()  # before the stop is signalled, so the turn or the wait ends here
        await super().stop()
