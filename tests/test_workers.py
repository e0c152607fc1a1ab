"""The node's worker bases. PollingWorker: a failed turn is logged and the next one runs; the
interval is read each turn; stop ends the loop. QueueWorker: the same, and a stop never cancels a
turn in progress."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tipline.workers import PollingWorker, QueueWorker


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


class Queue(QueueWorker):
    name = "queue"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.turns = 0
        self.in_turn = asyncio.Event()
        self.release = asyncio.Event()

    def _on_start(self) -> None:
        self.calls.append("on_start")

    def _cut_short(self) -> None:
        self.calls.append("cut_short")
        self.release.set()  # what stop cuts short lets the turn in progress end

    async def _after_stop(self) -> None:
        self.calls.append("after_stop")

    async def turn(self) -> None:
        self.turns += 1
        if self.turns == 1:
            raise ConnectionError("database away")
        self.in_turn.set()
        await self.release.wait()
        self.calls.append("turn_ended")

    def interval(self) -> float:
        return 0.001 if self.turns < 2 else 3600.0


async def test_a_queue_worker_retries_a_failed_turn_and_stops_between_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Queue()
    with caplog.at_level(logging.WARNING, logger="tipline.workers"):
        worker.start()
        await asyncio.wait_for(worker.in_turn.wait(), 10)  # the second turn, after the failed first
        await worker.stop()
    # The turn in progress was not cancelled: it ended, and only then came the after-stop step.
    assert worker.calls == ["on_start", "cut_short", "turn_ended", "after_stop"]
    assert worker.stopping and worker.turns == 2
    assert any("queue: turn failed" in r.getMessage() for r in caplog.records)
    await worker.stop()  # a second stop does nothing
    assert worker.calls[-1] == "after_stop" and worker.calls.count("after_stop") == 1
