"""PollingWorker: a failed turn is logged and the next one runs; the interval is read each turn;
stop ends the loop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tipline.workers import PollingWorker


class Flaky(PollingWorker):
    name = "flaky"

    def __init__(self) -> None:
        super().__init__()
        self.turns = 0
        self.wait = 0.001
        self.done = asyncio.Event()

    async def turn(self) -> None:
        self.turns += 1
        if self.turns == 2:
            raise ConnectionError("database away")
        if self.turns == 4:
            self.done.set()

    def interval(self) -> float:
        return self.wait


async def test_a_failed_turn_is_logged_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    worker = Flaky()
    with caplog.at_level(logging.WARNING, logger="tipline.workers"):
        worker.start()
        await asyncio.wait_for(worker.done.wait(), 10)
        await worker.stop()
    assert worker.turns >= 4
    (failed,) = [r for r in caplog.records if r.name == "tipline.workers"]
    assert "flaky: turn failed" in failed.getMessage() and failed.exc_info is not None


async def test_the_interval_is_read_each_turn_and_stop_ends_the_loop() -> None:
    worker = Flaky()
    worker.wait = 3600.0  # after the first turn it sleeps for an hour...
    worker.start()
    while worker.turns < 1:
        await asyncio.sleep(0.001)
    await worker.stop()  # ...and stop cancels the sleep
    assert worker.turns == 1
    worker.wait = 0.001
    worker.start()
    await asyncio.wait_for(worker.done.wait(), 10)
    await worker.stop()
    assert worker.turns >= 4
