"""The send rules one by one, on plain values (the batcher tests run them against PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tipline.domain.messages import send_rules as rules
from tipline.domain.messages.schemas import SendRequest
from tipline.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthorized

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def send(**fields: Any) -> SendRequest:
    return SendRequest(**{"user_id": 1, "conversation_id": 10, "client_msg_id": "m1", "body": "hi", **fields})


def ctx(**fields: Any) -> rules.BatchContext:
    values: dict[str, Any] = {
        "locked": {10: {"kind": "group", "archived_at": None, "slow_mode_s": 0, "last_seq": 0}},
        "sessions": {},
        "existing": {},
        "member_pairs": {(10, 1)},
        "reply_convs": {},
        "mentions": {},
        "mention_blocks": set(),
        "files": {},
        "blocked_dm": set(),
        "slow": {},
        "slow_pairs": set(),
        "now": NOW,
    }
    values.update(fields)
    return rules.BatchContext(**values)


def session_state(**fields: Any) -> dict[str, Any]:
    return {"user_id": 1, "revoked_at": None, "expires_at": NOW + timedelta(days=365 * 50), "is_active": True} | fields


def test_a_send_without_a_session_is_the_servers_own() -> None:
    assert rules.session_ended(send(), {}) is None


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (None, "session_revoked"),
        ({"revoked_at": NOW}, "session_revoked"),
        ({"expires_at": datetime.now(UTC) - timedelta(seconds=1)}, "session_expired"),
        ({"is_active": False}, "account_inactive"),
        ({"user_id": 2}, "invalid_token"),
    ],
)
def test_an_ended_session_refuses_the_send(state: dict[str, Any] | None, code: str) -> None:
    sid = uuid.uuid4()
    sessions = {} if state is None else {sid: session_state(**state)}
    refusal = rules.session_ended(send(session_id=sid), sessions)
    assert isinstance(refusal, Unauthorized) and refusal.code == code


def test_a_live_session_passes() -> None:
    sid = uuid.uuid4()
    assert rules.session_ended(send(session_id=sid), {sid: session_state()}) is None


def test_not_a_member_reads_like_access_member() -> None:
    assert rules.not_member(send(), ctx()) is None
    assert isinstance(rules.not_member(send(user_id=2), ctx()), NotFound)
    assert isinstance(rules.not_member(send(conversation_id=11), ctx()), NotFound)
    public = ctx(locked={10: {"kind": "public", "archived_at": None, "slow_mode_s": 0, "last_seq": 0}})
    refusal = rules.not_member(send(user_id=2), public)
    assert isinstance(refusal, Forbidden) and refusal.code == "not_a_member"


def test_archived_and_blocked_direct() -> None:
    assert rules.archived({"archived_at": None}) is None
    refusal = rules.archived({"archived_at": NOW})
    assert isinstance(refusal, Conflict) and refusal.code == "conversation_archived"
    assert rules.blocked_direct(send(), set()) is None
    blocked = rules.blocked_direct(send(), {(10, 1)})
    assert isinstance(blocked, Forbidden) and blocked.code == "blocked"


def test_slow_mode_waits_exempts_managers_and_counts_a_second_send_in_the_batch() -> None:
    conv = {"slow_mode_s": 30}
    member = {"role": "member", "is_admin": False, "last_sent_at": NOW - timedelta(seconds=10)}
    wait = rules.slow_mode_wait(member, conv, NOW, again=False)
    assert isinstance(wait, RateLimited) and wait.code == "slow_mode" and wait.retry_after == pytest.approx(20)
    assert rules.slow_mode_wait({**member, "last_sent_at": NOW - timedelta(seconds=31)}, conv, NOW, again=False) is None
    assert rules.slow_mode_wait({**member, "last_sent_at": None}, conv, NOW, again=False) is None
    again = rules.slow_mode_wait({**member, "last_sent_at": None}, conv, NOW, again=True)
    assert isinstance(again, RateLimited) and again.retry_after == pytest.approx(30)
    assert rules.slow_mode_wait({**member, "role": "owner"}, conv, NOW, again=True) is None
    assert rules.slow_mode_wait({**member, "is_admin": True}, conv, NOW, again=True) is None


def test_a_reply_must_be_in_the_same_conversation() -> None:
    assert rules.reply_elsewhere(send(), {}) is None
    assert rules.reply_elsewhere(send(reply_to=5), {5: 10}) is None
    refusal = rules.reply_elsewhere(send(reply_to=5), {5: 11})
    assert isinstance(refusal, NotFound) and refusal.code == "reply_not_found"


def test_an_upload_cannot_go_on_two_sends_of_one_batch() -> None:
    upload = uuid.uuid4()
    files: Any = {
        upload: {"owner_id": 1, "purpose": "attachment", "status": "ready", "conversation_id": 10, "message_id": None}
    }
    assert rules.attachments_refused(send(attachment_ids=(upload,)), files, set()) is None
    used = rules.attachments_refused(send(attachment_ids=(upload,)), files, {upload})
    assert isinstance(used, Conflict) and used.code == "attachment_used"
    missing = rules.attachments_refused(send(attachment_ids=(uuid.uuid4(),)), files, set())
    assert isinstance(missing, NotFound) and missing.code == "attachment_not_found"


def test_a_forward_waits_for_the_send_it_follows() -> None:
    follower = send(client_msg_id="m2", after="m1")
    refusal = rules.out_of_order(follower, {}, {})
    assert isinstance(refusal, rules.OutOfOrder) and refusal.code == rules.OUT_OF_ORDER
    assert rules.out_of_order(follower, {(10, 1, "m1"): object()}, {}) is None  # stored before
    assert rules.out_of_order(follower, {}, {(10, 1, "m1"): 0}) is None  # stored earlier in the batch
    assert rules.out_of_order(send(), {}, {}) is None  # no predecessor named
    # Another sender's message of that id is not this sender's predecessor.
    assert isinstance(rules.out_of_order(follower, {(10, 2, "m1"): object()}, {}), rules.OutOfOrder)


def test_mentions_leave_out_blocks_either_way_and_non_members() -> None:
    mentions = {(10, "bob"): 2, (10, "carol"): 3, (11, "dave"): 4}
    assert rules.visible_mentions(send(), {"bob", "carol", "dave"}, mentions, set()) == [2, 3]
    assert rules.visible_mentions(send(), {"bob", "carol"}, mentions, {(1, 2)}) == [3]
    assert rules.visible_mentions(send(), {"bob", "carol"}, mentions, {(3, 1)}) == [2]


def test_a_send_request_survives_the_wire() -> None:
    original = send(session_id=uuid.uuid4(), reply_to=7, attachment_ids=(uuid.uuid4(), uuid.uuid4()), after="m0")
    assert SendRequest.from_wire(original.to_wire()) == original
    bare = send()
    assert SendRequest.from_wire(bare.to_wire()) == bare
