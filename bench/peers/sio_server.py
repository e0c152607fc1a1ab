"""A python-socketio chat room for bench/peers/run.py: an ``AsyncServer`` in ASGI mode with its
Redis manager (``AsyncRedisManager``), served by uvicorn like Tipline.

A client joins a room with a ``join`` event (acknowledged, so it knows when it is in); a ``chat``
event is emitted to everyone in the client's room, the sender included. Everything else is
python-socketio's defaults (Engine.IO pings every 25 s). Runs in its own virtualenv
(bench/peers/requirements-socketio.txt), not in Tipline's.

    python sio_server.py --port 8000 --redis-url redis://127.0.0.1:6379/0 --channel socketio
"""

import argparse
from typing import Any

import socketio
import uvicorn


def make_app(redis_url: str, channel: str) -> socketio.ASGIApp:
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*")
    rooms: dict[str, str] = {}

    @sio.event
    async def join(sid: str, room: str) -> bool:
        await sio.enter_room(sid, room)
        rooms[sid] = room
        return True

    @sio.event
    async def chat(sid: str, message: str) -> None:
        await sio.emit("chat", message, room=rooms[sid])

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        rooms.pop(sid, None)

    async def healthz(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Anything that is not Socket.IO (ASGIApp handles lifespan): 200 on /healthz, else 404."""
        status = 200 if scope.get("path") == "/healthz" else 404
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b""})

    return socketio.ASGIApp(sio, other_asgi_app=healthz)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--channel", default="socketio")
    parser.add_argument("--ws-impl", default="websockets-sansio")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.redis_url, args.channel),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=args.ws_impl,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
