"""Signatures of Tipline's requests to integrations, and how a receiver checks them.

Every request to a slash command's or outgoing webhook's URL carries::

    X-Tipline-Timestamp: <unix seconds when it was signed>
    X-Tipline-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the secret>

A receiver recomputes the HMAC over the exact bytes it received, compares in constant time, and
refuses a timestamp more than ``REPLAY_WINDOW_S`` (5 minutes) from its clock: a captured request
cannot be replayed later, and a changed body or timestamp fails the signature.
``verify`` is that check (Tipline's tests use it as a receiver would). docs/subsystems/integrations.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

REPLAY_WINDOW_S = 300
SECRET_PREFIX = "tls_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        "X-Tipline-Timestamp": timestamp,
        "X-Tipline-Signature": signature(secret, timestamp, body),
    }


def verify(secret: str, *, timestamp: str, signature_header: str, body: bytes, now: float | None = None) -> bool:
    """A receiver's check: the signature matches and the timestamp is within the replay window."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - signed_at) > REPLAY_WINDOW_S:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)
