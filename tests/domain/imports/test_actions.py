"""The importer's batch writer: a batch is split by conversation and its parts written on
several connections at once. The split is a pure rule; the writes are checked against a
real database by importing the same export on one lane and on two."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.domain.imports.conftest import FreshDb, MakeRt, count, fetch
from tests.domain.imports.exports import build_mattermost
from tests.domain.imports.test_mattermost import CONTENT, _key, mm
from tipline.domain.imports import actions
from tipline.domain.imports.actions import SimulatedCrash, _Prepared, do_import, split_by_conversation


def prepared(cid: int, n: int) -> _Prepared:
    return _Prepared(
        cid=cid,
        sid=1,
        cmid=f"c{cid}-{n}",
        body="hi",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        edited_at=None,
        mention_ids=[],
        parent_key=None,
        thread_only=False,
        key=f"{cid}-{n}",
        remember=True,
        reactions=[],
        files=[],
    )


def test_a_batch_splits_by_conversation_whole_and_in_order() -> None:
    sizes = {1: 50, 2: 30, 3: 25, 4: 5}
    batch = [prepared(cid, n) for n in range(50) for cid, size in sizes.items() if n < size]
    parts = split_by_conversation(batch, 2)
    assert len(parts) == 2
    cids = [{p.cid for p in part} for part in parts]
    assert not cids[0] & cids[1]  # each conversation in one part only
    for part in parts:
        for cid in {p.cid for p in part}:
            assert [p.key for p in part if p.cid == cid] == [f"{cid}-{n}" for n in range(sizes[cid])]
    # Largest first into the lighter part: 50 | 30 + 25, then 5 to the 50.
    assert sorted(len(part) for part in parts) == [55, 55]


def test_one_conversation_is_one_part_and_no_part_is_empty() -> None:
    batch = [prepared(7, n) for n in range(10)]
    assert split_by_conversation(batch, 2) == [batch]
    assert split_by_conversation([], 2) == []
    three = [prepared(cid, 0) for cid in (1, 2, 3)]
    assert sorted(len(p) for p in split_by_conversation(three, 4)) == [1, 1, 1]


async def test_two_lanes_write_what_one_lane_writes_and_resume_after_a_crash(
    tmp_path: Path, fresh_db: FreshDb, make_rt: MakeRt, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx = build_mattermost(tmp_path / "import.jsonl", posts_per_channel=300)
    path = fx.path  # in time order its channels overlap: many batches hold several conversations
    spread: list[int] = []
    split = actions.split_by_conversation

    def spy(batch: list[_Prepared], lanes: int) -> list[list[_Prepared]]:
        parts = split(batch, lanes)
        spread.append(len(parts))
        return parts

    monkeypatch.setattr(actions, "split_by_conversation", spy)
    two = await fresh_db()
    with pytest.raises(SimulatedCrash):
        await do_import(make_rt(two), export=mm(path), batch_size=200, crash_after_batches=4)
    assert await count(two, "messages") == 800  # four whole batches, both parts of each
    await do_import(make_rt(two), export=mm(path), batch_size=200)
    assert spread.count(2) >= 4, spread  # batches that went out on two connections at once

    monkeypatch.setattr(actions, "LANES", 1)
    one = await fresh_db()
    await do_import(make_rt(one), export=mm(path), batch_size=200)
    rows = await fetch(two, CONTENT)
    assert [_key(r) for r in rows] == [_key(r) for r in await fetch(one, CONTENT)]
    assert len(rows) == fx.posts + fx.replies
    by_conv: dict[str, list[int]] = {}
    for r in rows:
        by_conv.setdefault(r["name"], []).append(r["seq"])
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_conv.values())
    # Every reply points at a root of its own conversation.
    assert not await fetch(
        two,
        "SELECT 1 FROM messages m JOIN messages p ON p.id = m.reply_to_id WHERE p.conversation_id <> m.conversation_id",
    )
