"""This node's sockets: who is connected, what each must receive, and the local fan-out.

The hub subscribes the node to a bus topic while at least one local socket needs it and
hands each bus message to every local socket on that topic. Each event arrives already
encoded; the hub never parses or re-encodes an ``E`` payload. A socket has a bounded
queue: when it overflows (a client that stopped reading) the socket is closed with 4008
and its client resumes like any reconnect (docs/subsystems/messages.md, delivery contract §5).

Writes are coalesced: events queued for one socket in one loop turn go out as a single
``batch`` frame, so a busy socket costs one write per loop turn, not one per event. Sockets
sent the same events in a turn (every member of a group, after a group commit) share one
encoded frame, written straight to each transport (gateway/wire.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import orjson

from tipline.bus.base import Bus, topic_conversation, topic_user
from tipline.bus.envelope import CONTROL, EVENT, SENDER, decode_control
from tipline.domain.messages.schemas import masked
from tipline.gateway.wire import text_frame
from tipline.metrics import WS_CLOSES
from tipline.protocol import Close, encode_bytes

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 5.0
# Bus messages kept while sockets are re-checked after an outage (a few ms of traffic).
HOLD_MAX = 100_000
# A coalesced write stays a reasonable WebSocket message for any client.
BATCH_MAX_FRAMES = 200
BATCH_MAX_BYTES = 64 * 1024
BATCH_HEAD = b'{"type":"batch","frames":['
BATCH_TAIL = b"]}"
# The blocked-senders set of a socket whose user blocked nobody (most): one object for them all.
NOBODY: frozenset[int] = frozenset()

SendText = Callable[[str], Coroutine[Any, Any, None]]
CloseSocket = Callable[[int, str], Awaitable[None]]


class WireLike(Protocol):
    """Direct frame writes to one socket (gateway.wire.Wire)."""

    def writable(self) -> bool | None: ...

    def write(self, frame: bytes) -> None: ...

    async def wait_writable(self) -> None: ...


def _masked_frame(frame_json: bytes) -> bytes:
    """An event frame as a blocker of its sender gets it (``schemas.masked`` on its data)."""
    frame = orjson.loads(frame_json)
    frame["data"] = masked(frame.get("data") or {})
    return orjson.dumps(frame)


def _payload(items: list[bytes]) -> bytes:
    if len(items) == 1:
        return items[0]
    return BATCH_HEAD + b",".join(items) + BATCH_TAIL


class Framed:
    """The frames built during one flush, shared by every socket written the same events.

    The hub hands one ``bytes`` object per event to every socket on the topic, so sockets
    that queued the same events hold the same objects: the identities of a queue's items
    name its frame. The items behind each key are kept alive until the flush ends, so no
    new object can take one of those identities meanwhile.
    """

    __slots__ = ("_by_key", "_keep")

    def __init__(self) -> None:
        self._by_key: dict[object, bytes] = {}
        self._keep: list[list[bytes]] = []

    def frame(self, items: list[bytes]) -> bytes:
        key: object = id(items[0]) if len(items) == 1 else tuple(map(id, items))
        frame = self._by_key.get(key)
        if frame is None:
            frame = self._by_key[key] = text_frame(_payload(items))
            self._keep.append(items)
        return frame


class Flusher:
    """Writes every connection that has queued frames, once per event-loop turn.

    Events that arrive in one loop turn (a group commit publishes many at once) go out as one
    write per socket. The write is made synchronously when the socket can take it, which is
    almost always: no task per socket per event. Only a socket whose transport is paused
    (a client not reading) gets a task that waits for it.
    """

    __slots__ = ("_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Connection] = []
        self._scheduled = False

    def mark(self, conn: Connection) -> None:
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        framed = Framed()
        for conn in dirty:
            conn.dirty = False
            conn.write_now(framed)


class Connection:
    __slots__ = (
        "close_code",
        "closer",
        "conversations",
        "dirty",
        "endpoint_task",
        "flusher",
        "hidden",
        "id",
        "last_seen",
        "max_queue",
        "queue",
        "queued_bytes",
        "ready",
        "send_text",
        "sending",
        "session_id",
        "status",
        "task",
        "user_id",
        "wire",
    )

    def __init__(
        self,
        *,
        user_id: int,
        session_id: uuid.UUID,
        send_text: SendText,
        closer: CloseSocket,
        max_queue: int,
        flusher: Flusher,
        wire: WireLike | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.user_id = user_id
        self.session_id = session_id
        # Frames go straight to the transport through ``wire`` when the server offers it;
        # otherwise through ASGI with ``send_text``.
        self.send_text = send_text
        self.wire = wire
        self.closer = closer
        self.max_queue = max_queue
        self.flusher = flusher
        self.conversations: set[int] = set()
        # Senders this user blocked: their words are left out of what this socket receives.
        self.hidden: frozenset[int] = NOBODY
        self.queue: list[bytes] = []
        self.queued_bytes = 0
        self.task: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.last_seen = time.monotonic()
        self.status = "online"
        self.endpoint_task: asyncio.Task[Any] | None = None
        # Frames queued before the `ready` frame wait for it, so `ready` is always first.
        self.ready = False
        self.dirty = False
        # True only while a write is suspended: the transport is paused because the client
        # is not reading. A write that completes at once never leaves this True.
        self.sending = False

    def start(self, ready_frame: str) -> None:
        """Send ``ready`` first, then whatever was queued while the socket was being set up."""
        data = ready_frame.encode()
        self.queue.insert(0, data)
        self.queued_bytes += len(data)
        self.ready = True
        self._schedule()

    def push(self, frame: bytes | str) -> None:
        """Queue one encoded frame (UTF-8 JSON); it is written at the end of this loop turn."""
        if self.close_code is not None:
            return
        data = frame.encode() if isinstance(frame, str) else frame
        queue = self.queue
        queue.append(data)
        self.queued_bytes += len(data)
        # A group commit may queue hundreds of events at once for a healthy socket; only a
        # backlog that builds while a write is stuck means the client stopped reading.
        if (self.sending and len(queue) > self.max_queue) or len(queue) > 16 * self.max_queue:
            self.close(Close.SLOW_CONSUMER, "slow consumer: the client is not reading fast enough")
            return
        self._schedule()

    def _schedule(self) -> None:
        if not self.dirty and self.task is None and self.ready:
            self.dirty = True
            self.flusher.mark(self)

    def write_now(self, framed: Framed | None = None) -> None:
        """Write the queue synchronously; if the socket makes us wait, finish in a task."""
        if self.task is not None or self.close_code is not None or not self.ready:
            return
        wire = self.wire
        if wire is None:
            self._send_now()
            return
        if framed is None:
            framed = Framed()
        while self.queue:
            state = wire.writable()
            if state is None:
                # The socket went away; its endpoint loop notices and unregisters it.
                self._failed(ConnectionError("socket closed"))
                return
            if not state:
                self.sending = True
                self.task = asyncio.get_running_loop().create_task(self._resume(wire))
                return
            wire.write(framed.frame(self._take()))

    async def _resume(self, wire: WireLike) -> None:
        try:
            await wire.wait_writable()
        finally:
            self.sending = False
            self.task = None
        self.write_now()

    # --- the ASGI path, for servers without a wire ---------------------------------------------

    def _send_now(self) -> None:
        while self.queue:
            # Drive the write coroutine by hand: on a writable socket it completes without
            # ever suspending, which spares a task per socket per delivery.
            coro = self.send_text(_payload(self._take()).decode())
            try:
                waiting_on = coro.send(None)
            except StopIteration:
                continue
            except Exception as exc:
                self._failed(exc)
                return
            self.sending = True
            self.task = asyncio.get_running_loop().create_task(self._finish(coro, waiting_on))
            return

    async def _finish(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        try:
            while True:
                try:
                    if waiting_on is None:
                        await asyncio.sleep(0)
                    else:
                        # Do what a Task does with a yielded future: clear its "blocking" mark,
                        # wait for it, then resume the write, which reads the outcome itself.
                        waiting_on._asyncio_future_blocking = False
                        await waiting_on
                except asyncio.CancelledError:
                    coro.close()
                    raise
                except Exception:  # noqa: S110  (the write coroutine sees the same failure below)
                    pass
                try:
                    waiting_on = coro.send(None)
                except StopIteration:
                    break
            while self.queue and self.close_code is None:
                await self.send_text(_payload(self._take()).decode())
            self.sending = False
        except Exception as exc:
            self._failed(exc)
        finally:
            self.sending = False
            self.task = None

    def _failed(self, exc: BaseException) -> None:
        # The socket went away; its endpoint loop notices the disconnect and unregisters it.
        log.debug("write failed: %r", exc)
        self.queue.clear()
        self.queued_bytes = 0

    def _take(self) -> list[bytes]:
        """The queued frames for one write: all of them, unless that would make a huge frame."""
        queue = self.queue
        if len(queue) <= BATCH_MAX_FRAMES and self.queued_bytes <= BATCH_MAX_BYTES:
            self.queue = []
            self.queued_bytes = 0
            return queue
        size = 0
        n = 0
        for data in queue:
            if n and (n >= BATCH_MAX_FRAMES or size + len(data) > BATCH_MAX_BYTES):
                break
            size += len(data)
            n += 1
        items = queue[:n]
        del queue[:n]
        self.queued_bytes -= size
        return items

    def close(self, code: int, reason: str) -> None:
        if self.close_code is not None:
            return
        self.close_code = code
        WS_CLOSES.labels(str(code)).inc()
        self.queue.clear()
        self.queued_bytes = 0
        if self.task is not None:
            self.task.cancel()
            self.task = None
        asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            # A client that stopped reading cannot take even a close frame: give it a few
            # seconds, then end the endpoint so the server drops the connection.
            await asyncio.wait_for(self.closer(code, reason), timeout=CLOSE_TIMEOUT_S)
        except Exception:
            if self.endpoint_task is not None and not self.endpoint_task.done():
                self.endpoint_task.cancel()


class Hub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.topics: dict[str, set[Connection]] = {}
        self.users: dict[int, set[Connection]] = {}
        self.flusher = Flusher()
        self.delivered = 0
        # While the sockets are re-checked after a bus outage: what arrived, delivered after.
        self._held: list[tuple[str, bytes]] | None = None
        self.held_dropped = 0
        # During a socket re-check: users whose memberships, sessions or blocks a control changed
        # meanwhile (the re-check must not undo what a newer control did).
        self.touched: set[int] | None = None
        # Called on the ``recheck`` control (docs/subsystems/messages.md, "Sockets re-checked").
        # (with the asking node's id).
        self.on_recheck: Callable[[str | None], None] | None = None

    # --- registration ------------------------------------------------------------------------

    def register(self, conn: Connection, conversation_ids: list[int]) -> None:
        conns = self.users.get(conn.user_id)
        if conns is None:
            # The user's topic reaches exactly the user's sockets: one set serves both maps.
            conns = self.users[conn.user_id] = self.topics[topic_user(conn.user_id)] = set()
            self.bus.subscribe(topic_user(conn.user_id))
        conns.add(conn)
        for cid in conversation_ids:
            self.add_conversation(conn, cid)

    def unregister(self, conn: Connection) -> None:
        for cid in list(conn.conversations):
            self.remove_conversation(conn, cid)
        conns = self.users.get(conn.user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.users[conn.user_id]
                del self.topics[topic_user(conn.user_id)]
                self.bus.unsubscribe(topic_user(conn.user_id))

    def add_conversation(self, conn: Connection, conversation_id: int) -> None:
        conn.conversations.add(conversation_id)
        self._join(conn, topic_conversation(conversation_id))

    def remove_conversation(self, conn: Connection, conversation_id: int) -> None:
        conn.conversations.discard(conversation_id)
        self._leave(conn, topic_conversation(conversation_id))

    def _join(self, conn: Connection, topic: str) -> None:
        conns = self.topics.get(topic)
        if conns is None:
            conns = self.topics[topic] = set()
            self.bus.subscribe(topic)
        conns.add(conn)

    def _leave(self, conn: Connection, topic: str) -> None:
        conns = self.topics.get(topic)
        if conns is None:
            return
        conns.discard(conn)
        if not conns:
            del self.topics[topic]
            self.bus.unsubscribe(topic)

    def connections_of(self, user_id: int) -> set[Connection]:
        return self.users.get(user_id, set())

    # --- delivery ----------------------------------------------------------------------------

    def hold(self) -> None:
        """Keep what the bus delivers from now on until ``release`` (sockets being re-checked)."""
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Deliver what was held, in arrival order, to the sockets as they are now."""
        held, self._held = self._held, None
        for topic, payload in held or ():
            self.handle(topic, payload)

    def handle(self, topic: str, payload: bytes) -> None:
        """The bus handler: one call per message per node."""
        held = self._held
        if held is not None:
            if len(held) < HOLD_MAX:
                held.append((topic, payload))
            else:
                # Too many to keep: dropped, and the `sync` after the re-check repairs the gap.
                self.held_dropped += 1
            return
        kind = payload[0]
        if kind == EVENT:
            conns = self.topics.get(topic)
            if conns:
                data = payload[1:]
                for conn in conns:
                    conn.push(data)
                self.delivered += len(conns)
        elif kind == SENDER:
            conns = self.topics.get(topic)
            if conns:
                sender = int.from_bytes(payload[1:9], "big")
                body = payload[9:]
                hidden: bytes | None = None
                for conn in conns:
                    if sender in conn.hidden:
                        hidden = hidden or _masked_frame(body)
                        conn.push(hidden)
                    else:
                        conn.push(body)
                self.delivered += len(conns)
        elif kind == CONTROL:
            self._control(topic, payload)

    def _control(self, topic: str, payload: bytes) -> None:
        control = decode_control(payload)
        op = control.get("op")
        if op == "recheck":
            if self.on_recheck is not None:
                self.on_recheck(control.get("node_id"))
            return
        if self.touched is not None and "user_id" in control:
            self.touched.add(control["user_id"])
        if op == "subscribe":
            cid = control["conversation_id"]
            frame = encode_bytes(control["frame"]) if "frame" in control else None
            for conn in list(self.connections_of(control["user_id"])):
                self.add_conversation(conn, cid)
                if frame is not None:
                    conn.push(frame)
        elif op == "unsubscribe":
            cid = control["conversation_id"]
            conns = self.topics.get(topic, set())
            if "frame" in control:
                data = encode_bytes(control["frame"])
                for conn in conns:
                    conn.push(data)
            for conn in [c for c in conns if c.user_id == control["user_id"]]:
                self.remove_conversation(conn, cid)
        elif op == "revoke_session":
            sid = control["session_id"]
            for conn in list(self.connections_of(control["user_id"])):
                if str(conn.session_id) == sid:
                    conn.close(Close.UNAUTHORIZED, "session ended")
        elif op == "revoke_user":
            reason = "account deactivated" if control.get("reason") == "account_deactivated" else "session ended"
            for conn in list(self.connections_of(control["user_id"])):
                conn.close(Close.UNAUTHORIZED, reason)
        elif op in ("hide_sender", "unhide_sender"):
            target = control["target_id"]
            for conn in self.connections_of(control["user_id"]):
                conn.hidden = conn.hidden | {target} if op == "hide_sender" else conn.hidden - {target}

    # --- presence and typing (ephemeral, never stored) ---------------------------------------------

    def local_status(self, user_id: int) -> str | None:
        """The user's presence as this node sees it; None when they have no socket here."""
        conns = self.users.get(user_id)
        if not conns:
            return None
        return "online" if any(c.status == "online" for c in conns) else "away"

    def all_connections(self) -> list[Connection]:
        return [c for conns in self.users.values() for c in conns]

    def sweep_idle(self, idle_timeout_s: float) -> int:
        cutoff = time.monotonic() - idle_timeout_s
        stale = [c for c in self.all_connections() if c.last_seen < cutoff]
        for conn in stale:
            conn.close(Close.IDLE, "idle timeout: no frame received")
        return len(stale)
