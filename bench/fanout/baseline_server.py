"""The fan-out baseline: a bare broadcast server on the same WebSocket stack as Tipline.

uvicorn with the same settings as `tipline serve` (uvloop, httptools, the chosen ws
implementation, the same frame limit and keepalive pings) and a minimal Starlette app: no
auth, no database, no queues. Every text message received from any client is sent to every
connected client, one ``send_text`` per socket. What Tipline adds on top of this is what
``ratio_to_baseline`` measures.

    uv run python bench/fanout/baseline_server.py --port 8123 --ws-impl websockets-sansio
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

clients: set[WebSocket] = set()


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def broadcast(ws: WebSocket) -> None:
    offered = ws.scope.get("subprotocols") or []
    # Same handshake as Tipline's (the client offers tipline.v1), same first frame.
    await ws.accept(subprotocol="tipline.v1" if "tipline.v1" in offered else None)
    await ws.send_text('{"type":"ready"}')
    clients.add(ws)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                continue
            # A snapshot: the set may change while a send awaits.
            for peer in list(clients):
                try:
                    await peer.send_text(text)
                except Exception:
                    clients.discard(peer)
    finally:
        clients.discard(ws)


app = Starlette(routes=[Route("/healthz", healthz), WebSocketRoute("/ws", broadcast)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    impls = ("websockets-sansio", "websockets", "wsproto")
    parser.add_argument("--ws-impl", default="websockets-sansio", choices=impls)
    args = parser.parse_args()
    # The same uvicorn settings as tipline.cli._serve.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=args.ws_impl,
        ws_max_size=65536,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
