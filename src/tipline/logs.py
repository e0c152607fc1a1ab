"""Logging: one JSON object per line, with the request id or connection id of what was going on.
`tipline dev` in a terminal prints short readable lines instead, and a banner with the address
to open (``dev_format``, ``banner``); an explicit LOG_FORMAT always wins.

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
from typing import Any, TextIO

import orjson

from tipline.config import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
CONNECTION_ID: ContextVar[str | None] = ContextVar("connection_id", default=None)

# color_message: uvicorn's ANSI-coloured copy of msg.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}
_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    # Personal access tokens wherever they appear (a URL, a subprotocol list, an error message).
    (re.compile(r"tlp_[A-Za-z0-9_-]{8,}"), "tlp_[redacted]"),
    # Webhook secrets (tlh_: an incoming webhook's, in its URL; tls_: a signing secret).
    (re.compile(r"(tl[hs]_)[A-Za-z0-9_-]{8,}"), r"\1[redacted]"),
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


class DevFormatter(logging.Formatter):
    """Short lines for a person at a terminal: time, level, where from, what happened, the ids.

    Colours only where the level needs attention; the message is redacted as in every format.
    """

    _COLOURS = {"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m"}
    _DIM, _RESET = "\x1b[2m", "\x1b[0m"

    def __init__(self, *, colour: bool = True) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        # tipline.gateway.endpoint -> gateway.endpoint: the package name is on every line anyway.
        source = record.name.removeprefix("tipline.") if record.name != "tipline" else "tipline"
        level = record.levelname
        text = redact(record.getMessage())
        ids = " ".join(f"{k}={v}" for k, v in (("req", REQUEST_ID.get()), ("conn", CONNECTION_ID.get())) if v)
        line = f"{when} {level:<7} {source:<18} {text}"
        if ids:
            line += f"  [{ids}]"
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        if not self.colour:
            return line
        colour = self._COLOURS.get(level)
        if colour is not None:
            return f"{colour}{line}{self._RESET}"
        # Routine traffic (the access log) is dimmed so that what needs reading stands out.
        return f"{self._DIM}{line}{self._RESET}" if record.name == "tipline.access" else line


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter()
    if kind == "dev":
        return DevFormatter()
    return TextFormatter()


def choose_format(settings: Settings, *, dev: bool, stream: TextIO) -> str:
    """The format this process logs in: LOG_FORMAT when it was set; otherwise JSON, except for
    `tipline dev` writing to a terminal, where a person reads the lines (``dev``)."""
    if "log_format" in settings.model_fields_set:
        return settings.log_format
    if dev and _is_terminal(stream):
        return "dev"
    return settings.log_format


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def banner(settings: Settings, *, data: str | None = None) -> str:
    """What `tipline dev` prints in a terminal once it listens: the address to open, first."""
    url = settings.public_url.rstrip("/")
    if settings.public_url == Settings.model_fields["public_url"].default:
        # PUBLIC_URL left alone: the address it actually listens on (HOST/PORT may differ).
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{settings.port}"
    rows = [("Open", url), ("API docs", f"{url}/docs")]
    if data is not None:
        rows.append(("Data", data))
    rows.append(("Stop", "Ctrl-C"))
    width = max(len(label) for label, _ in rows)
    body = [f"  {label:<{width}}  {value}" for label, value in rows]
    rule = "─" * max(len(line) for line in [*body, "  Tipline is running"])
    return "\n".join(["", rule, "  Tipline is running", *body, rule, ""])


# HTTP client internals log raw headers at DEBUG (Set-Cookie, Location with OAuth parameters).
NOISY_LIBRARIES = ("httpcore", "httpx", "hpack", "urllib3", "websockets")


def quiet_libraries() -> None:
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(settings: Settings, *, dev: bool = False) -> str:
    """The process's one logging setup; uvicorn is told not to install its own (log_config=None).

    Returns the format chosen (``choose_format``)."""
    kind = choose_format(settings, dev=dev, stream=sys.stderr)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    quiet_libraries()
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log prints the raw request line, query string included; Tipline writes its own.
    logging.getLogger("uvicorn.access").disabled = True
    return kind
