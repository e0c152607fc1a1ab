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

Uncompressed frames stay valid when permessage-deflate was negotiated (RFC 7692: a message
without RSV1 is not compressed), so the writer works whatever ``WS_COMPRESSION`` says.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

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


class WireProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, plus a ``Wire`` for the app in the scope."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        # No scope: the handshake was refused and the connection is already closing. The app
        # task was created above but has not run yet, so it finds the writer in place.
        if scope is not None and not self.close_sent:
            scope["extensions"][WIRE] = Wire(self)


def ws_protocol(ws_impl: str) -> str | type[asyncio.Protocol]:
    """What to give uvicorn as ``ws``: Tipline's protocol for the default implementation."""
    return WireProtocol if ws_impl == "websockets-sansio" else ws_impl
