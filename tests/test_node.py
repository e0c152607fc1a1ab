"""Node.stop: every step runs, in the reverse of start, even when one of them fails (a worker
left running would go on writing after the node is gone)."""

from __future__ import annotations

import logging
import secrets

import pytest

from tests.conftest import make_settings
from tipline.app import build_runtime
from tipline.node import Node


async def test_a_failing_stop_step_is_logged_and_the_rest_still_run(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rt = build_runtime(make_settings(), database_url=database_url, jwt_key=secrets.token_bytes(64))
    node = Node.build(rt, None)
    await node.start()
    order: list[str] = []

    def record(name: str, stop: object, fail: bool = False) -> object:
        async def wrapped() -> None:
            order.append(name)
            if fail:
                raise RuntimeError("object store away")
            await stop()  # type: ignore[operator]

        return wrapped

    node.exporter.stop = record("exporter", node.exporter.stop, fail=True)  # type: ignore[method-assign]
    node.retention.stop = record("retention", node.retention.stop)  # type: ignore[method-assign]
    node.health.stop = record("health", node.health.stop)  # type: ignore[method-assign]
    node.batcher.stop = record("batcher", node.batcher.stop)  # type: ignore[method-assign]
    retention_task = node.retention._task
    assert retention_task is not None and not retention_task.done()
    with caplog.at_level(logging.ERROR, logger="tipline.node"):
        await node.stop()
    assert order == ["exporter", "retention", "health", "batcher"]  # the reverse of start
    assert retention_task.cancelled() and node.retention._task is None  # stopped despite the failure
    assert node.stopped and rt.shutting_down
    (failed,) = [r for r in caplog.records if r.name == "tipline.node"]
    assert "failed" in failed.getMessage() and failed.exc_info is not None
