"""The fan-out's write path: encoded WebSocket frames written straight to a socket's transport.

A group message goes to every member's socket as the same bytes. Through ASGI each of those
writes costs a message dict, a call into the server, a frame object built by the WebSocket
library and a copy of the payload, once per socket. Here the hub frames the payload once
(a server-to-client text frame is a header and the UTF-8 bytes: no mask, no compression)
and writes that one ``bytes`` object to each socket's transport.

uvicorn's ``websockets-sansio`` protocol is subclassed to hand the app this writer in the
ASGI scope's ``extensions`` (key ``tipline.wire``). Everything else (handshake, reading,
pings, close) stays the server's. The writer and ASGI ``send`` write to the same transport
synchronously, so frames keep the order they were written in; after the close frame has been
sent the writer reports the socket closed. With another ``WS_IMPL`` there is no writer and
the hub sends through ASGI as before.

The same subclass keeps an idle socket small (bench/memory measures it): uvicorn's attributes
and websockets' protocol state in slots, a lean inbox and write flag in place of an
``asyncio.Queue`` and ``asyncio.Event``, and nothing of the handshake kept once it is answered.

Uncompressed frames stay valid when permessage-deflate was negotiated (RFC 7692: a message
without RSV1 is not compressed), so the writer works whatever ``WS_COMPRESSION`` says.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.server import ServerProtocol

WIRE = "tipline.wire"

_U16 = struct.Struct("!BBH")
_U64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame (RFC 6455 §5.2) carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return _U16.pack(0x81, 126, n) + payload
    return _U64.pack(0x81, 127, n) + payload


class Wire:
    """Direct writes to one accepted WebSocket (see the module docstring)."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WireProtocol) -> None:
        self._protocol = protocol

    def writable(self) -> bool | None:
        """True: a write goes out now. False: the client is not reading and the transport's
        buffer is over its high-water mark; wait. None: the socket is closing or gone."""
        p = self._protocol
        if p.close_sent or p.disconnected or p.transport.is_closing():
            return None
        return p.writable.is_set()

    def write(self, frame: bytes) -> None:
        """Write one or more encoded frames (call only when ``writable()`` is True)."""
        self._protocol.transport.write(frame)

    async def wait_writable(self) -> None:
        # The server sets this event on resume_writing and on connection loss.
        await self._protocol.writable.wait()


class Inbox:
    """What uvicorn's protocol uses of its ``asyncio.Queue`` (``put_nowait``, ``empty``), for its
    one reader (``WireProtocol.receive``).

    An ``asyncio.Queue`` holds three deques and an ``Event`` with a fourth, about 3 KiB per
    socket for a queue that is empty nearly all the time. Here the items list exists only while
    something is queued, and the reader waits on a bare future.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items or ())

    def get_nowait(self) -> Any:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    def wait(self) -> asyncio.Future[None]:
        """A future done once something is queued (awaited directly: no coroutine frame)."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter


class Flag:
    """``asyncio.Event`` as uvicorn and ``Wire`` use it (``set``, ``clear``, ``is_set``, ``wait``),
    without the deque every ``Event`` allocates: waiters are listed only while there are some
    (a client that is not reading)."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            for fut in self._waiters or ():
                if not fut.done():
                    fut.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(fut)
        try:
            await fut
            return True
        finally:
            waiters.remove(fut)
            if not waiters and self._waiters is waiters:
                self._waiters = None


class LeanServerProtocol(ServerProtocol):
    """websockets' sans-I/O server protocol with its attributes (websockets 17) in slots: no
    dict per socket. ``state`` is a property that stores ``_state``; it stays a property."""

    __slots__ = (
        "_state",
        "accept_called",
        "available_extensions",
        "available_subprotocols",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "current_size",
        "debug",
        "eof_sent",
        "events",
        "expect_continuation_frame",
        "extensions",
        "handshake_exc",
        "id",
        "logger",
        "max_fragment_size",
        "max_message_size",
        "origin",
        "origins",
        "parser",
        "parser_exc",
        "reader",
        "side",
        "subprotocol",
        "writes",
    )


class WireProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, plus a ``Wire`` for the app in the scope, made
    lean for sockets that sit idle for hours (bench/memory measures it): slots for uvicorn's
    attributes (no per-instance dict), a small ``Inbox`` and ``Flag`` in place of its
    ``asyncio.Queue`` and ``Event``, and the handshake's request and response dropped once the
    socket is accepted."""

    # Every attribute uvicorn's protocol sets on itself (uvicorn 0.54), kept in slots rather
    # than in a per-socket dict. One it adds in a later version goes into a dict as before.
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()
        made = self.conn
        # The protocol uvicorn just made, with the same settings, as the slotted subclass.
        self.conn = LeanServerProtocol(
            extensions=made.available_extensions, max_size=self.config.ws_max_size, logger=made.logger
        )

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        # No scope: the handshake was refused and the connection is already closing. The app
        # task was created above but has not run yet, so it finds the writer in place.
        if scope is not None and not self.close_sent:
            scope["extensions"][WIRE] = Wire(self)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # Read only until the handshake's answer is written (accept or refusal). websockets'
            # parser keeps the request in its generator's frame for the connection's life, so
            # its headers are emptied too.
            request = getattr(self, "request", None)
            if request is not None:
                request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    async def receive(self) -> Any:
        # uvicorn's receive, on the Inbox: an idle socket waits on one future, not on a chain
        # of coroutines (Queue.get) holding their frames.
        inbox = self.queue
        assert isinstance(inbox, Inbox)
        while inbox.empty():
            await inbox.wait()
        message = inbox.get_nowait()
        if self.read_paused and inbox.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message


def ws_protocol(ws_impl: str) -> str | type[asyncio.Protocol]:
    """What to give uvicorn as ``ws``: Tipline's protocol for the default implementation."""
    return WireProtocol if ws_impl == "websockets-sansio" else ws_impl
