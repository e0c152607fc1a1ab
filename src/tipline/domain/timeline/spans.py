"""Which seqs a history page covers, to find the system lines that belong between its messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson


def _seq(message: dict[str, Any] | bytes) -> int:
    # Cache entries are encoded JSON; only the page's first and last are decoded here.
    value = orjson.loads(message)["seq"] if isinstance(message, bytes) else message["seq"]
    return int(value)


def system_line_span(
    messages: Sequence[dict[str, Any] | bytes], *, before: int | None, after: int | None, has_more: bool, last_seq: int
) -> tuple[int, int] | None:
    """The inclusive seq range a page covers, or None when no event can lie in it.

    A page covers from the message after the previous page's side to this one's far side: the
    latest page reaches up to the conversation's ``last_seq``; the oldest page reaches down to
    seq 1. Every seq that is not a message's is an event's, so a range its messages fill
    entirely holds no system line, and the query is skipped (the common case)."""
    older_cut = has_more and after is None
    newer_cut = has_more and after is not None
    if messages:
        lo = _seq(messages[0]) if older_cut else (after + 1 if after is not None else 1)
        hi = _seq(messages[-1]) if newer_cut else (before - 1 if before is not None else last_seq)
    else:
        lo = after + 1 if after is not None else 1
        hi = before - 1 if before is not None else last_seq
    hi = min(hi, last_seq)
    if hi < lo:
        return None
    if messages and _seq(messages[0]) == lo and _seq(messages[-1]) == hi and hi - lo + 1 == len(messages):
        return None
    return lo, hi
