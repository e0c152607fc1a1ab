"""The Bus: how one node's committed events reach every node's sockets.

Guarantees (and non-guarantees) every implementation keeps:

* **Node-level interest.** A node ``subscribe``\\s to a topic while at least one of its
  local sockets needs it, and ``unsubscribe``\\s when the last one goes. Each published
  message reaches each subscribed node's handler **once**; the node fans it out locally.
* **Order per topic per publisher.** Two messages published by one node on one topic are
  handled in that order by every node. Nothing is promised across publishers.
* **At most once.** A message published while a node is disconnected from the bus, or
  while it was not subscribed, is *not* redelivered. The bus is the fast path only:
  PostgreSQL is the truth, and every conversation event carries ``(conversation_id,
  seq)`` so a socket that sees a gap, or is told to resync, replays what it missed.
* **Publish never raises.** A message the broker cannot take is dropped and logged (at
  most once); the committed data stays readable and clients repair the gap.
* **Publish after commit.** Callers publish only what has committed (see
  :mod:`tipline.bus.on_commit`); the bus never sees a rolled-back event.
* ``on_lost`` callbacks run when the bus loses its connection, ``on_reconnect`` callbacks once it
  has it back with every subscription in place, so the node can hold deliveries meanwhile,
  re-check its sockets against PostgreSQL and ask each to check for gaps (the in-memory bus
  never loses one).

Topics are short strings: ``c:<conversation_id>`` for a conversation's events and
``u:<user_id>`` for one user's (their sessions, their new memberships), ``n:<node_id>``
for one node's (sends forwarded to the node that owns their conversation, and its answers),
and ``all`` for every node's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Handler = Callable[[str, bytes], None]
"""Called with (topic, payload) for each message, on the node's event loop, in order."""


class Bus(Protocol):
    async def start(self, handler: Handler) -> None:
        """Connect and start delivering messages for subscribed topics to ``handler``."""

    async def close(self) -> None:
        """Stop delivering and release connections."""

    async def publish(self, topic: str, payload: bytes) -> None:
        """Send ``payload`` to every node subscribed to ``topic`` (this one included)."""

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        """Publish several messages in order, in one round trip where the backend allows."""

    async def publish_counted(self, items: list[tuple[str, bytes]]) -> list[int]:
        """Publish each message as is, in order; how many nodes each reached (0 for all when the
        publish failed). Send routing forwards this way, to a node's own topic: 0 means that
        node is gone."""

    def subscribe(self, topic: str) -> None:
        """Register this node's interest in ``topic``; takes effect before the next publish."""

    def unsubscribe(self, topic: str) -> None:
        """Drop this node's interest in ``topic``."""

    async def settle(self) -> None:
        """Return once every subscribe/unsubscribe made so far is in effect on the broker."""

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` whenever the bus recovers from a lost connection."""

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` whenever the bus loses its connection (messages may be lost from now on)."""

    def healthy(self) -> bool:
        """Whether the bus is connected now (readiness reflects it)."""


def topic_conversation(conversation_id: int) -> str:
    return f"c:{conversation_id}"


def topic_user(user_id: int) -> str:
    return f"u:{user_id}"


# Every node subscribes to this one: instructions for all nodes (re-check your sockets).
TOPIC_ALL = "all"


def topic_node(node_id: str) -> str:
    """One node's own topic: sends forwarded to it and its answers (domain/messages/routing.py)."""
    return f"n:{node_id}"
