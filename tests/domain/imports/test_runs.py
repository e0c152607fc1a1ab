"""Each `tipline import` run is recorded in ``import_runs`` as it goes: counts after each stage
and each batch, done with every message counted, failed with its error (a crash, a refused
export), and a run left `running` by a dead process is marked failed by the next one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.domain.imports.conftest import fetch
from tests.domain.imports.exports import build_mattermost
from tipline.domain.imports.actions import SimulatedCrash, do_import
from tipline.domain.imports.mattermost import MattermostExport
from tipline.domain.imports.schemas import ImportFormatError
from tipline.runtime import Runtime

MAX = 50 * 2**20


def mm(path: Path) -> MattermostExport:
    return MattermostExport(path, max_file_bytes=MAX)


async def runs(url: str) -> list[dict[str, Any]]:
    rows = [dict(r) for r in await fetch(url, "SELECT * FROM import_runs ORDER BY id")]
    return [{**r, "counts": json.loads(r["counts"])} for r in rows]


async def test_a_run_is_recorded_as_it_goes_and_when_done(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=800)
    total = fx.posts + fx.replies
    seen: list[tuple[int, int | None]] = []
    task = asyncio.create_task(do_import(rt, export=mm(fx.path), file_name="../../import.jsonl", batch_size=500))
    while not task.done():
        for r in await fetch(db_url, "SELECT state, processed, total FROM import_runs"):
            if r["state"] == "running" and r["processed"]:
                seen.append((r["processed"], r["total"]))
        await asyncio.sleep(0.005)
    summary = task.result()

    (run,) = await runs(db_url)
    assert run["state"] == "done" and run["source"] == "mattermost"
    assert run["file_name"] == "import.jsonl"  # the name only, never a path
    assert run["total"] == run["processed"] == total
    assert run["finished_at"] is not None and run["last_error"] is None
    counts = run["counts"]
    assert counts["created"]["messages"] == summary.created["messages"] == fx.posts
    assert counts["created"]["replies"] == fx.replies and counts["created"]["users"] == 5
    # Seen part-way: fewer than all, more than none, growing; one update per batch, not per row.
    assert seen, "no progress was visible while the import ran"
    assert all(0 < p <= total and t == total for p, t in seen) and min(p for p, _ in seen) < total
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)
    assert len({p for p, _ in seen}) <= total // 500 + 1


async def test_a_crash_leaves_a_failed_run_and_the_next_run_finishes(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=400)
    with pytest.raises(SimulatedCrash):
        await do_import(rt, export=mm(fx.path), file_name="import.jsonl", batch_size=500, crash_after_batches=3)
    (failed,) = await runs(db_url)
    assert failed["state"] == "failed" and failed["last_error"] == "SimulatedCrash: stopped after 3 batches"
    created = failed["counts"]["created"]
    assert failed["processed"] == 1500 and created["messages"] + created["replies"] == 1500

    await do_import(rt, export=mm(fx.path), file_name="import.jsonl", batch_size=500)
    failed, done = await runs(db_url)
    assert done["state"] == "done" and done["processed"] == done["total"] == fx.posts + fx.replies
    matched = done["counts"]["matched"]
    assert matched["messages"] + matched["replies"] == 1500


async def test_a_refused_export_is_a_failed_run_with_its_reason(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b'{"type":"version","version":1}\n{"type":"user","user":\n')
    with pytest.raises(ImportFormatError) as refused:
        await do_import(rt, export=mm(path), file_name="broken.jsonl")
    (run,) = await runs(db_url)
    assert run["state"] == "failed" and run["last_error"] == str(refused.value)
    assert run["total"] is None and run["processed"] == 0
    assert await fetch(db_url, "SELECT id FROM users") == []


async def test_a_run_left_running_by_a_dead_process_is_marked_failed(tmp_path: Path, rt: Runtime, db_url: str) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=20)
    conn_rows = await fetch(
        db_url,
        "INSERT INTO import_runs (source, file_name, total, processed) VALUES ('slack', 'old.zip', 10, 5) RETURNING id",
    )
    stale = conn_rows[0]["id"]
    await fetch(db_url, "INSERT INTO import_runs (source, file_name) VALUES ('slack', 'validating.zip')")
    await do_import(rt, export=mm(fx.path), file_name="import.jsonl")
    states = {r["file_name"]: (r["state"], r["last_error"]) for r in await runs(db_url)}
    assert states["old.zip"] == ("failed", "the import process stopped"), stale
    assert states["validating.zip"] == ("running", None)  # never took the lock: maybe still validating
    assert states["import.jsonl"] == ("done", None)
