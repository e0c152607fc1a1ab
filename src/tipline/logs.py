"""Logging: one JSON object per line, with the request id or connection id of what was going on.

Nothing that could sign someone in is ever written: code logs no secrets, tokens, Authorization
headers or message bodies, the access log records the route template and path (never the query
string, which carries OAuth codes on the OIDC callback), and, as a last line of defence, anything
shaped like a bearer token or a JWT is masked in every line. See docs/operations.md.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from tipline.config import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
CONNECTION_ID: ContextVar[str | None] = ContextVar("connection_id", default=None)

# color_message: uvicorn's ANSI-coloured copy of msg.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}
_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(?i)(password|secret|token|code|authorization)=[^\s&\"']+"), r"\1=[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if (rid := REQUEST_ID.get()) is not None:
            entry["request_id"] = rid
        if (cid := CONNECTION_ID.get()) is not None:
            entry["connection_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{k}={v}" for k, v in (("req", REQUEST_ID.get()), ("conn", CONNECTION_ID.get())) if v)
        return redact(super().format(record) + (f" [{ids}]" if ids else ""))


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


# HTTP client internals log raw headers at DEBUG (Set-Cookie, Location with OAuth parameters).
NOISY_LIBRARIES = ("httpcore", "httpx", "hpack", "urllib3", "websockets")


def quiet_libraries() -> None:
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(settings: Settings) -> None:
    """The process's one logging setup; uvicorn is told not to install its own (log_config=None)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    quiet_libraries()
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log prints the raw request line, query string included; Tipline writes its own.
    logging.getLogger("uvicorn.access").disabled = True
