"""Errors the client raises: the server's stable ``code`` (docs/protocol.md, "Error codes")."""

from __future__ import annotations

from typing import Any


class TiplineError(Exception):
    """A refusal by the server: HTTP status (or 0 over the WebSocket), ``code`` and message."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> TiplineError:
        code, message = str(frame.get("code", "error")), str(frame.get("message", ""))
        return cls(0, code, message, retry_after=frame.get("retry_after"))


class ConnectionClosed(TiplineError):
    """The socket was closed for good: ``close_code`` 4001 (token revoked, expired or refused),
    or the client was closed. The outbox keeps what was not acknowledged."""

    def __init__(self, close_code: int | None, reason: str) -> None:
        super().__init__(0, "closed", f"closed ({close_code}) {reason}".strip())
        self.close_code = close_code
        self.reason = reason
