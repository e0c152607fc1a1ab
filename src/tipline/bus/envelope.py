"""What travels on the bus: a ready-to-send frame, or a control instruction for the hubs.

A payload is one kind byte followed by JSON:

* ``E`` + a server frame, encoded once by the publisher; every node sends those exact bytes
  to each local socket subscribed to the topic (no re-encoding per socket or per node).
* ``S`` + the sender's user id (8 bytes, big-endian) + a server frame: an event carrying a
  person's words (a new or edited message). Hubs send it like ``E``, except to sockets of
  people who blocked that sender, who get it with the words left out
  (docs/subsystems/moderation.md).
* ``C`` + a control object the hub acts on: membership changes (who must start or stop
  receiving a conversation), session revocations (which sockets must close), blocks, and
  ``recheck`` (every node re-checks its sockets against PostgreSQL: gateway/guard.py).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import orjson

EVENT = 0x45  # b"E"
CONTROL = 0x43  # b"C"
SENDER = 0x53  # b"S"


class Control(TypedDict, total=False):
    op: Literal["subscribe", "unsubscribe", "revoke_session", "revoke_user", "hide_sender", "unhide_sender", "recheck"]
    conversation_id: int
    user_id: int
    session_id: str
    frame: dict[str, Any]
    reason: str
    target_id: int
    node_id: str


def event_frame(event: str, conversation_id: int, seq: int | None, data: dict[str, Any]) -> dict[str, Any]:
    """The ``event`` server frame (docs/protocol.md). Ephemeral events have ``seq`` null."""
    return {"type": "event", "event": event, "conversation_id": conversation_id, "seq": seq, "data": data}


def encode_event(frame: dict[str, Any]) -> bytes:
    return b"E" + orjson.dumps(frame)


def encode_sender_event(sender_id: int, frame: dict[str, Any]) -> bytes:
    return b"S" + sender_id.to_bytes(8, "big") + orjson.dumps(frame)


def encode_control(control: Control) -> bytes:
    return b"C" + orjson.dumps(control)


def decode_control(payload: bytes) -> Control:
    value: Control = orjson.loads(payload[1:])
    return value
