"""Test helpers: a signed-up user, an HTTP client, and a WebSocket client that reads frames."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "a long enough passphrase 42"


@dataclass
class User:
    id: int
    handle: str
    email: str
    token: str
    refresh_token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def signup(api: httpx.AsyncClient, handle: str | None = None, *, password: str = PASSWORD) -> User:
    handle = handle or f"u{uuid.uuid4().hex[:10]}"
    email = f"{handle}@example.com"
    r = await api.post(
        "/auth/signup",
        json={"email": email, "password": password, "handle": handle, "display_name": handle.title()},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return User(
        id=body["user"]["id"],
        handle=handle,
        email=email,
        token=body["access_token"],
        refresh_token=body["refresh_token"],
        session_id=body["session_id"],
    )


async def create_conversation(
    api: httpx.AsyncClient, owner: User, kind: str = "group", members: list[User] | None = None, name: str = "room"
) -> dict[str, Any]:
    r = await api.post(
        "/conversations",
        headers=owner.headers,
        json={"kind": kind, "name": name, "member_ids": [m.id for m in members or []]},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def send_http(
    api: httpx.AsyncClient, user: User, conversation_id: int, body: str, **extra: Any
) -> httpx.Response:
    payload = {"client_msg_id": extra.pop("client_msg_id", uuid.uuid4().hex), "body": body, **extra}
    return await api.post(f"/conversations/{conversation_id}/messages", headers=user.headers, json=payload)


@dataclass
class Ws:
    """A real WebSocket client that unpacks ``batch`` frames and keeps unread frames in order."""

    conn: ClientConnection
    buffer: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(
        cls,
        ws_url: str,
        user: User | None,
        *,
        auth: str = "subprotocol",
        origin: str | None = None,
        wait_ready: bool = True,
        **kwargs: Any,
    ) -> Ws:
        subprotocols = ["tipline.v1"]
        if user is not None and auth == "subprotocol":
            subprotocols.append(f"tipline.auth.{user.token}")
        conn = await connect(
            ws_url,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            origin=origin,  # type: ignore[arg-type]
            open_timeout=5,
            max_size=None,
            # Keep reading from TCP even when the test has not consumed frames yet, so a
            # close handshake is never stuck behind unread events.
            **{"max_queue": None, **kwargs},
        )
        ws = cls(conn)
        if user is not None and auth == "frame":
            await ws.send({"type": "auth", "token": user.token})
        if user is not None and wait_ready:
            await ws.expect("ready")
        return ws

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            frame = orjson.dumps(frame).decode()
        await self.conn.send(frame)

    async def _read(self, timeout: float) -> None:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        frame = orjson.loads(raw)
        check_server_frame(frame)
        if frame.get("type") == "batch":
            self.buffer.extend(frame["frames"])
        else:
            self.buffer.append(frame)

    async def expect(self, match: str | Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first frame (in arrival order) matching a type name or a predicate."""
        pred = (lambda f: f.get("type") == match) if isinstance(match, str) else match
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, frame in enumerate(self.buffer):
                if pred(frame):
                    return self.buffer.pop(i)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no matching frame within {timeout}s; buffered: {self.buffer[-5:]}")
            try:
                await self._read(remaining)
            except TimeoutError:
                continue

    async def collect(self, within: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives within ``within`` seconds (plus what is buffered)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (remaining := deadline - loop.time()) > 0:
            try:
                await self._read(remaining)
            except TimeoutError:
                break
        frames, self.buffer = self.buffer, []
        return frames

    async def close(self) -> None:
        await self.conn.close()


def check_server_frame(frame: Any) -> None:
    """Every frame a test socket receives is one the protocol module defines (tipline.protocol),
    so the published schemas and the web client's generated types cannot drift from what is sent."""
    from pydantic import ValidationError

    from tipline.protocol import SERVER_FRAME

    try:
        SERVER_FRAME.validate_python(frame)
    except ValidationError as exc:
        raise AssertionError(f"a server frame the protocol does not define: {frame}\n{exc}") from None


def is_event(name: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    def pred(frame: dict[str, Any]) -> bool:
        if frame.get("type") != "event" or frame.get("event") != name:
            return False
        return all(frame.get(k) == v or frame.get("data", {}).get(k) == v for k, v in fields.items())

    return pred


@contextlib.contextmanager
def capture_logs() -> Iterator[io.StringIO]:
    """Everything every logger writes, at DEBUG, through Tipline's JSON formatter, set up as `tipline serve` does."""
    from tipline.logs import JsonFormatter, quiet_libraries

    quiet_libraries()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
