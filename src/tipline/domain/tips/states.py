"""The tip's state machine (docs/subsystems/tipping.md), as data and pure functions.

    created --report/discover--> pending --verdict--> confirmed
       |                            |  \\--verdict--> failed
       \\--no report in time--> expired <--never landed--/
    confirmed --its block reorganised away--> pending

``failed`` and ``expired`` are final. Every change goes through ``check``: a move the machine
does not have is a programming error, refused before anything is written.
"""

from __future__ import annotations

from typing import Final, Literal

State = Literal["created", "pending", "confirmed", "failed", "expired"]
STATES: Final = ("created", "pending", "confirmed", "failed", "expired")
MOVES: Final[dict[str, frozenset[str]]] = {
    "created": frozenset({"pending", "expired"}),
    "pending": frozenset({"confirmed", "failed", "expired"}),
    "confirmed": frozenset({"pending"}),
    "failed": frozenset(),
    "expired": frozenset(),
}
# What a tip waits in, for the watcher: a report (created), a verdict (pending), a reorg check (confirmed).
OPEN: Final = ("created", "pending")
FINAL: Final = frozenset(state for state, moves in MOVES.items() if not moves)
# Conversation event per state entered; webhooks know three outcomes (an expiry is a failure to them).
EVENT_OF: Final = {
    "pending": "tip.pending",
    "confirmed": "tip.confirmed",
    "failed": "tip.failed",
    "expired": "tip.expired",
}
WEBHOOK_OF: Final = {**EVENT_OF, "expired": "tip.failed"}


def can_move(from_state: str, to_state: str) -> bool:
    return to_state in MOVES.get(from_state, frozenset())


def check(from_states: tuple[str, ...], to_state: str) -> None:
    """Refuse a transition the machine does not have (from any of ``from_states``)."""
    bad = [s for s in from_states if not can_move(s, to_state)]
    if not from_states or bad:
        raise ValueError(f"a tip cannot move from {bad or 'nowhere'} to {to_state!r}")
