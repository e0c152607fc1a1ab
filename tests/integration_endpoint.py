"""A real HTTP server for tests to point slash commands and outgoing webhooks at (loopback, so the
tests allow-list 127.0.0.1 in OUTBOUND_ALLOW). It records every request and answers what the test set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Endpoint:
    base_url: str
    received: list[Received] = field(default_factory=list)
    # path -> (status, JSON answer or raw bytes, extra headers); default 200 {}.
    answers: dict[str, tuple[int, Any, dict[str, str]]] = field(default_factory=dict)
    on_request: Callable[[Received], None] | None = None
    # path -> seconds to wait before answering (a slow site).
    delays: dict[str, float] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def answer(self, path: str, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.answers[path] = (status, body, headers or {})

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.received)}")
            await asyncio.sleep(0.05)
        return self.received


@contextlib.asynccontextmanager
async def run_endpoint() -> AsyncIterator[Endpoint]:
    port = free_port()
    endpoint = Endpoint(base_url=f"http://127.0.0.1:{port}")

    async def handle(request: Request) -> Response:
        got = Received(path=request.url.path, headers=dict(request.headers), body=await request.body())
        endpoint.received.append(got)
        if request.url.path in endpoint.delays:
            await asyncio.sleep(endpoint.delays[request.url.path])
        status, body, headers = endpoint.answers.get(request.url.path, (200, {}, {}))
        if isinstance(body, bytes):
            return Response(body, status_code=status, headers=headers)
        return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)

    app = Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield endpoint
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
