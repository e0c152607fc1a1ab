"""The WebSocket endpoint at ``/ws``: handshake checks, authentication, then one frame at a time.

Thin by design: it parses frames, authenticates, calls one domain action per frame and
serializes the answer. Protocol: docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tipline.domain.accounts.access import access_session
from tipline.domain.accounts.tokens import AccessClaims, decode_access_token
from tipline.domain.conversations import repository as conv_repo
from tipline.domain.conversations.actions import do_mark_read, do_sync_presence, do_typing
from tipline.domain.messages.actions import do_send_message, replay_since
from tipline.domain.messages.routing import SendRouter
from tipline.domain.messages.schemas import Ack, SendRequest
from tipline.domain.moderation.access import hidden_senders
from tipline.domain.tokens.access import access_api_token, is_api_token, require_scope
from tipline.domain.tokens.scopes import WS_CONNECT, WS_SEND
from tipline.errors import DomainError, RateLimited
from tipline.gateway.hub import NOBODY, Connection, Hub, WireLike
from tipline.gateway.wire import WIRE
from tipline.logs import CONNECTION_ID
from tipline.protocol import (
    AUTH_PREFIX,
    PROTOCOL,
    AuthFrame,
    Close,
    FrameError,
    PingFrame,
    PresenceFrame,
    ReadFrame,
    ReadyFrameOut,
    ResumeFrame,
    SendFrame,
    TypingFrame,
    encode,
    error_frame,
    parse_client_frame,
)
from tipline.runtime import Runtime
from tipline.storage.db import read_connection

log = logging.getLogger(__name__)


def _token_from_subprotocols(subprotocols: list[str]) -> str | None:
    for proto in subprotocols:
        if proto.startswith(AUTH_PREFIX):
            return proto[len(AUTH_PREFIX) :]
    return None


async def _authenticate(rt: Runtime, token: str) -> AccessClaims:
    if is_api_token(token):
        # A personal access token is a session of kind "token": the same acks, resume and
        # revocation apply; its scopes decide whether it may receive (and, per frame, send).
        async with read_connection(rt.engine) as conn:
            claims, _ = await access_api_token(conn, token)
        require_scope(claims, WS_CONNECT)
        await rt.limits.check("api_per_token", str(claims.session_id))
        return claims
    claims = decode_access_token(rt.settings, rt.jwt_key, token)
    async with read_connection(rt.engine) as conn:
        await access_session(conn, claims)
    return claims


class RawSocket:
    """The few ASGI WebSocket operations the gateway needs, straight on the server's callables.

    The fan-out path sends through this on every delivery, so it skips framework layers:
    one dict and one call into the server per frame.
    """

    __slots__ = ("_connected", "_receive", "_send", "scope")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._connected = False

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return bytes(value).decode("latin-1")
        return None

    async def _await_connect(self) -> None:
        if not self._connected:
            message = await self._receive()
            if message["type"] != "websocket.connect":
                raise RuntimeError(f"expected websocket.connect, got {message['type']}")
            self._connected = True

    async def accept(self, subprotocol: str | None) -> None:
        await self._await_connect()
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol})

    async def receive(self) -> Message:
        return await self._receive()

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._await_connect()
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


async def websocket_endpoint(
    rt: Runtime, hub: Hub, sends: SendRouter, scope: Scope, receive: Receive, send: Send
) -> None:
    ws = RawSocket(scope, receive, send)
    claims = await _handshake(rt, ws)
    if claims is None:
        return
    ip = str((scope.get("client") or ("",))[0])
    # Nothing reads the request headers or the subprotocols (the token among them) again, and an
    # idle socket would hold them for its whole life (the server keeps the scope too).
    scope["headers"] = []
    scope["subprotocols"] = []
    wire: WireLike | None = (scope.get("extensions") or {}).get(WIRE)
    conn = Connection(
        user_id=claims.user_id,
        session_id=claims.session_id,
        send_text=ws.send_text,
        closer=ws.close,
        max_queue=rt.settings.ws_queue_max,
        flusher=hub.flusher,
        wire=wire,
    )
    conn.endpoint_task = asyncio.current_task()
    expiry: asyncio.TimerHandle | None = None
    if claims.expires_at is not None:
        # A personal access token's socket ends when the token does, not at the next re-check.
        delay = max(0.0, claims.expires_at - time.time())
        expiry = asyncio.get_running_loop().call_later(delay, conn.close, Close.UNAUTHORIZED, "session_expired")
    # Each socket runs in its own task, so this tags every log line about this socket.
    CONNECTION_ID.set(conn.id)
    log.info("websocket open", extra={"user_id": claims.user_id})
    convs = await _subscribe(rt, hub, conn)
    # The server's own receive: a wrapper would be one more coroutine frame per idle socket.
    session = Session(rt, hub, sends, conn, receive, ip, scopes=claims.scopes)
    try:
        conn.start(encode(ready_frame(rt, claims, convs)))
        await session.presence_changed()
        await session.loop()
    except asyncio.CancelledError:
        if conn.close_code is None:
            raise
        # We cancelled ourselves: the hub gave up on a client that stopped reading.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    finally:
        if expiry is not None:
            expiry.cancel()
        hub.unregister(conn)
        if conn.close_code is None:
            conn.close_code = Close.NORMAL
        log.info("websocket closed", extra={"user_id": claims.user_id, "close_code": int(conn.close_code)})
        await session.presence_changed()


async def _handshake(rt: Runtime, ws: RawSocket) -> AccessClaims | None:
    """Accept the socket and authenticate it; None once it was refused or closed (with its reason)."""
    origin = ws.header(b"origin")
    if origin is not None and not rt.settings.origin_allowed(origin):
        # Closing before accept refuses the handshake (HTTP 403): cross-site pages cannot
        # ride a user's browser into their account.
        log.info("websocket refused: origin not allowed")
        await ws.close(code=Close.POLICY)
        return None
    if rt.shutting_down or rt.unhealthy:
        # Refused before the handshake completes: the client tries again (elsewhere).
        await ws.close(code=Close.RESTART)
        return None
    subprotocols: list[str] = list(ws.scope.get("subprotocols") or [])
    await ws.accept(subprotocol=PROTOCOL if PROTOCOL in subprotocols else None)
    token = _token_from_subprotocols(subprotocols)
    ref: str | None = None
    if token is None:
        auth = await _auth_frame(rt, ws)
        if auth is None:
            return None
        token, ref = auth.token, auth.ref
    ip = str((ws.scope.get("client") or ("",))[0])
    try:
        await rt.limits.check("connect_per_ip", ip)
        claims = await _authenticate(rt, token)
        await rt.limits.check("connect_per_user", str(claims.user_id))
    except RateLimited as exc:
        await ws.send_text(error_frame(exc.code, exc.message, ref, retry_after=round(exc.retry_after, 3)))
        await ws.close(code=Close.RATE_LIMITED, reason="too many connections")
        return None
    except DomainError as exc:
        await ws.send_text(error_frame(exc.code, exc.message, ref))
        await ws.close(code=Close.UNAUTHORIZED, reason=exc.code)
        return None
    return claims


async def _auth_frame(rt: Runtime, ws: RawSocket) -> AuthFrame | None:
    """The ``auth`` frame a socket without a token in its subprotocols must send first."""
    try:
        message = await asyncio.wait_for(ws.receive(), timeout=rt.settings.ws_auth_timeout_s)
    except TimeoutError:
        await ws.close(code=Close.AUTH_TIMEOUT, reason="authenticate within the time limit")
        return None
    if message["type"] == "websocket.disconnect":
        return None
    try:
        frame = parse_client_frame(message.get("text") or "")
    except FrameError as exc:
        await ws.send_text(error_frame(exc.code, exc.message, exc.ref))
        await ws.close(code=Close.UNAUTHORIZED, reason="the first frame must be auth")
        return None
    if not isinstance(frame, AuthFrame):
        await ws.send_text(error_frame("auth_required", "the first frame must be auth", frame.ref))
        await ws.close(code=Close.UNAUTHORIZED, reason="the first frame must be auth")
        return None
    return frame


async def _subscribe(rt: Runtime, hub: Hub, conn: Connection) -> list[tuple[int, int]]:
    """Register the socket with its user's conversations; their (id, last_seq) from then on."""
    user_id = conn.user_id
    # Register before reading memberships, and check them again once subscribed: a removal
    # that commits meanwhile is then either in the second read or delivered as a control.
    hub.register(conn, [])
    async with rt.engine.connect() as db:
        first = await conv_repo.user_conversation_ids(db, user_id=user_id)
        # Read after registering, so a block committed meanwhile arrives as a control.
        conn.hidden = await hidden_senders(db, viewer_id=user_id) or NOBODY
    for cid, _ in first:
        hub.add_conversation(conn, cid)
    # Once the node's subscriptions are live on the bus, nothing published from here on is
    # missed; the seqs read after that point are what the client starts from.
    await rt.bus.settle()
    async with rt.engine.connect() as db:
        convs = await conv_repo.user_conversation_ids(db, user_id=user_id)
    current = {cid for cid, _ in convs}
    for cid, _ in first:
        if cid not in current:
            hub.remove_conversation(conn, cid)
    return list(convs)


def ready_frame(rt: Runtime, claims: AccessClaims, convs: list[tuple[int, int]]) -> ReadyFrameOut:
    return {
        "type": "ready",
        "protocol": PROTOCOL,
        "user_id": claims.user_id,
        "session_id": str(claims.session_id),
        "heartbeat_s": rt.settings.ws_heartbeat_s,
        "idle_timeout_s": rt.settings.ws_idle_timeout_s,
        "away_after_s": rt.settings.away_after_s,
        "conversations": [{"id": cid, "last_seq": last} for cid, last in convs],
    }


class Session:
    """One authenticated socket's frame loop."""

    __slots__ = ("_receive", "conn", "hub", "ip", "rt", "scopes", "sends")

    def __init__(
        self,
        rt: Runtime,
        hub: Hub,
        sends: SendRouter,
        conn: Connection,
        receive: Callable[[], Awaitable[Message]],
        ip: str,
        *,
        scopes: frozenset[str] | None = None,
    ) -> None:
        self.rt = rt
        self.hub = hub
        self.sends = sends
        self.conn = conn
        self._receive = receive
        self.ip = ip
        # A personal access token's scopes (None: a signed-in session, which may do all).
        self.scopes = scopes

    async def loop(self) -> None:
        receive = self._receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            self.conn.last_seen = time.monotonic()
            text = message.get("text")
            if text is None:
                self.conn.push(error_frame("binary_not_supported", "send frames as JSON text"))
                continue
            try:
                frame = parse_client_frame(text)
            except FrameError as exc:
                self.conn.push(error_frame(exc.code, exc.message, exc.ref))
                continue
            try:
                await self.dispatch(frame)
            except DomainError as exc:
                self.conn.push(error_frame(exc.code, exc.message, frame.ref))
            except Exception:
                # A fault on our side answers this frame only; the socket and its other
                # conversations go on.
                log.exception("frame %s failed", frame.type)
                self.conn.push(error_frame("internal", "the server could not handle this frame; retry", frame.ref))

    async def dispatch(self, frame: Any) -> None:
        if self.scopes is not None and isinstance(frame, TypingFrame):
            await self._token_may_act()
        if isinstance(frame, SendFrame):
            await self.send(frame)
        elif isinstance(frame, PingFrame):
            self.conn.push(encode({"type": "pong", "ref": frame.ref}))
        elif isinstance(frame, TypingFrame):
            await self.typing(frame)
        elif isinstance(frame, ReadFrame):
            await do_mark_read(self.rt, user_id=self.conn.user_id, conversation_id=frame.conversation_id, seq=frame.seq)
        elif isinstance(frame, ResumeFrame):
            await self.resume(frame)
        elif isinstance(frame, PresenceFrame):
            self.conn.status = frame.status
            await self.presence_changed()
        elif isinstance(frame, AuthFrame):
            self.conn.push(error_frame("already_authenticated", "this socket is already authenticated", frame.ref))

    async def _token_may_act(self) -> None:
        """A token's socket acts only with messages:write, within the token's own rate budget."""
        claims = AccessClaims(user_id=self.conn.user_id, session_id=self.conn.session_id, scopes=self.scopes)
        require_scope(claims, WS_SEND)
        await self.rt.limits.check("api_per_token", str(self.conn.session_id))

    async def send(self, frame: SendFrame) -> None:
        ref = frame.ref or frame.client_msg_id
        conn = self.conn
        request = SendRequest(
            user_id=conn.user_id,
            session_id=conn.session_id,
            conversation_id=frame.conversation_id,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
            reply_to=frame.reply_to,
            attachment_ids=tuple(frame.attachment_ids),
            thread_only=frame.thread_only,
        )

        def refused(exc: DomainError) -> None:
            extra = {"retry_after": round(exc.retry_after, 3)} if isinstance(exc, RateLimited) else {}
            conn.push(
                error_frame(
                    exc.code,
                    exc.message,
                    ref,
                    client_msg_id=frame.client_msg_id,
                    conversation_id=frame.conversation_id,
                    **extra,
                )
            )
            if exc.status == 401:
                # The session ended (found at commit, whatever the bus did): this socket is done,
                # once the error has gone out (closing drops whatever is still queued).
                conn.write_now()
                conn.close(Close.UNAUTHORIZED, "session ended")

        # Queued before this returns, so a client's pipelined sends commit in the order it sent
        # them; the ack (or error) is pushed when the commit finishes, without blocking this loop.
        try:
            if self.scopes is not None:
                await self._token_may_act()
            future = await do_send_message(self.rt, self.sends, request, ip=self.ip)
        except DomainError as exc:
            refused(exc)
            return

        def done(fut: asyncio.Future[Ack]) -> None:
            exc = fut.exception()
            if exc is None:
                conn.push(encode({"type": "ack", "ref": ref, **fut.result().model_dump()}))
            elif isinstance(exc, DomainError):
                refused(exc)
            else:
                conn.push(
                    error_frame(
                        "internal", "the message could not be sent; retry", ref, client_msg_id=frame.client_msg_id
                    )
                )

        future.add_done_callback(done)

    async def typing(self, frame: TypingFrame) -> None:
        cid = frame.conversation_id
        await do_typing(
            self.rt, user_id=self.conn.user_id, conversation_id=cid, subscribed=cid in self.conn.conversations
        )

    async def resume(self, frame: ResumeFrame) -> None:
        for cid, since in sorted(frame.since.items()):
            try:
                replay = await replay_since(self.rt, user_id=self.conn.user_id, conversation_id=cid, since=since)
            except DomainError as exc:
                self.conn.push(error_frame(exc.code, exc.message, frame.ref, conversation_id=cid))
                continue
            if replay.reload:
                self.conn.push(
                    encode({"type": "reload", "conversation_id": cid, "last_seq": replay.last_seq, "ref": frame.ref})
                )
                continue
            for event in replay.events:
                self.conn.push(encode(event))
            self.conn.push(
                encode({"type": "resumed", "conversation_id": cid, "last_seq": replay.last_seq, "ref": frame.ref})
            )

    async def presence_changed(self) -> None:
        await do_sync_presence(self.rt, user_id=self.conn.user_id, local_status=self.hub.local_status)
