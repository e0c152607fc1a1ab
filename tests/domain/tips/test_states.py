"""The tip state machine (domain/tips/states.py): every move it has, and none it has not."""

from __future__ import annotations

import itertools

import pytest

from tipline.domain.tips import states


def test_the_moves_are_exactly_the_documented_ones() -> None:
    allowed = {(a, b) for a, b in itertools.product(states.STATES, repeat=2) if states.can_move(a, b)}
    assert allowed == {
        ("created", "pending"),  # reported by the tipper, or its log discovered
        ("created", "expired"),  # no transaction reported in time
        ("pending", "confirmed"),
        ("pending", "failed"),
        ("pending", "expired"),  # the reported transaction never landed
        ("confirmed", "pending"),  # its block was reorganised away
    }
    assert {"failed", "expired"} == states.FINAL


def test_every_state_a_tip_enters_has_its_event_and_webhook() -> None:
    entered = {b for a in states.STATES for b in states.STATES if states.can_move(a, b)}
    assert entered == set(states.EVENT_OF) == set(states.WEBHOOK_OF)
    assert states.WEBHOOK_OF["expired"] == "tip.failed"  # webhooks know three outcomes


@pytest.mark.parametrize(
    ("from_states", "to"),
    [(("failed",), "confirmed"), (("created",), "confirmed"), (("expired", "pending"), "pending"), ((), "pending")],
)
def test_a_move_the_machine_does_not_have_is_refused(from_states: tuple[str, ...], to: str) -> None:
    with pytest.raises(ValueError, match="cannot move"):
        states.check(from_states, to)


def test_a_move_it_has_passes() -> None:
    states.check(("pending",), "confirmed")
    states.check(("created", "pending"), "expired")
