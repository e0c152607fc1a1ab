"""What travels on the bus: a ready-to-send frame, or a control instruction for the hubs.

A payload is one kind byte followed by JSON:

* ``E`` + a server frame, encoded once by the publisher; every node sends those exact bytes
  to each local socket subscribed to the topic (no re-encoding per socket or per node).
* ``C`` + a control object the hub acts on: membership changes (who must start or stop
  receiving a conversation) and session revocations (which sockets must close).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import orjson

EVENT = 0x45  # b"E"
CONTROL = 0x43  # b"C"


class Control(TypedDict, total=False):
    op: Literal["subscribe", "unsubscribe", "revoke_session", "revoke_user"]
    conversation_id: int
    user_id: int
    session_id: str
    frame: dict[str, Any]
    reason: str


def event_frame(event: str, conversation_id: int, seq: int | None, data: dict[str, Any]) -> dict[str, Any]:
    """The ``event`` server frame (docs/protocol.md). Ephemeral events have ``seq`` null."""
    return {"type": "event", "event": event, "conversation_id": conversation_id, "seq": seq, "data": data}


def encode_event(frame: dict[str, Any]) -> bytes:
    return b"E" + orjson.dumps(frame)


def encode_control(control: Control) -> bytes:
    return b"C" + orjson.dumps(control)


def decode_control(payload: bytes) -> Control:
    value: Control = orjson.loads(payload[1:])
    return value
