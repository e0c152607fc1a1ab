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


class PollingWorker(LoopWorker):
    """A loop of turns: ``turn`` does what is due, then the worker sleeps ``interval()`` (read each
    turn, so a changed setting applies). A turn that raises (the database or a store away) is
    logged and the next one tries again: one failure never ends the worker."""

    def _run(self) -> Coroutine[Any, Any, None]:
        return self._loop()

    async def turn(self) -> None:
        raise NotImplementedError

    def interval(self) -> float:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.turn()
            except Exception:
                log.warning("%s: turn failed, trying again next turn", self.name, exc_info=True)
            await asyncio.sleep(self.interval())
