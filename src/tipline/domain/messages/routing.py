"""Send routing: with many nodes, each busy conversation's sends are committed by one node, its owner.

What callers may rely on: ``SendRouter.submit`` queues a send synchronously and returns the
future of its ack or error, exactly as ``SendBatcher.submit`` does; any node may still commit
any send (the conversation row lock keeps seqs gap-free, ``client_msg_id`` makes a second
commit a duplicate), so routing is an optimisation and never loses or reorders a sender's sends:

* a forward names the sender's previous unanswered send (``SendRequest.after``) and the owner
  stores it only after that one; otherwise it answers ``out_of_order`` and the origin commits
  the send itself, behind its predecessor (a forward lost in a Redis outage, or a predecessor
  committing here after a fallback, can never let a later send overtake it);
* a forward that falls back (owner gone, stopping, out of order, or silent past
  ``send_forward_timeout_s``) takes every earlier waiting forward of its conversation with it.

The owner choice (rendezvous hashing over the live nodes in Redis), the busy threshold and the
failover rules: docs/subsystems/messages.md, "Send routing (many nodes)".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import orjson

from tipline.backends.nodes import Nodes
from tipline.bus.base import topic_node
from tipline.domain.messages.batcher import SendBatcher
from tipline.domain.messages.schemas import Ack, SendRequest
from tipline.domain.messages.send_rules import OUT_OF_ORDER
from tipline.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from tipline.metrics import SENDS_ROUTED
from tipline.runtime import Runtime

log = logging.getLogger(__name__)

FORWARD = b"F"
REPLY = b"R"
# The owner's answer when it is stopping: the origin commits the send itself at once.
NOT_OWNER = "not_owner"
EXPIRE_EVERY_S = 0.25
OWNERS_MEMO_MAX = 100_000

_ERRORS: dict[int, type[DomainError]] = {
    cls.status: cls for cls in (Invalid, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, Unavailable)
}


def owner_of(conversation_id: int, nodes: Sequence[str]) -> str | None:
    """The node that commits this conversation's sends: rendezvous hashing over ``nodes``."""
    best: str | None = None
    best_score = b""
    for node in nodes:
        score = hashlib.blake2b(f"{node}/{conversation_id}".encode(), digest_size=8).digest()
        if score > best_score:
            best, best_score = node, score
    return best


def error_dict(exc: DomainError) -> dict[str, Any]:
    out: dict[str, Any] = {"status": exc.status, "code": exc.code, "message": exc.message}
    if isinstance(exc, RateLimited):
        out["retry_after"] = exc.retry_after
    return out


def error_from_dict(data: dict[str, Any]) -> DomainError:
    """The error the owner's batcher raised, as the same class, code and message here."""
    if data["status"] == RateLimited.status:
        return RateLimited(data["message"], retry_after=float(data.get("retry_after", 1.0)))
    cls = _ERRORS.get(data["status"], DomainError)
    exc = cls(data["message"], code=data["code"])
    exc.status = data["status"]
    return exc


@dataclass(slots=True)
class _Forwarded:
    future: asyncio.Future[Ack]
    send: SendRequest
    owner: str
    deadline: float


class SendRouter:
    def __init__(self, rt: Runtime, batcher: SendBatcher, nodes: Nodes | None) -> None:
        self._rt = rt
        self._batcher = batcher
        self._nodes = nodes
        self.live: tuple[str, ...] = ()
        self._owners: dict[int, str | None] = {}
        # Forwards waiting for their owner's answer, oldest first (so deadlines are in order).
        self._waiting: dict[int, _Forwarded] = {}
        # Per conversation: the node its unanswered sends went to (this one or an owner), how many.
        self._inflight: dict[int, tuple[str, int]] = {}
        # Sends taken per conversation in this second and the one before (busy or quiet).
        self._sends_now: dict[int, int] = {}
        self._sends_before: dict[int, int] = {}
        self._next_id = 0
        # Messages to publish, by (kind, node), in the order they were queued.
        self._outbox: dict[tuple[bytes, str], list[dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self._publishing = False
        self._left = False
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeat_task: asyncio.Task[None] | None = None
        # Per (sender, conversation): the sender's latest send from this node not answered yet.
        self._unanswered: dict[tuple[int, int], tuple[str, asyncio.Future[Ack]]] = {}

    @property
    def active(self) -> bool:
        return self._nodes is not None

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._nodes is None:
            return
        self._rt.bus.subscribe(topic_node(self._rt.node_id))
        await self._rt.bus.settle()
        await self._beat()
        loop = asyncio.get_running_loop()
        self._heartbeat_task = loop.create_task(self._heartbeat(), name="send-router-heartbeat")
        self._tasks = [
            self._heartbeat_task,
            loop.create_task(self._pump(), name="send-router-pump"),
            loop.create_task(self._expire(), name="send-router-expire"),
        ]

    async def leave(self) -> None:
        """Stop owning conversations (shutdown): leave the registry; other nodes notice at their next beat."""
        if self._nodes is None or self._left:
            return
        self._left = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        self._set_live([n for n in self.live if n != self._rt.node_id])
        try:
            await self._nodes.leave(self._rt.node_id)
        except Exception as exc:  # any failure: the entry expires by itself
            log.warning("could not leave the node registry (%s); the entry expires by itself", exc)

    async def drain(self) -> None:
        """Return once every send this node accepted has its answer and every answer has gone out."""
        while True:
            await self._batcher.drain()
            if not self._waiting and not self._outbox and not self._publishing:
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._nodes is None:
            return
        await self.leave()
        # Whatever still waits for an owner is committed here (the batcher stops after this).
        while self._waiting:
            self._fall_back(next(reversed(self._waiting)))
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._nodes.close()

    # --- sending ----------------------------------------------------------------------------

    def submit(self, request: SendRequest) -> asyncio.Future[Ack]:
        """Queue a send on its conversation's owner (synchronously, so a client's sends keep their order)."""
        if self._nodes is None:
            return self._batcher.submit(request)
        cid = request.conversation_id
        busy = self._count(cid)
        inflight = self._inflight.get(cid)
        # Where this conversation's earlier sends still wait, the next one follows them.
        owner = inflight[0] if inflight is not None else self._target(cid, busy=busy)
        self._inflight[cid] = (owner, inflight[1] + 1 if inflight else 1)
        if owner == self._rt.node_id:
            local = self._batcher.submit(request)
            local.add_done_callback(partial(self._landed, cid))
            self._remember(request, local)
            return local
        # Committed elsewhere, the send names its predecessor: the owner stores it only after that
        # one (it may have been lost on the way, or be committing here after a fallback).
        previous = self._unanswered.get((request.user_id, cid))
        if previous is not None and not previous[1].done():
            request = replace(request, after=previous[0])
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._remember(request, future)
        rid = self._next_id
        self._next_id += 1
        deadline = time.monotonic() + self._rt.settings.send_forward_timeout_s
        self._waiting[rid] = _Forwarded(future, request, owner, deadline)
        self._post(FORWARD, owner, {"id": rid, "from": self._rt.node_id, "send": request.to_wire()})
        SENDS_ROUTED.labels("forwarded").inc()
        return future

    def _remember(self, request: SendRequest, future: asyncio.Future[Ack]) -> None:
        key = (request.user_id, request.conversation_id)
        entry = (request.client_msg_id, future)
        self._unanswered[key] = entry

        def forget(_: asyncio.Future[Ack]) -> None:
            if self._unanswered.get(key) is entry:
                del self._unanswered[key]

        future.add_done_callback(forget)

    def _count(self, conversation_id: int) -> bool:
        """Count a send; whether the conversation is busy on this node (routing pays off)."""
        counts = self._sends_now
        n = counts[conversation_id] = counts.get(conversation_id, 0) + 1
        threshold = self._rt.settings.send_routing_min_rate
        return n >= threshold or self._sends_before.get(conversation_id, 0) >= threshold

    def _target(self, conversation_id: int, *, busy: bool) -> str:
        """The node to commit a send: its owner while the conversation is busy, else this one.

        A quiet conversation's sends commit where they arrive: each commit would hold one or two
        sends anyway, and forwarding would only add two Redis hops.
        """
        if not busy or not self._rt.bus.healthy():
            return self._rt.node_id
        return self._owner(conversation_id) or self._rt.node_id

    def _landed(self, conversation_id: int, _: asyncio.Future[Ack]) -> None:
        self._untrack(conversation_id)

    def _untrack(self, conversation_id: int) -> None:
        owner, count = self._inflight[conversation_id]
        if count <= 1:
            del self._inflight[conversation_id]
        else:
            self._inflight[conversation_id] = (owner, count - 1)

    def _owner(self, conversation_id: int) -> str | None:
        try:
            return self._owners[conversation_id]
        except KeyError:
            if len(self._owners) >= OWNERS_MEMO_MAX:
                self._owners.clear()
            owner = self._owners[conversation_id] = owner_of(conversation_id, self.live)
            return owner

    def _set_live(self, nodes: Sequence[str]) -> None:
        live = tuple(nodes)
        if live != self.live:
            self.live = live
            self._owners.clear()

    def _post(self, kind: bytes, node: str, item: dict[str, Any]) -> None:
        self._outbox.setdefault((kind, node), []).append(item)
        self._wake.set()

    def _settle(self, rid: int) -> _Forwarded | None:
        """Take a waiting forward off the books."""
        waiting = self._waiting.pop(rid, None)
        if waiting is None:
            return None
        self._untrack(waiting.send.conversation_id)
        return waiting

    def _fall_back(self, rid: int) -> None:
        """Commit a forward here, and before it every earlier forward of its conversation still waiting."""
        target = self._waiting.get(rid)
        if target is None:
            return
        cid = target.send.conversation_id
        for earlier in [r for r, w in self._waiting.items() if r <= rid and w.send.conversation_id == cid]:
            waiting = self._settle(earlier)
            if waiting is not None and not waiting.future.done():
                SENDS_ROUTED.labels("fallback").inc()
                # This node's batcher takes them in order after whatever it already holds.
                local = self._batcher.submit(replace(waiting.send, after=None))
                local.add_done_callback(partial(_relay, waiting.future))

    # --- the bus side -----------------------------------------------------------------------

    def handle(self, payload: bytes) -> None:
        """Forwards and answers addressed to this node (its bus topic)."""
        kind = payload[:1]
        items: list[dict[str, Any]] = orjson.loads(payload[1:])
        if kind == FORWARD:
            for item in items:
                self._serve(item)
        elif kind == REPLY:
            for item in items:
                self._answer(item)

    def _serve(self, item: dict[str, Any]) -> None:
        origin, rid = item["from"], item["id"]
        if not self._rt.accepting_sends or self._rt.degraded:
            self._post(REPLY, origin, {"id": rid, "error": {"code": NOT_OWNER}})
            return
        SENDS_ROUTED.labels("served").inc()
        future = self._batcher.submit(SendRequest.from_wire(item["send"]))
        future.add_done_callback(partial(self._served, origin, rid))

    def _served(self, origin: str, rid: int, future: asyncio.Future[Ack]) -> None:
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or (exc is not None and not isinstance(exc, DomainError)):
            exc = Unavailable("the message could not be stored; retry with the same client_msg_id")
        if exc is None:
            reply: dict[str, Any] = {"id": rid, "ack": future.result().model_dump(mode="json")}
        else:
            assert isinstance(exc, DomainError)
            reply = {"id": rid, "error": error_dict(exc)}
        self._post(REPLY, origin, reply)

    def _answer(self, item: dict[str, Any]) -> None:
        rid = item["id"]
        if rid not in self._waiting:
            return  # already committed here after a timeout
        error = item.get("error")
        if error is not None and error.get("code") in (NOT_OWNER, OUT_OF_ORDER):
            self._fall_back(rid)
            return
        waiting = self._settle(rid)
        if waiting is None or waiting.future.done():
            return
        if error is None:
            waiting.future.set_result(Ack.model_validate(item["ack"]))
        else:
            waiting.future.set_exception(error_from_dict(error))

    # --- tasks ------------------------------------------------------------------------------

    async def _beat(self) -> None:
        assert self._nodes is not None
        try:
            if self._rt.degraded:
                # This node cannot commit (or hear) now: no one should forward to it.
                await self._nodes.leave(self._rt.node_id)
                self._set_live([n for n in self.live if n != self._rt.node_id])
                return
            live = await self._nodes.beat(self._rt.node_id)
        except Exception as exc:  # any failure: keep beating (a dead heartbeat would drop this node)
            # The bus is down as well, so sends commit here; keep the last list for when it returns.
            log.warning("node registry unreachable: %s", exc)
            return
        self._set_live(live)

    async def _heartbeat(self) -> None:
        assert self._nodes is not None
        while True:
            await asyncio.sleep(self._nodes.ttl_s / 3)
            await self._beat()

    async def _pump(self) -> None:
        """Publish queued forwards and answers, one round trip per loop turn's worth, in order."""
        assert self._nodes is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                outbox, self._outbox = self._outbox, {}
                batch = [(topic_node(node), kind + orjson.dumps(items)) for (kind, node), items in outbox.items()]
                self._publishing = True
                try:
                    counts = await self._rt.bus.publish_counted(batch)
                except Exception as exc:  # any failure: the pump must live on, and these commit here
                    log.warning("forwarding sends failed (%s); committing them here", exc)
                    counts = [0] * len(batch)
                finally:
                    self._publishing = False
                for ((kind, node), items), count in zip(outbox.items(), counts, strict=True):
                    if count or kind != FORWARD:
                        continue  # an answer no one hears: its origin is gone (its client retries)
                    # No one listens on the owner's topic: it is gone. Commit here, and stop
                    # choosing it until the registry says it is back.
                    self._set_live([n for n in self.live if n != node])
                    for item in items:
                        self._fall_back(item["id"])

    async def _expire(self) -> None:
        window_end = time.monotonic() + 1.0
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            now = time.monotonic()
            if now >= window_end:
                self._sends_before, self._sends_now = self._sends_now, {}
                window_end = now + 1.0
            expired = []
            for rid, waiting in self._waiting.items():
                if waiting.deadline > now:
                    break
                expired.append(rid)
            for rid in expired:
                self._fall_back(rid)


def _relay(target: asyncio.Future[Ack], source: asyncio.Future[Ack]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())
