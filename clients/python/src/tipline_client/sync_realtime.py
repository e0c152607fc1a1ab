"""A blocking façade over ``Realtime`` for scripts without asyncio: the socket runs on an event
loop in a thread of its own; ``send`` blocks until the ack, ``events`` yields events in order."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, TypeVar

from tipline_client import models as m
from tipline_client.realtime import Event, Outbox, Realtime

T = TypeVar("T")


class SyncRealtime:
    """The same socket, acks, outbox, resume and reconnects as ``Realtime``, blocking."""

    def __init__(
        self,
        ws_url: str,
        token: str,
        *,
        held: Mapping[int, int] | None = None,
        outbox: Outbox | None = None,
        auth: str = "subprotocol",
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tipline-realtime", daemon=True)
        self._thread.start()
        self._events: queue.Queue[Event | None] = queue.Queue()

        async def make() -> Realtime:
            return Realtime(ws_url, token, held=held, outbox=outbox, auth=auth, backoff=backoff)

        self.realtime = self._run(make())
        self.realtime.on("*", self._events.put)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> None:
        self._run(self.realtime.start())

    def __enter__(self) -> SyncRealtime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket, end ``events()`` and stop the thread."""
        try:
            self._run(self.realtime.close(), timeout=15)
        finally:
            self._events.put(None)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    @property
    def user_id(self) -> int | None:
        return self.realtime.user_id

    def last_seq(self) -> dict[int, int]:
        return self.realtime.last_seq()

    def send(
        self,
        conversation_id: int,
        body: str,
        *,
        client_msg_id: str | None = None,
        reply_to: int | None = None,
        ack_timeout: float | None = 30.0,
    ) -> m.Ack:
        """Send and block until the ``ack`` (through reconnects), at most ``ack_timeout`` seconds."""
        return self._run(
            self.realtime.send(
                conversation_id, body, client_msg_id=client_msg_id, reply_to=reply_to, ack_timeout=ack_timeout
            )
        )

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events in order until the client closes, or until none came for ``timeout`` seconds."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if event is None:
                return
            yield event
