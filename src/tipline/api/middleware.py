"""Pure-ASGI middleware: request body limit, security headers, request context, the client address behind
proxies (no per-request task overhead)."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tipline.logs import REQUEST_ID
from tipline.metrics import HTTP_LATENCY, HTTP_REQUESTS

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    # API answers are data, never a page: nothing in them may load, run or be framed. The web
    # client's HTML sets its own, wider policy (tipline.web), which this does not replace.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
]


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Exact paths with a limit of their own (the local media store's upload form).
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope["path"], self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _reject(send, max_bytes)
                    return
        seen = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # Answer 413 now; the app sees the client go away and stops reading.
                    rejected = True
                    await _reject(send, max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


async def _reject(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": f"request body over {limit} bytes", "code": "too_large"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# An incoming webhook's URL carries its secret (docs/security.md): never logged.
SECRET_PATH_RE = re.compile(r"^(/hooks/incoming/[^/]+/)[^/]+")


def redact_path(path: str) -> str:
    return SECRET_PATH_RE.sub(r"\1[redacted]", path)


access_log = logging.getLogger("tipline.access")


class RequestContext:
    """Per HTTP request: a request id (the caller's X-Request-ID when it is sane, else new) for logs
    and the response, the latency histogram by route template, and one access log line without the
    query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or ("(static)" if status < 400 else "(unmatched)")
            method = scope["method"]
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            access_log.info(
                "%s %s %d",
                method,
                template,
                status,
                extra={"path": redact_path(scope["path"]), "status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            REQUEST_ID.reset(token)


class TrustedHops:
    """The client address for nodes behind ``hops`` reverse proxies whose own addresses are not
    known in advance (CloudFront and an ALB): each proxy appends the address it received the
    request from to X-Forwarded-For, so the entry ``hops`` from the right end was written by the
    outermost trusted proxy, and everything left of it by the client. uvicorn's ``*`` would take
    the leftmost entry instead. Several X-Forwarded-For lines are one list, in order (RFC 9110,
    section 5.3). A request with fewer entries than ``hops`` did not come through every proxy: it
    keeps its socket peer. X-Forwarded-Proto is left alone: proxies overwrite it rather than
    append, and Tipline builds its own URLs from PUBLIC_URL.
    """

    def __init__(self, app: ASGIApp, *, hops: int) -> None:
        self.app = app
        self.hops = hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        forwarded_for: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for += value.decode("latin-1").split(",")
        if len(forwarded_for) >= self.hops:
            host = _ip(forwarded_for[-self.hops].strip())
            if host is not None:
                scope = {**scope, "client": (host, 0)}
        await self.app(scope, receive, send)


def _ip(value: str) -> str | None:
    """An address as a proxy writes it (``1.2.3.4``, ``2001:db8::1``, ``[2001:db8::1]:443``,
    ``1.2.3.4:5678``), normalised; None for anything else."""
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
