"""The WebSocket part of the client, written to docs/protocol.md (``tipline.v1``).

``Realtime`` keeps one socket open for a person or a bot and makes the delivery contract easy to
rely on:

- **Authentication** with the subprotocol ``tipline.auth.<token>`` (or a first ``auth`` frame):
  the token never goes in the URL.
- **Sends with acks and an outbox.** Every send gets a ``client_msg_id`` and waits in the
  ``Outbox`` until its ``ack``. After a reconnect every unacknowledged send goes out again, in
  order, with the *same* id, so the server stores it once (a retry of a stored send answers the
  original ack with ``duplicate: true``). ``unavailable``, ``internal`` and ``rate_limited`` are
  retried; other refusals fail the send with ``TiplineError``.
- **Ordered delivery, no loss, no duplicates.** The client holds the last ``seq`` per
  conversation; an event at or below it is dropped (a duplicate), the next one is delivered, and
  one past a gap is kept back while the client ``resume``s from the last one it holds. After a
  reconnect, ``ready`` (and ``sync``) say where each conversation stands, and the client resumes
  where it is behind. A ``reload`` (too far behind to replay) is delivered as an event named
  ``reload``: fetch that conversation's window over HTTP.
- **Reconnects** with exponential backoff and jitter (0.5 s doubling to 30 s, half of each wait
  random); at once after 1012 (server restart); after ``retry_after`` for 4029. Close 4001 (token
  revoked, expired or refused) is final: ``wait_closed()`` raises ``ConnectionClosed``.
- **Events** as callbacks (``on("message.created", fn)``, ``on("*", fn)``) or as an async iterator
  (``async for event in rt.events()``), in seq order per conversation.
- **Heartbeats**: a ``ping`` every ``heartbeat_s`` from ``ready``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.exceptions import InvalidStatus

from tipline_client import models as m
from tipline_client.errors import ConnectionClosed, TiplineError
from tipline_client.http import new_client_msg_id

log = logging.getLogger("tipline_client")

PROTOCOL = "tipline.v1"
AUTH_PREFIX = "tipline.auth."
RETRYABLE = frozenset({"unavailable", "internal", "rate_limited"})
UNAUTHORIZED = 4001
RESTART = 1012
RATE_LIMITED = 4029


def ws_url_for(base_url: str) -> str:
    """The WebSocket endpoint of a server: ``https://chat.example.com`` → ``wss://chat.example.com/ws``."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + "/ws"
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + "/ws"
    raise ValueError("the server URL starts with https:// or http://")


@dataclass(frozen=True)
class Event:
    """A frame delivered to the application: a conversation ``event`` (``name`` is the event
    name, ``seq`` its seq or None), or an ephemeral ``typing`` / ``presence`` / ``read`` frame, or
    ``reload`` (the conversation must be reloaded over HTTP from ``data["last_seq"]``)."""

    name: str
    conversation_id: int | None
    seq: int | None
    data: dict[str, Any]

    @property
    def message(self) -> m.MessageOut:
        """The message of a ``message.created`` event, as the generated model."""
        return m.MessageOut.model_validate(self.data)

    @property
    def tip(self) -> m.TipEventData:
        """The tip of a ``tip.*`` event, as the generated model."""
        return m.TipEventData.model_validate(self.data)


Callback = Callable[[Event], Awaitable[None] | None]


@dataclass
class PendingSend:
    frame: dict[str, Any]
    future: asyncio.Future[m.Ack]
    sent_on: int = -1  # the connection it was last written on
    attempts: int = 0


class Outbox:
    """Sends not acknowledged yet, in the order they were made. It may outlive a ``Realtime``
    (hand it to the next one, for example with a new token) so nothing unacknowledged is lost."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, PendingSend] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[PendingSend]:
        return iter(list(self._items.values()))

    def add(self, item: PendingSend) -> PendingSend:
        existing = self._items.get(item.frame["client_msg_id"])
        if existing is not None:
            return existing  # the same id again: the same pending send
        self._items[item.frame["client_msg_id"]] = item
        return item

    def pop(self, client_msg_id: str) -> PendingSend | None:
        return self._items.pop(client_msg_id, None)

    def client_msg_ids(self) -> list[str]:
        return list(self._items)


@dataclass
class _Conversation:
    held: int
    waiting: dict[int, Event] = field(default_factory=dict)  # events past a gap, by seq
    resuming: bool = False


class Realtime:
    """One socket to a Tipline server for a person or a bot (see the module's docstring)."""

    def __init__(
        self,
        ws_url: str,
        token: str,
        *,
        held: Mapping[int, int] | None = None,
        outbox: Outbox | None = None,
        auth: str = "subprotocol",
        backoff: tuple[float, float] = (0.5, 30.0),
        open_timeout: float = 10.0,
    ) -> None:
        """``ws_url``: ``wss://host/ws``. ``held``: the last seq held per conversation, from an
        earlier run (conversations not in it start at their current ``last_seq``)."""
        if "?" in ws_url:
            raise ValueError("the WebSocket URL takes no query string (never put a token in a URL)")
        self.ws_url = ws_url
        self.token = token
        self.outbox = outbox or Outbox()
        self.auth = auth
        self.backoff = backoff
        self.open_timeout = open_timeout
        self.user_id: int | None = None
        self.connections = 0  # sockets that reached ``ready``
        self._convs: dict[int, _Conversation] = {cid: _Conversation(held=seq) for cid, seq in (held or {}).items()}
        self._callbacks: dict[str, list[Callback]] = {}
        self._queues: list[asyncio.Queue[Event | None]] = []
        # Callbacks run in a task of their own, so one may await a send (whose ack the reader
        # must read) without blocking the socket.
        self._dispatch: asyncio.Queue[Event | None] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._conn_id = 0
        self._online = asyncio.Event()
        self._ready_once: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._stopping = False
        self._refs = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # --- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and return once the first ``ready`` was handled (or raise why not)."""
        loop = asyncio.get_running_loop()
        self._ready_once = loop.create_future()
        self._closed = loop.create_future()
        self._dispatcher = asyncio.create_task(self._run_callbacks())
        self._task = asyncio.create_task(self._run())
        done, _ = await asyncio.wait({self._ready_once, self._closed}, return_when=asyncio.FIRST_COMPLETED)
        if self._closed in done:
            self._closed.result()

    async def close(self) -> None:
        """Close the socket and stop reconnecting. Unacknowledged sends stay in ``outbox``."""
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
        self._finish(None)
        if self._dispatcher is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._dispatcher, 5)

    async def __aenter__(self) -> Realtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_closed(self) -> None:
        """Until the client stops: returns after ``close()``, raises ``ConnectionClosed`` when the
        server closed for good (4001: the token was revoked, expired or refused)."""
        assert self._closed is not None, "start() first"
        await asyncio.shield(self._closed)

    @property
    def connected(self) -> bool:
        return self._online.is_set()

    def last_seq(self) -> dict[int, int]:
        """The last seq delivered per conversation: keep it to resume in a later run (``held``)."""
        return {cid: c.held for cid, c in self._convs.items()}

    async def drop_connection(self) -> None:
        """Close the current socket as a network failure would; the client reconnects and
        resumes (for tests and for moving to another node)."""
        if self._ws is not None:
            await self._ws.close(code=4000, reason="client reconnecting")

    # --- sending ------------------------------------------------------------------------------

    def send_nowait(
        self,
        conversation_id: int,
        body: str,
        *,
        client_msg_id: str | None = None,
        reply_to: int | None = None,
        attachment_ids: list[str] | None = None,
    ) -> asyncio.Future[m.Ack]:
        """Queue a send in the outbox (written now if connected, else after the next ``ready``);
        the future resolves with its ``ack``. An invalid send (say a ``client_msg_id`` over 64
        characters) raises ``pydantic.ValidationError`` here."""
        frame: dict[str, Any] = {
            "type": "send",
            "conversation_id": conversation_id,
            "client_msg_id": client_msg_id or new_client_msg_id(),
            "body": body,
        }
        if reply_to is not None:
            frame["reply_to"] = reply_to
        if attachment_ids:
            frame["attachment_ids"] = attachment_ids
        # Checked against the generated frame model first: a frame the server would refuse as
        # invalid (its error could not name the send) fails here, at once.
        m.SendFrame.model_validate(frame)
        item = self.outbox.add(PendingSend(frame, asyncio.get_running_loop().create_future()))
        if self._online.is_set() and item.sent_on != self._conn_id:
            self._spawn(self._write_send(item))
        return item.future

    async def send(
        self,
        conversation_id: int,
        body: str,
        *,
        client_msg_id: str | None = None,
        reply_to: int | None = None,
        attachment_ids: list[str] | None = None,
        ack_timeout: float | None = None,
    ) -> m.Ack:
        """Send a message and wait for its ``ack`` (through reconnects). Raises ``TiplineError``
        when the server refuses it, ``ConnectionClosed`` when the client stops first (the send
        stays in ``outbox``)."""
        future = self.send_nowait(
            conversation_id, body, client_msg_id=client_msg_id, reply_to=reply_to, attachment_ids=attachment_ids
        )
        assert self._closed is not None, "start() first"
        waiting: set[asyncio.Future[Any]] = {future, self._closed}
        done, _ = await asyncio.wait(waiting, timeout=ack_timeout, return_when=asyncio.FIRST_COMPLETED)
        if future in done:
            return future.result()
        if self._closed in done:
            self._closed.result()
            raise ConnectionClosed(None, "the client was closed")
        raise TimeoutError(f"no ack for {future_id(self, future)} within {ack_timeout} s")

    async def typing(self, conversation_id: int) -> None:
        await self._write({"type": "typing", "conversation_id": conversation_id})

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        await self._write({"type": "read", "conversation_id": conversation_id, "seq": seq})

    async def set_presence(self, status: str) -> None:
        await self._write({"type": "presence", "status": status})

    # --- receiving ----------------------------------------------------------------------------

    def on(self, name: str, callback: Callback) -> None:
        """Call ``callback(event)`` (a function or a coroutine function) for each event named
        ``name`` (``"*"``: every event), in order."""
        self._callbacks.setdefault(name, []).append(callback)

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the client stops."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._queues.remove(queue)

    # --- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        refused = 0
        while not self._stopping:
            wait = 0.0
            connections = self.connections
            try:
                await self._session()
                failures = 0
                wait = random.uniform(0, 0.25)
            except _Final as exc:
                self._finish(exc.error)
                return
            except _Retry as exc:
                wait = exc.after
                # A socket that closed before its ``ready`` counts as a failed attempt (backoff grows).
                failures = 0 if self.connections > connections else failures + 1
            except InvalidStatus as exc:
                status = exc.response.status_code
                refused = refused + 1 if status == 403 else 0
                if refused > 5:  # an origin that is not allowed, not a node shutting down
                    self._finish(ConnectionClosed(None, f"handshake refused ({status})"))
                    return
                failures += 1
            except (OSError, TimeoutError, WsClosed) as exc:
                log.debug("tipline socket failed: %s", type(exc).__name__)
                failures += 1
            if self._stopping:
                break
            if failures:
                base = min(self.backoff[1], self.backoff[0] * 2 ** (failures - 1))
                wait = max(wait, base / 2 + random.uniform(0, base / 2))
            await asyncio.sleep(wait)
        self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        self._online.clear()
        if self._closed is not None and not self._closed.done():
            if error is None:
                self._closed.set_result(None)
            else:
                self._closed.set_exception(error)
                self._closed.exception()  # retrieved: no "never retrieved" warning
        if self._ready_once is not None and not self._ready_once.done():
            self._ready_once.cancel()
        for queue in self._queues:
            queue.put_nowait(None)
        self._dispatch.put_nowait(None)

    async def _session(self) -> None:
        subprotocols = [PROTOCOL]
        if self.auth == "subprotocol":
            subprotocols.append(AUTH_PREFIX + self.token)
        async with websockets.connect(
            self.ws_url,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            open_timeout=self.open_timeout,
            max_size=None,
            max_queue=None,
        ) as ws:
            self._ws = ws
            self._conn_id += 1
            for conv in self._convs.values():
                conv.resuming = False  # a resume asked on the last socket died with it
            if self.auth != "subprotocol":
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
            heartbeat: asyncio.Task[None] | None = None
            try:
                async for raw in ws:
                    frame = json.loads(raw)
                    for one in frame["frames"] if frame.get("type") == "batch" else [frame]:
                        if one.get("type") == "ready":
                            heartbeat = heartbeat or asyncio.create_task(self._heartbeat(ws, one))
                        await self._handle(one)
            except WsClosed:
                pass  # its close code decides below
            finally:
                self._online.clear()
                self._ws = None
                if heartbeat is not None:
                    heartbeat.cancel()
            self._after_close(ws.close_code, ws.close_reason or "")

    def _after_close(self, code: int | None, reason: str) -> None:
        if self._stopping:
            return
        if code == UNAUTHORIZED:
            raise _Final(ConnectionClosed(code, reason))
        if code == RATE_LIMITED:
            raise _Retry(self._retry_after or 5.0)
        if code == RESTART:
            raise _Retry(random.uniform(0, 0.5))
        raise _Retry(self.backoff[0] / 2 + random.uniform(0, self.backoff[0] / 2))

    _retry_after: float | None = None

    async def _heartbeat(self, ws: ClientConnection, ready: dict[str, Any]) -> None:
        every = max(1.0, float(ready.get("heartbeat_s", 25.0)) * 0.8)
        with contextlib.suppress(WsClosed):
            while True:
                await asyncio.sleep(every)
                await ws.send(json.dumps({"type": "ping", "ref": f"hb-{next(self._refs)}"}))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise TiplineError(0, "not_connected", "the socket is reconnecting")
        await ws.send(json.dumps(frame))

    async def _write_send(self, item: PendingSend) -> None:
        ws = self._ws
        if ws is None or item.future.done():
            return
        item.sent_on = self._conn_id
        item.attempts += 1
        with contextlib.suppress(WsClosed):
            await ws.send(json.dumps(item.frame))

    # --- frames -------------------------------------------------------------------------------

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            await self._on_event(frame)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "error":
            await self._on_error(frame)
        elif kind in ("ready", "sync"):
            await self._on_positions(frame)
        elif kind == "resumed":
            conv = self._convs.get(frame["conversation_id"])
            if conv is not None:
                conv.resuming = False
                await self._after_resume(frame["conversation_id"], conv)
        elif kind == "reload":
            await self._on_reload(frame)
        elif kind in ("typing", "presence", "read"):
            await self._deliver(Event(kind, frame.get("conversation_id"), None, frame))

    async def _on_positions(self, frame: dict[str, Any]) -> None:
        """``ready`` and ``sync``: resume each conversation where we are behind."""
        if frame["type"] == "ready":
            self.user_id = frame["user_id"]
            self.connections += 1
        behind: dict[str, int] = {}
        for c in frame["conversations"]:
            cid, last = int(c["id"]), int(c["last_seq"])
            conv = self._convs.get(cid)
            if conv is None:
                self._convs[cid] = _Conversation(held=last)  # new to us: from now on
            elif last > conv.held and not conv.resuming:
                conv.resuming = True
                behind[str(cid)] = conv.held
        if behind:
            await self._write({"type": "resume", "since": behind, "ref": f"r{next(self._refs)}"})
        if frame["type"] == "ready":
            await self._flush_outbox()
            if self._ready_once is not None and not self._ready_once.done():
                self._ready_once.set_result(None)

    async def _flush_outbox(self) -> None:
        """Every unacknowledged send, in order, with its own id; then new sends go out at once."""
        conn = self._conn_id
        while todo := [item for item in self.outbox if item.sent_on != conn and not item.future.done()]:
            for item in todo:
                await self._write_send(item)
            if self._conn_id != conn:
                return
        self._online.set()

    async def _on_event(self, frame: dict[str, Any]) -> None:
        cid, seq = frame["conversation_id"], frame.get("seq")
        event = Event(frame["event"], cid, seq, frame.get("data") or {})
        if seq is None:
            if event.name == "conversation.joined":
                self._convs[cid] = _Conversation(held=int(event.data.get("last_seq", 0)))
            await self._deliver(event)
            return
        conv = self._convs.setdefault(cid, _Conversation(held=seq - 1))
        if seq <= conv.held:
            return  # a duplicate (a replay overlapping live events)
        if seq == conv.held + 1:
            conv.held = seq
            await self._deliver(event)
            await self._drain(cid, conv)
            return
        conv.waiting[seq] = event  # past a gap: keep it and ask for what is missing
        if not conv.resuming:
            conv.resuming = True
            await self._write({"type": "resume", "since": {str(cid): conv.held}, "ref": f"r{next(self._refs)}"})

    async def _drain(self, cid: int, conv: _Conversation) -> None:
        while (nxt := conv.waiting.pop(conv.held + 1, None)) is not None:
            conv.held += 1
            await self._deliver(nxt)
        for s in [s for s in conv.waiting if s <= conv.held]:
            del conv.waiting[s]

    async def _after_resume(self, cid: int, conv: _Conversation) -> None:
        await self._drain(cid, conv)
        if conv.waiting and not conv.resuming:  # still a gap: ask again
            conv.resuming = True
            await self._write({"type": "resume", "since": {str(cid): conv.held}, "ref": f"r{next(self._refs)}"})

    async def _on_reload(self, frame: dict[str, Any]) -> None:
        cid = frame["conversation_id"]
        conv = self._convs.setdefault(cid, _Conversation(held=0))
        conv.held = max(conv.held, int(frame["last_seq"]))
        conv.resuming = False
        await self._deliver(Event("reload", cid, None, {"last_seq": frame["last_seq"]}))
        await self._drain(cid, conv)

    def _on_ack(self, frame: dict[str, Any]) -> None:
        item = self.outbox.pop(frame["client_msg_id"])
        if item is not None and not item.future.done():
            item.future.set_result(m.Ack.model_validate(frame))

    async def _on_error(self, frame: dict[str, Any]) -> None:
        code = frame.get("code", "")
        cmid = frame.get("client_msg_id")
        if cmid is not None:
            await self._send_failed(cmid, frame)
        elif frame.get("conversation_id") is not None and (frame.get("ref") or "").startswith("r"):
            cid = frame["conversation_id"]
            if code in ("not_found", "not_a_member"):
                self._convs.pop(cid, None)  # no longer ours
            elif (conv := self._convs.get(cid)) is not None:
                conv.resuming = False
        elif code == "rate_limited":
            self._retry_after = float(frame.get("retry_after") or 5.0)
        else:
            log.debug("tipline error frame: %s", code)

    async def _send_failed(self, cmid: str, frame: dict[str, Any]) -> None:
        code = frame.get("code", "")
        if code in RETRYABLE:
            item = next((i for i in self.outbox if i.frame["client_msg_id"] == cmid), None)
            if item is not None:
                delay = float(frame.get("retry_after") or min(5.0, 0.2 * 2**item.attempts))
                log.warning("send %s refused for now (%s); retrying in %.1f s", cmid, code, delay)
                asyncio.get_running_loop().call_later(delay, self._retry, item)
            return
        item = self.outbox.pop(cmid)
        if item is not None and not item.future.done():
            item.future.set_exception(TiplineError.from_frame(frame))
            item.future.exception()

    def _retry(self, item: PendingSend) -> None:
        if self._online.is_set() and not item.future.done():
            self._spawn(self._write_send(item))
        # Offline: the next ``ready`` flushes the outbox.

    async def _deliver(self, event: Event) -> None:
        self._dispatch.put_nowait(event)
        for queue in self._queues:
            queue.put_nowait(event)

    async def _run_callbacks(self) -> None:
        while (event := await self._dispatch.get()) is not None:
            for callback in [*self._callbacks.get(event.name, []), *self._callbacks.get("*", [])]:
                try:
                    result = callback(event)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("tipline event callback failed (%s)", event.name)


def future_id(rt: Realtime, future: asyncio.Future[m.Ack]) -> str:
    return next((i.frame["client_msg_id"] for i in rt.outbox if i.future is future), "a send")


class _Final(Exception):
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Retry(Exception):
    def __init__(self, after: float) -> None:
        self.after = after
