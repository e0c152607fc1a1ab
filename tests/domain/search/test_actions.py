"""Highlight pieces and cursors: pure functions of the search actions."""

from __future__ import annotations

import pytest

from tipline.domain.search.actions import (
    _decode_cursor,
    _encode_cursor,
    headline_fragments,
    substring_fragments,
)
from tipline.errors import Invalid


def test_headline_marks_become_plain_pieces() -> None:
    parts = headline_fragments("a \x02fox\x03 and <b> \x02dog\x03")
    assert [(p.text, p.match) for p in parts] == [("a ", False), ("fox", True), (" and <b> ", False), ("dog", True)]


def test_substring_window_marks_every_occurrence_case_insensitively() -> None:
    body = "x" * 100 + "Tokyo tokyo TOKYO" + "y" * 300
    parts = substring_fragments(body, "tokyo")
    assert parts[0].text == "…" and parts[-1].text == "…"
    assert [p.text for p in parts if p.match] == ["Tokyo", "tokyo", "TOKYO"]


def test_cursor_round_trip_and_mismatch() -> None:
    cursor = _encode_cursor({"m": "words", "s": "relevance", "r": 0.0607927, "i": 42})
    assert _decode_cursor(cursor, mode="words", sort="relevance") == (0.0607927, 42)
    with pytest.raises(Invalid):
        _decode_cursor(cursor, mode="words", sort="recent")
    with pytest.raises(Invalid):
        _decode_cursor("!!", mode="words", sort="recent")
