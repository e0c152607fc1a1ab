"""Serve the built web client (``web/dist``) from the API's own origin.

``mount_web(app, dist)`` adds one route, last, that answers ``GET``/``HEAD`` for the app:

- ``/assets/*``: Vite's content-hashed files, cached for a year (``immutable``); a missing
  asset is a 404, never the app shell (a stale tab would otherwise parse HTML as JavaScript).
- other files at the top of ``dist`` (``sw.js``, ``manifest.webmanifest``, icons): served as is,
  revalidated on every use so a deploy is picked up.
- a missing file (a last segment with a dot, such as ``/favicon.ico``): 404.
- anything else: ``index.html``, for the client-side routes (``/c/12``, ``/settings``...).

It never answers for the server's own paths (the API prefixes, ``/ws``, ``/docs``,
``/openapi.json``, ``/healthz``, ``/readyz``): those keep their 404 and 405 answers, because
the route does not match them at all. Every HTML answer carries a strict
Content-Security-Policy; the app needs no inline script or style, and no other origin but the
media store's when it is S3 (``media_origins``: uploads, and images, audio and video).

See docs/subsystems/web-client.md.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from tipline.storage.objects import MediaOrigins

log = logging.getLogger(__name__)

# Paths the web client must never shadow: the HTTP API, the WebSocket and the operator pages.
# Routes registered on the app are added to these when the first request arrives.
RESERVED_PREFIXES: Final = (
    "/auth",
    "/me",
    "/users",
    "/conversations",
    "/messages",
    "/presence",
    "/ws",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/healthz",
    "/readyz",
)
ASSET_CACHE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
# Host header values that may go into the policy as they are (host, IPv4, [IPv6], port).
_HOST_RE: Final = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")

mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")


def content_security_policy(host: str | None, *, media: MediaOrigins = MediaOrigins()) -> str:
    """The policy sent with the app's HTML.

    ``connect-src`` names the page's own WebSocket origins (``ws://`` and ``wss://`` on the same
    host) rather than any ``ws:``/``wss:`` host: ``'self'`` alone does not cover WebSockets in
    every browser still in use. With S3 media, the bucket's exact origin is added where the
    browser needs it and nowhere else: ``connect-src`` for the presigned POST (an
    ``XMLHttpRequest``), ``img-src`` and ``media-src`` for signed GETs (``<img>``, ``<audio>``,
    ``<video>``). A file download is a navigation, which the policy does not govern.
    """
    connect = "'self'"
    if host and _HOST_RE.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    if media.upload:
        connect += f" {media.upload}"
    download = f" {media.download}" if media.download else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{download}",
            f"media-src 'self'{download}",
            "font-src 'self'",
            f"connect-src {connect}",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
            "manifest-src 'self'",
            "worker-src 'self'",
        )
    )


def _top_segment(path: str) -> str:
    return "/" + path.lstrip("/").split("/", 1)[0]


class WebRoute(BaseRoute):
    """Matches GET/HEAD for every path that is not the server's; serves the built client."""

    def __init__(self, app: FastAPI, dist: Path, *, media: MediaOrigins = MediaOrigins()) -> None:
        self.app = app
        self.dist = dist.resolve()
        self.media = media
        self.index = self.dist / "index.html"
        self._reserved: frozenset[str] | None = None

    def _reserved_segments(self) -> frozenset[str]:
        # Computed on first use so routes added after mount_web (in any order) are respected.
        if self._reserved is None:
            segments = {_top_segment(p) for p in RESERVED_PREFIXES}
            for route in self.app.router.routes:
                path = getattr(route, "path", None)
                if route is not self and isinstance(path, str) and path not in ("", "/"):
                    segments.add(_top_segment(path))
            self._reserved = frozenset(segments)
        return self._reserved

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        if _top_segment(scope["path"]) in self._reserved_segments():
            return Match.NONE, {}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self._respond(scope)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)

    def _file(self, relative: str) -> Path | None:
        """The file under dist for a URL path, or None (never anything outside dist)."""
        if not relative or "\x00" in relative:
            return None
        candidate = (self.dist / relative).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None
        return candidate

    def _respond(self, scope: Scope) -> Response:
        path: str = scope["path"]
        relative = path.lstrip("/")
        if relative.startswith("assets/"):
            asset = self._file(relative)
            if asset is None:
                return PlainTextResponse("not found", status_code=404, headers={"Cache-Control": "no-store"})
            return FileResponse(asset, headers={"Cache-Control": ASSET_CACHE})
        file = self._file(relative) if relative != "index.html" else None
        if file is not None:
            # The app's policy, not the API's `default-src 'none'`: a worker script (sw.js) runs
            # under the policy it was served with, and must fetch and cache the app's files.
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            return FileResponse(
                file, headers={"Cache-Control": REVALIDATE, "Content-Security-Policy": self._policy(host)}
            )
        if "." in relative.rsplit("/", 1)[-1] and relative != "index.html":
            # Client routes never look like file names: this is a file that is not there.
            return PlainTextResponse("not found", status_code=404, headers={"Cache-Control": "no-store"})
        return self._shell(scope)

    def _policy(self, host: str | None) -> str:
        return content_security_policy(host, media=self.media)

    def _shell(self, scope: Scope) -> Response:
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        return FileResponse(
            self.index,
            media_type="text/html",
            headers={"Cache-Control": REVALIDATE, "Content-Security-Policy": self._policy(host)},
        )


def mount_web(app: FastAPI, dist: Path, *, media: MediaOrigins = MediaOrigins()) -> None:
    """Serve the built web client in ``dist`` at ``/``, after (and never instead of) the API.

    ``media``: the media store's origins when they are not Tipline's own (``media_origins``).
    Does nothing, with a warning, when ``dist/index.html`` does not exist (the client was not
    built: ``cd web && npm ci && npm run build``); calling it twice mounts it once.
    """
    if not (dist / "index.html").is_file():
        log.warning("web client not served: %s has no index.html (build it with `npm run build` in web/)", dist)
        return
    if any(isinstance(route, WebRoute) for route in app.router.routes):
        return
    app.router.routes.append(WebRoute(app, dist, media=media))
