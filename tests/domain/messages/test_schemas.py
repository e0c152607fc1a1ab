"""History pages are encoded straight from message dicts: the JSON must be what the documented
``HistoryPage`` model describes, whichever way (cache or database) the dicts came."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from tipline.domain.messages.schemas import (
    MESSAGE_FIELDS,
    HistoryPage,
    MessageOut,
    Page,
    masked,
    message_dict,
    page_json,
)


def row(seq: int, **over: Any) -> Any:  # a RowMapping stand-in: message_dict only indexes it
    base: dict[str, Any] = {
        "id": 100 + seq,
        "conversation_id": 7,
        "seq": seq,
        "sender_id": 3,
        "client_msg_id": f"c-{seq}",
        "body": f"hello @bob number {seq} — ünïcode ✓",
        "reply_to_id": None,
        "mention_ids": [4],
        "created_at": datetime(2026, 12, 1, 21, 0, seq, 123456, tzinfo=UTC),
        "edited_at": None,
        "deleted_at": None,
    }
    return {**base, **over}


def messages() -> list[dict[str, Any]]:
    attachment = {
        "id": str(uuid.uuid4()),
        "conversation_id": 7,
        "message_id": 101,
        "filename": "cat.png",
        "content_type": "image/png",
        "kind": "image",
        "size": 1234,
        "width": 10,
        "height": 20,
        "thumb_width": 5,
        "thumb_height": 10,
        "has_thumbnail": True,
    }
    plain = message_dict(row(1), reactions=[{"emoji": "ok", "count": 2, "user_ids": [3, 4]}], attachments=[attachment])
    plain["tips"] = [{"symbol": "ETH", "token": "0x0", "total": "10", "total_display": "0.00000001", "count": 1}]
    edited = message_dict(row(2, reply_to_id=101, edited_at=datetime(2026, 12, 1, 22, tzinfo=UTC)), reply_count=0)
    deleted = message_dict(row(3, deleted_at=datetime(2026, 12, 1, 23, tzinfo=UTC)), reply_count=4)
    blocked = masked(message_dict(row(4, sender_id=9)))
    # As the cache gives it back: decoded JSON (times as strings), reply_count added last.
    cached = orjson.loads(orjson.dumps({k: v for k, v in message_dict(row(5)).items() if k != "reply_count"}))
    cached["reply_count"] = 2
    return [plain, edited, deleted, blocked, cached]


def test_a_page_is_the_documented_model() -> None:
    found = messages()
    body = page_json(Page(messages=found, has_more=True))
    parsed = HistoryPage.model_validate_json(body)
    assert parsed == HistoryPage(messages=[MessageOut(**m) for m in found], has_more=True)
    raw = orjson.loads(body)
    assert raw["has_more"] is True
    # Every field of the model, reply_count last, and nothing else (no internal keys leak out).
    assert set(MESSAGE_FIELDS) == set(MessageOut.model_fields) and MESSAGE_FIELDS[-1] == "reply_count"
    assert all(list(m) == list(MESSAGE_FIELDS) for m in raw["messages"])
    assert raw["messages"][3]["hidden"] is True and raw["messages"][3]["body"] == ""
    assert raw["messages"][0]["reactions"] == [{"emoji": "ok", "count": 2, "user_ids": [3, 4]}]


def test_the_cache_and_the_database_give_the_same_bytes() -> None:
    """A dict as the database gives it (datetimes, reply_count in place) and the same message as
    the cache gives it back (decoded JSON, reply_count appended) encode identically."""
    from_db = message_dict(row(6), reply_count=1)
    from_cache = orjson.loads(orjson.dumps({k: v for k, v in from_db.items() if k != "reply_count"}))
    from_cache["reply_count"] = 1
    assert list(from_cache) != list(from_db)
    assert page_json(Page(messages=[from_db], has_more=False)) == page_json(Page(messages=[from_cache], has_more=False))


def test_an_encoded_cache_entry_is_the_bytes_of_its_dict() -> None:
    """The cache stores a message's JSON less reply_count (in ``message_dict``'s key order) and
    appends reply_count when it reads it; ``page_json`` must give a dict the same bytes."""
    m = message_dict(row(7), reply_count=3)
    assert [k for k in m if k != "reply_count"] == [k for k in MESSAGE_FIELDS if k != "reply_count"]
    stored = orjson.dumps({k: v for k, v in m.items() if k != "reply_count"})
    encoded = stored[:-1] + b',"reply_count":3}'
    mixed = page_json(Page(messages=[encoded, m], has_more=False))
    assert mixed == page_json(Page(messages=[m, m], has_more=False))
    assert HistoryPage.model_validate_json(mixed).messages[0].reply_count == 3
