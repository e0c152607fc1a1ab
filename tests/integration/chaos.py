"""Chaos runs against a real `tipline cluster`: steady traffic from many clients over 3 nodes,
one fault at a time, and an oracle that checks the delivery contract per conversation.

Used by the short forms in tests/integration/test_chaos.py and the long forms in
bench/chaos/run.py. Every process here (Redis, PostgreSQL, the cluster) is started by the run
itself and stopped by its PID; the machine's shared servers only host nothing but, optionally,
the admin connection that creates the run's database.

Clients behave as the web client does: an outbox of unacknowledged sends re-sent with the same
``client_msg_id`` after a reconnect or an error; on (re)connect, after a ``sync`` frame or when
a gap shows in a conversation's seqs, a ``resume`` from the last seq applied without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.bus.cluster import RedisServer, free_ports, redis_server
from tests.helpers import PASSWORD, User, create_conversation, signup
from tests.integration.cluster_proc import ClusterProc, running_cluster
from tests.integration.netfaults import TcpProxy

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RETRYABLE = {"unavailable", "rate_limited", "internal"}


def web_backoff(
    rng: random.Random | None = None, *, base_s: float = 0.5, cap_s: float = 30.0
) -> Callable[[int], float]:
    """The web client's reconnect delays (web/src/realtime/backoff.ts): exponential with equal
    jitter, half fixed and half random, capped; attempt 0 is the first retry after a close."""
    draw = (rng or random.Random()).random

    def delay(attempt: int) -> float:
        exp = min(cap_s, base_s * 2 ** max(0, min(attempt, 30)))
        return exp / 2 + draw() * exp / 2

    return delay


# --- a PostgreSQL of the run's own (the machine's PG 15 binaries, as the postgres user) --------


@dataclass
class OwnPostgres:
    directory: Path
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _options(self) -> str:
        # fsync off: the run tests Tipline's behaviour across a restart, not the disk.
        return (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300 -c synchronous_commit=off"
        )

    async def start(self) -> None:
        log = str(self.directory / "pg.log")
        await asyncio.to_thread(self._ctl, "-o", self._options(), "-l", log, "-w", "start")

    async def restart(self) -> None:
        log = str(self.directory / "pg.log")
        await asyncio.to_thread(self._ctl, "-o", self._options(), "-l", log, "-m", "fast", "-w", "restart")

    async def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            await asyncio.to_thread(self._ctl, "-m", "immediate", "-w", "stop")


@contextlib.asynccontextmanager
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    directory = Path(tempfile.mkdtemp(prefix="tlchaos-pg-"))
    try:
        shutil.chown(directory, "postgres", "postgres")
        pg = OwnPostgres(directory, free_ports(1)[0])
        await asyncio.to_thread(
            subprocess.run,
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "initdb"),
                "-D",
                str(directory / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        await pg.start()
        try:
            yield pg
        finally:
            await pg.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- clients -----------------------------------------------------------------------------------


@dataclass
class Member:
    """One user with one socket (through the load balancer), sending and checking what arrives."""

    user: User
    conversations: list[int]
    ws_url: str
    last: dict[int, int] = field(default_factory=dict)  # last seq applied without a gap
    seen: dict[tuple[int, int], int] = field(default_factory=dict)  # (cid, seq) -> message id
    outbox: dict[str, tuple[int, str, float]] = field(default_factory=dict)  # cmid -> (cid, body, sent at)
    acked: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # cmid -> (cid, seq, message id)
    conflicts: int = 0  # one seq seen with two different messages
    duplicate_acks: int = 0  # one client_msg_id acknowledged as two different messages
    # A live event at or below what this client already applied, after its replay ended: the
    # protocol's `s <= held` duplicate (a publish that reached Redis after the replay read
    # PostgreSQL). Counted, not a failure: the client ignores it, and `conflicts` checks it is
    # the same message.
    late_duplicates: int = 0
    # client_msg_ids in the order this client first sent them, and those it sent again after an
    # error (a retry after a refusal is the client's choice to reorder: docs/protocol.md §7).
    sent_order: list[tuple[int, str]] = field(default_factory=list)
    retried: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    caught_up_s: list[float] = field(default_factory=list)
    closes: dict[int, int] = field(default_factory=dict)
    conn: ClientConnection | None = None
    stalled: bool = False
    sock: socket.socket | None = None
    direct_url: str | None = None
    _resuming: dict[int, int] = field(default_factory=dict)  # cid -> resumed last_seq pending
    _disconnected_at: float | None = None
    _live_max: dict[int, int] = field(default_factory=dict)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stop: bool = False
    # Like the web client: the access token is renewed with the refresh token before it runs out,
    # and at once when a socket is closed as unauthorized.
    api_url: str | None = None
    refresh_every_s: float = 600.0
    refreshes: int = 0
    _token_at: float = field(default_factory=time.monotonic)
    _token_stale: bool = False
    _renewer: asyncio.Task[None] | None = None
    _renewing: asyncio.Lock = field(default_factory=asyncio.Lock)
    signins: int = 0
    # Seconds to wait before reconnect attempt n (0 the first after a close, back to 0 once a
    # socket is ready), as the web client does (``web_backoff``). None: reconnect at once after a
    # close, and retry a failed attempt within 0.05-2 s (the chaos tests' clients).
    backoff: Callable[[int], float] | None = None
    attempts: int = 0  # sockets tried (handshakes begun)
    connects: int = 0  # `ready` frames received
    ready_at: float | None = None  # when the last `ready` arrived
    reloads_behind: list[int] = field(default_factory=list)  # per `reload`: seqs this client was behind
    failures: dict[str, int] = field(default_factory=dict)  # failed attempts by exception (or status)
    open_timeout_s: float = 5.0  # the opening handshake's limit (the web client waits 15 s for `ready`)
    _attempt: int = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        if self.api_url is not None:
            self._renewer = asyncio.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while not self._stop:
            await asyncio.sleep(max(0.0, self._token_at + self.refresh_every_s - time.monotonic()) + 0.01)
            try:
                await self._refresh()
            except (httpx.HTTPError, OSError):
                # The node behind the balancer may be the one just killed: try again shortly.
                self._token_stale = True
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self._stop = True
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
        for task in (self._task, self._renewer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _open(self) -> ClientConnection:
        url = self.direct_url or self.ws_url
        kwargs: dict[str, Any] = {}
        if self.sock is not None:
            kwargs = {"sock": self.sock, "max_queue": 1}
            self.sock = None
        else:
            kwargs = {"max_queue": None}
        return await connect(
            url,
            subprotocols=["tipline.v1", f"tipline.auth.{self.user.token}"],  # type: ignore[list-item]
            open_timeout=self.open_timeout_s,
            max_size=None,
            ping_interval=None,
            **kwargs,
        )

    async def _run(self) -> None:
        backoff = 0.05
        first = True
        while not self._stop:
            if self.backoff is not None and not first:
                await asyncio.sleep(self.backoff(self._attempt))
                self._attempt += 1
            first = False
            try:
                if self._token_stale or time.monotonic() - self._token_at > self.refresh_every_s:
                    await self._refresh()
                self.attempts += 1
                self.conn = await self._open()
            except (OSError, TimeoutError, ConnectionClosed, Exception) as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                reason = type(exc).__name__ + (f" {status}" if status is not None else "")
                self.failures[reason] = self.failures.get(reason, 0) + 1
                if self.backoff is None:
                    await asyncio.sleep(backoff + random.random() * backoff)
                    backoff = min(1.0, backoff * 2)
                continue
            backoff = 0.05
            self.direct_url = None  # reconnects go through the load balancer
            try:
                await self._session(self.conn)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.closes[code] = self.closes.get(code, 0) + 1
                self._token_stale = self._token_stale or code == 4001
            except (OSError, TimeoutError):
                self.closes[1006] = self.closes.get(1006, 0) + 1
            self._connected.clear()
            if not self._stop and self._disconnected_at is None:
                self._disconnected_at = time.monotonic()

    async def _refresh(self) -> None:
        """Trade the refresh token for a new pair (the old one is spent: rotation)."""
        if self.api_url is None:
            return
        async with self._renewing, httpx.AsyncClient(base_url=self.api_url, timeout=10) as api:
            r = await api.post("/auth/refresh", json={"refresh_token": self.user.refresh_token})
            if r.status_code == 401:
                # A node killed after rotating but before answering leaves this client the spent
                # token, whose reuse ends the session: sign in again, as the web client would.
                r = await api.post("/auth/signin", json={"email": self.user.email, "password": PASSWORD})
                self.signins += 1
            r.raise_for_status()
            pair = r.json()
            self.user.token, self.user.refresh_token = pair["access_token"], pair["refresh_token"]
            self._token_at, self._token_stale = time.monotonic(), False
            self.refreshes += 1

    async def _session(self, conn: ClientConnection) -> None:
        self._resuming.clear()
        self._live_max.clear()
        while True:
            raw = await conn.recv()
            frame = orjson.loads(raw)
            frames = frame["frames"] if frame.get("type") == "batch" else [frame]
            for f in frames:
                if f.get("type") == "ready":
                    self.connects += 1
                    self.ready_at = time.monotonic()
                    self._attempt = 0
                    self._connected.set()
                    await self.resume(self.conversations)
                    # Whatever waits in the outbox goes out again, in order, with its ids.
                    for cmid, (cid, body, _) in list(self.outbox.items()):
                        await self._send(cid, body, cmid)
                else:
                    await self._handle(f)
            while self.stalled:
                await asyncio.sleep(0.05)

    async def resume(self, cids: list[int]) -> None:
        want = {cid: self.last.get(cid, 0) for cid in cids if cid not in self._resuming}
        if not want or self.conn is None:
            return
        for cid in want:
            self._resuming[cid] = -1
        with contextlib.suppress(ConnectionClosed):
            await self.conn.send(
                orjson.dumps({"type": "resume", "since": {str(c): s for c, s in want.items()}}).decode()
            )

    async def _handle(self, f: dict[str, Any]) -> None:
        kind = f.get("type")
        if kind == "event" and f.get("seq") is not None:
            cid, seq = f["conversation_id"], f["seq"]
            if f["event"] == "message.created":
                mid = f["data"]["id"]
                if self.seen.setdefault((cid, seq), mid) != mid:
                    self.conflicts += 1
            if cid not in self._resuming:
                if seq < self._live_max.get(cid, 0):
                    self.late_duplicates += 1
                self._live_max[cid] = max(seq, self._live_max.get(cid, 0))
            last = self.last.get(cid, 0)
            if seq == last + 1:
                self.last[cid] = seq
            elif seq > last + 1 and cid not in self._resuming:
                await self.resume([cid])
        elif kind == "resumed":
            cid = f["conversation_id"]
            self._resuming.pop(cid, None)
            self.last[cid] = max(self.last.get(cid, 0), f["last_seq"])
            self._live_max[cid] = max(self._live_max.get(cid, 0), f["last_seq"])
            if not self._resuming and self._disconnected_at is not None:
                self.caught_up_s.append(time.monotonic() - self._disconnected_at)
                self._disconnected_at = None
        elif kind == "reload":
            # Further behind than a replay: a real client reloads the window; the run counts it.
            self.errors["reload"] = self.errors.get("reload", 0) + 1
            self.reloads_behind.append(f["last_seq"] - self.last.get(f["conversation_id"], 0))
            self._resuming.pop(f["conversation_id"], None)
        elif kind == "sync":
            behind = [c["id"] for c in f["conversations"] if c["last_seq"] > self.last.get(c["id"], 0)]
            await self.resume(behind)
        elif kind == "ack":
            cmid = f["client_msg_id"]
            got = (f["conversation_id"], f["seq"], f["message_id"])
            if self.acked.setdefault(cmid, got) != got:
                self.duplicate_acks += 1
            self.outbox.pop(cmid, None)
        elif kind == "error":
            code = str(f.get("code"))
            self.errors[code] = self.errors.get(code, 0) + 1
            cmid = f.get("client_msg_id")
            if cmid in self.outbox and code in RETRYABLE:
                self.retried.add(cmid)
                cid, body, _ = self.outbox[cmid]
                asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(self._send(cid, body, cmid)))
            elif cmid in self.outbox:
                self.outbox.pop(cmid)

    async def _send(self, cid: int, body: str, cmid: str) -> None:
        self.outbox[cmid] = (cid, body, time.monotonic())
        if self.conn is None or not self._connected.is_set():
            return
        frame = {"type": "send", "conversation_id": cid, "client_msg_id": cmid, "body": body}
        with contextlib.suppress(ConnectionClosed):
            await self.conn.send(orjson.dumps(frame).decode())

    async def send_new(self, cid: int, body: str) -> None:
        cmid = uuid.uuid4().hex
        self.sent_order.append((cid, cmid))
        await self._send(cid, body, cmid)

    async def reconnect_to(self, ws_url: str) -> None:
        """Move this client to one node directly; its later reconnects go through the balancer."""
        self.direct_url = ws_url
        self._connected.clear()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
        await asyncio.wait_for(self._connected.wait(), 30)

    def reset_counters(self) -> None:
        """Each scenario counts its own (the fixture's members live across scenarios)."""
        self.conflicts = self.duplicate_acks = self.late_duplicates = 0
        self.sent_order.clear()
        self.retried.clear()
        self.errors.clear()

    async def resend_stale(self, older_than: float) -> None:
        """An ack that never came (its node died mid-send): send again, same id."""
        now = time.monotonic()
        for cmid, (cid, body, at) in list(self.outbox.items()):
            if now - at > older_than:
                await self._send(cid, body, cmid)


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Workload:
    clients: int = 30
    conversations: int = 6
    rate: float = 10.0  # messages per second over all clients
    refresh_every_s: float = 600.0  # each client renews its access token this often

    @property
    def per_conversation(self) -> int:
        return self.clients // self.conversations


@dataclass
class Chaos:
    cluster: ClusterProc
    workload: Workload
    members: list[Member] = field(default_factory=list)
    conversations: list[int] = field(default_factory=list)
    _traffic: asyncio.Task[None] | None = None
    sent: int = 0
    # Between every node and Redis (netfaults.py): makes the link slow or lossy on demand.
    redis_link: TcpProxy | None = None

    async def setup(self) -> None:
        async with httpx.AsyncClient(base_url=self.cluster.url, timeout=30) as api:
            users = list(await asyncio.gather(*(signup(api) for _ in range(self.workload.clients))))
            per = self.workload.per_conversation
            for i in range(self.workload.conversations):
                group = users[i * per : (i + 1) * per]
                cid = (await create_conversation(api, group[0], "group", group[1:]))["id"]
                self.conversations.append(cid)
                for u in group:
                    self.members.append(
                        Member(
                            u,
                            [cid],
                            self.cluster.ws_url,
                            api_url=self.cluster.url,
                            refresh_every_s=self.workload.refresh_every_s,
                        )
                    )
        for m in self.members:
            m.start()
        async with asyncio.timeout(60):
            for m in self.members:
                await m._connected.wait()

    def start_traffic(self) -> None:
        async def loop() -> None:
            rng = random.Random(3)
            interval = 1.0 / self.workload.rate
            tick = 0
            while True:
                m = rng.choice(self.members)
                await m.send_new(m.conversations[0], f"chaos {self.sent}")
                self.sent += 1
                tick += 1
                if tick % 50 == 0:
                    for member in self.members:
                        await member.resend_stale(5.0)
                await asyncio.sleep(interval)

        self._traffic = asyncio.create_task(loop())

    async def stop_traffic(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(BaseException):
                await self._traffic
            self._traffic = None

    async def settle(self, timeout: float = 30.0) -> float:
        """Until every send is acknowledged and every member has resumed to the stored last seq."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while any(m.outbox for m in self.members) and time.monotonic() < deadline:
            for m in self.members:
                await m.resend_stale(2.0)
            await asyncio.sleep(0.2)
        last = await self.db_last_seqs()
        while time.monotonic() < deadline:
            behind = [m for m in self.members for c in m.conversations if m.last.get(c, 0) < last.get(c, 0)]
            if not behind:
                break
            for m in behind:
                await m.resume(m.conversations)
            await asyncio.sleep(0.3)
        return time.monotonic() - t0

    async def db_last_seqs(self) -> dict[int, int]:
        db = await asyncpg.connect(self.cluster.database_url)
        try:
            rows = await db.fetch("SELECT id, last_seq FROM conversations WHERE id = ANY($1)", self.conversations)
        finally:
            await db.close()
        return {r["id"]: r["last_seq"] for r in rows}

    async def caught_up_after(self, started: float, timeout: float = 30.0) -> float | None:
        """Seconds from ``started`` until every member holds everything stored by now."""
        target = await self.db_last_seqs()
        while time.monotonic() - started < timeout:
            if all(m.last.get(c, 0) >= target.get(c, 0) for m in self.members for c in m.conversations):
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        return None

    async def oracle(self) -> dict[str, Any]:
        db = await asyncpg.connect(self.cluster.database_url)
        try:
            rows = await db.fetch(
                "SELECT conversation_id, seq, id FROM messages WHERE conversation_id = ANY($1)",
                self.conversations,
            )
            sent = await db.fetch(
                "SELECT sender_id, client_msg_id, seq FROM messages WHERE conversation_id = ANY($1)",
                self.conversations,
            )
            dup_rows = await db.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM messages WHERE conversation_id = ANY($1) "
                "GROUP BY conversation_id, sender_id, client_msg_id HAVING count(*) > 1) d",
                self.conversations,
            )
        finally:
            await db.close()
        stored = {(r["conversation_id"], r["seq"]): r["id"] for r in rows}
        acked = [a for m in self.members for a in m.acked.values()]
        acked_missing = sum(1 for cid, seq, mid in acked if stored.get((cid, seq)) != mid)
        by_conv: dict[int, set[int]] = {}
        for cid, seq in stored:
            by_conv.setdefault(cid, set()).add(seq)
        not_delivered = 0
        for m in self.members:
            for cid in m.conversations:
                not_delivered += len({s for s in by_conv.get(cid, set()) if (cid, s) not in m.seen})
        wrong = sum(1 for m in self.members for key, mid in m.seen.items() if key in stored and stored[key] != mid)
        unacked = sum(len(m.outbox) for m in self.members)
        seq_of = {(r["sender_id"], r["client_msg_id"]): r["seq"] for r in sent}
        return {
            "stored": len(stored),
            "acked": len(acked),
            "acked_stored_pct": round(100.0 * (len(acked) - acked_missing) / max(1, len(acked)), 3),
            "acked_not_stored": acked_missing,
            "delivered_after_resync_pct": round(
                100.0
                * (
                    1
                    - not_delivered
                    / max(1, sum(len(by_conv.get(c, ())) for m in self.members for c in m.conversations))
                ),
                3,
            ),
            "stored_not_delivered": not_delivered,
            "duplicates": int(dup_rows) + sum(m.duplicate_acks for m in self.members),
            "conflicting_deliveries": sum(m.conflicts for m in self.members) + wrong,
            "per_sender_order_inversions": sum(inversions(m, seq_of) for m in self.members),
            "late_duplicates": sum(m.late_duplicates for m in self.members),
            "never_acked": unacked,
            "token_refreshes": sum(m.refreshes for m in self.members),
            "signins_after_refresh_refused": sum(m.signins for m in self.members),
        }


def inversions(member: Member, seq_of: dict[tuple[int, str], int]) -> int:
    """Pairs of this client's sends to one conversation stored in the reverse of the order sent
    (each against the latest stored before it; sends retried after an error are left out)."""
    count = 0
    latest: dict[int, int] = {}
    for cid, cmid in member.sent_order:
        seq = seq_of.get((member.user.id, cmid))
        if seq is None or cmid in member.retried:
            continue
        if seq < latest.get(cid, 0):
            count += 1
        latest[cid] = max(seq, latest.get(cid, 0))
    return count


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run_scenario(
    chaos: Chaos,
    name: str,
    fault: Callable[[], Awaitable[None]],
    recover: Callable[[], Awaitable[None]],
    *,
    warmup: float = 2.0,
    hold: float = 2.0,
    after: float = 3.0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Traffic, the fault, recovery, more traffic; then settle and check. Returns the figures."""
    for m in chaos.members:
        m.caught_up_s.clear()
        m.reset_counters()
    sent0 = chaos.sent
    chaos.start_traffic()
    await asyncio.sleep(warmup)
    t_fault = time.monotonic()
    await fault()
    await asyncio.sleep(hold)
    await recover()
    t_back = time.monotonic()
    caught = await chaos.caught_up_after(t_back)
    await asyncio.sleep(after)
    await chaos.stop_traffic()
    settle_s = await chaos.settle()
    times = [t for m in chaos.members for t in m.caught_up_s]
    errors: dict[str, int] = {}
    for m in chaos.members:
        for code, n in m.errors.items():
            errors[code] = errors.get(code, 0) + n
        m.errors.clear()
    result: dict[str, Any] = {
        "scenario": name,
        "clients": len(chaos.members),
        "conversations": len(chaos.conversations),
        "nodes": len(chaos.cluster.nodes),
        "rate_per_s": chaos.workload.rate,
        "sent": chaos.sent - sent0,
        "fault_to_recovered_s": round(t_back - t_fault, 2),
        "all_caught_up_after_recovery_s": None if caught is None else round(caught, 2),
        "reconnects": len(times),
        "reconnect_to_caught_up_p50_s": _r(percentile(times, 50)),
        "reconnect_to_caught_up_p95_s": _r(percentile(times, 95)),
        "reconnect_to_caught_up_max_s": _r(max(times) if times else None),
        "settle_s": round(settle_s, 2),
        "error_frames": errors,  # retried with the same client_msg_id
        **(extra or {}),
        **await chaos.oracle(),
    }
    return result


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def passed(result: dict[str, Any]) -> bool:
    return (
        result["acked_not_stored"] == 0
        and result["stored_not_delivered"] == 0
        and result["duplicates"] == 0
        and result["conflicting_deliveries"] == 0
        and result["per_sender_order_inversions"] == 0
        and result["never_acked"] == 0
    )


async def slow_reader_scenario(chaos: Chaos, *, messages: int = 2500) -> dict[str, Any]:
    """(d) One member stops reading (a small receive buffer, no reads) on a node, directly; a
    sender floods its conversation with large messages. The server closes it with 4008; the
    others keep receiving; once it reads again it reconnects, resumes and catches up."""
    slow = chaos.members[0]
    cid = slow.conversations[0]
    node = chaos.cluster.nodes[0]
    await slow.stop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(node.url.rsplit(":", 1)[1])))
    stalled = Member(
        slow.user,
        slow.conversations,
        chaos.cluster.ws_url,
        last=dict(slow.last),
        seen=slow.seen,
        acked=slow.acked,
        api_url=slow.api_url,
        refresh_every_s=slow.refresh_every_s,
    )
    stalled.sock, stalled.direct_url = sock, node.ws_url
    chaos.members[0] = stalled
    stalled.start()
    await asyncio.wait_for(stalled._connected.wait(), 20)
    stalled.stalled = True
    flooder = next(m for m in chaos.members[1:] if cid in m.conversations)
    big = "x" * 3800
    closed_before = await slow_consumer_closes(node.url)

    async def flood() -> None:
        for i in range(messages):
            await flooder.send_new(cid, f"flood {i} {big}")
            if i % 64 == 63:
                while len(flooder.outbox) > 64:
                    await asyncio.sleep(0.005)

    async def fault() -> None:
        flooding = asyncio.create_task(flood())
        # Read again as soon as the node has given up on the socket: a client that stays silent
        # past the close handshake's timeout (5 s) is dropped without its 4008, and how long the
        # rest of the flood takes depends on how busy the machine is.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(120):
                while await slow_consumer_closes(node.url) == closed_before and not flooding.done():
                    await asyncio.sleep(0.1)
        stalled.stalled = False
        await flooding

    async def recover() -> None:
        stalled.stalled = False

    return await run_scenario(
        chaos, "d_client_stops_reading", fault, recover, hold=0.5, extra={"flood_messages": messages}
    ) | {"slow_client_closes": {str(code): n for code, n in stalled.closes.items()}}


async def slow_consumer_closes(node_url: str) -> float:
    """Sockets the node closed as slow consumers (4008) so far, from its /metrics."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{node_url}/metrics")).text
    for line in text.splitlines():
        if line.startswith('tipline_ws_closes_total{code="4008"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


CHAOS_ENV = {
    "WS_QUEUE_MAX": "200",  # a client that stops reading is found sooner
    "REPLAY_LIMIT": "20000",  # the flooded client resumes rather than reloads
}


async def node_ready(url: str, timeout: float = 60.0) -> None:
    async with httpx.AsyncClient(timeout=2) as client, asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def kill_node_scenario(chaos: Chaos, index: int = 1) -> dict[str, Any]:
    """(a) kill -9 one of the nodes; the cluster's supervisor restarts it."""
    restarts = len([e for e in chaos.cluster.events if e["event"] == "node_restarted"])
    killed: list[int] = []

    async def fault() -> None:
        killed.append(chaos.cluster.kill9(index))

    async def recover() -> None:
        async with asyncio.timeout(60):
            while len([e for e in chaos.cluster.events if e["event"] == "node_restarted"]) <= restarts:
                await asyncio.sleep(0.05)
        await node_ready(chaos.cluster.nodes[index].url)

    return await run_scenario(chaos, "a_kill_9_node", fault, recover, hold=0.0, extra={"killed_pids": killed})


async def restart_redis_scenario(chaos: Chaos, redis: Any, outage_s: float = 2.0) -> dict[str, Any]:
    """(b) Redis stops (every bus, presence and cache connection drops) and comes back empty."""
    return await run_scenario(chaos, "b_restart_redis", redis.stop, redis.start, hold=outage_s)


async def restart_postgres_scenario(chaos: Chaos, pg: OwnPostgres) -> dict[str, Any]:
    """(c) PostgreSQL restarts (fast shutdown: every connection is cut, in-flight sends fail)."""

    async def nothing() -> None:
        return None

    return await run_scenario(chaos, "c_restart_postgres", pg.restart, nothing, hold=0.0)


async def _watch_revoked(ws: ClientConnection, cid: int, since: float, out: dict[str, Any]) -> None:
    """Send on a socket whose session was just revoked until it is closed; count what was acked."""
    acks = 0
    with contextlib.suppress(ConnectionClosed):
        while True:
            frame = {"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex, "body": "revoked?"}
            await ws.send(orjson.dumps(frame).decode())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    while True:
                        raw = orjson.loads(await ws.recv())
                        for f in raw["frames"] if raw.get("type") == "batch" else [raw]:
                            acks += f.get("type") == "ack"
    out["open_after_s"] = round(time.monotonic() - since, 3)
    out["acks"] = acks
    out["close_code"] = ws.close_code


async def _watch_removed(ws: ClientConnection, cid: int, after_seq: int, out: dict[str, Any]) -> None:
    """Count the conversation's events a removed member's socket still gets (seq after the removal)."""
    out["events"] = 0
    with contextlib.suppress(ConnectionClosed):
        while True:
            raw = orjson.loads(await ws.recv())
            for f in raw["frames"] if raw.get("type") == "batch" else [raw]:
                seq = f.get("seq")
                if f.get("type") == "event" and f.get("conversation_id") == cid and seq is not None and seq > after_seq:
                    out["events"] += 1


async def revoke_and_remove_scenario(chaos: Chaos, redis: Any, outage_s: float = 4.0) -> dict[str, Any]:
    """(e) While Redis is down, a session is signed out and a member is removed, both through a
    node other than the one holding their sockets (so no bus could have told it). Then: how long
    the revoked socket stayed open, how many of its sends were acked after the revocation
    (target 0), how many of the conversation's events the removed member still got (target 0,
    live or by resume), over the run's traffic and the usual oracle."""
    cluster = chaos.cluster
    cid = chaos.conversations[0]
    owner = next(m for m in chaos.members if cid in m.conversations).user
    holder, actor = cluster.nodes[0], cluster.nodes[-1]
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as api:
        victim, removed = await signup(api), await signup(api)
        for user in (victim, removed):
            r = await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": user.id})
            r.raise_for_status()
    sockets = []
    for user in (victim, removed):
        ws = await connect(
            holder.ws_url,
            subprotocols=["tipline.v1", f"tipline.auth.{user.token}"],  # type: ignore[list-item]
            max_size=None,
            max_queue=None,
        )
        sockets.append(ws)
    revoked: dict[str, Any] = {}
    gone: dict[str, Any] = {}
    watchers: list[asyncio.Task[None]] = []

    async def fault() -> None:
        await redis.stop()
        async with httpx.AsyncClient(base_url=actor.url, timeout=30) as direct:
            t0 = time.monotonic()
            r = await direct.post("/auth/signout", headers=victim.headers)
            assert r.status_code == 204, r.text
            watchers.append(asyncio.create_task(_watch_revoked(sockets[0], cid, t0, revoked)))
            r = await direct.delete(f"/conversations/{cid}/members/{removed.id}", headers=owner.headers)
            assert r.status_code == 204, r.text
        after = (await chaos.db_last_seqs())[cid]
        watchers.append(asyncio.create_task(_watch_removed(sockets[1], cid, after, gone)))

    result = await run_scenario(chaos, "e_revoke_and_remove_during_redis_outage", fault, redis.start, hold=outage_s)
    # The removed member asks for what it missed: refused, nothing replayed.
    with contextlib.suppress(ConnectionClosed):
        await sockets[1].send(orjson.dumps({"type": "resume", "since": {str(cid): 0}}).decode())
        await asyncio.sleep(0.5)
    await asyncio.wait_for(watchers[0], 10)
    watchers[1].cancel()
    with contextlib.suppress(BaseException):
        await watchers[1]
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    return result | {
        "revoked_sessions_sockets_open_after_s": revoked.get("open_after_s"),
        "revoked_socket_close_code": revoked.get("close_code"),
        "sends_accepted_after_revocation": revoked.get("acks"),
        "events_after_removal": gone.get("events"),
    }


async def revoke_and_remove_during_kill_scenario(chaos: Chaos, index: int = 1) -> dict[str, Any]:
    """(e2) The node holding a session's socket and a member's socket is killed (-9); meanwhile
    that session is signed out and that member removed through another node. Both clients come
    back through the balancer as clients do: the signed-out one must be refused (4001, no send
    acked), the removed one must get none of the conversation's events, live or by resume."""
    cluster = chaos.cluster
    cid = chaos.conversations[0]
    owner = next(m for m in chaos.members if cid in m.conversations).user
    holder, actor = cluster.nodes[index], cluster.nodes[0 if index else -1]
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as api:
        victim, removed = await signup(api), await signup(api)
        for user in (victim, removed):
            r = await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": user.id})
            r.raise_for_status()
    # Connected to the node about to die (their sockets die with it).
    held = [await _open(holder.ws_url, user) for user in (victim, removed)]
    revoked: dict[str, Any] = {}
    gone: dict[str, Any] = {}
    watchers: list[asyncio.Task[None]] = []
    restarts = len([e for e in cluster.events if e["event"] == "node_restarted"])

    async def fault() -> None:
        cluster.kill9(index)
        async with httpx.AsyncClient(base_url=actor.url, timeout=30) as direct:
            t0 = time.monotonic()
            r = await direct.post("/auth/signout", headers=victim.headers)
            assert r.status_code == 204, r.text
            r = await direct.delete(f"/conversations/{cid}/members/{removed.id}", headers=owner.headers)
            assert r.status_code == 204, r.text
        after = (await chaos.db_last_seqs())[cid]
        # Both reconnect through the balancer, as their clients would after the kill.
        watchers.append(asyncio.create_task(_watch_revoked(await _open(cluster.ws_url, victim), cid, t0, revoked)))
        removed_ws = await _open(cluster.ws_url, removed)
        watchers.append(asyncio.create_task(_watch_removed(removed_ws, cid, after, gone)))
        with contextlib.suppress(ConnectionClosed):
            await removed_ws.send(orjson.dumps({"type": "resume", "since": {str(cid): 0}}).decode())

    async def recover() -> None:
        async with asyncio.timeout(60):
            while len([e for e in cluster.events if e["event"] == "node_restarted"]) <= restarts:
                await asyncio.sleep(0.05)
        await node_ready(cluster.nodes[index].url)

    result = await run_scenario(chaos, "e2_revoke_and_remove_during_node_kill", fault, recover, hold=0.0)
    await asyncio.wait_for(watchers[0], 10)
    watchers[1].cancel()
    with contextlib.suppress(BaseException):
        await watchers[1]
    for ws in held:
        with contextlib.suppress(Exception):
            await ws.close()
    return result | {
        "revoked_sessions_sockets_open_after_s": revoked.get("open_after_s"),
        "revoked_socket_close_code": revoked.get("close_code"),
        "sends_accepted_after_revocation": revoked.get("acks"),
        "events_after_removal": gone.get("events"),
    }


async def _open(url: str, user: User) -> ClientConnection:
    return await connect(
        url,
        subprotocols=["tipline.v1", f"tipline.auth.{user.token}"],  # type: ignore[list-item]
        max_size=None,
        max_queue=None,
    )


@contextlib.asynccontextmanager
async def chaos_cluster(workload: Workload, **env: str) -> AsyncIterator[tuple[Chaos, OwnPostgres, RedisServer]]:
    """A PostgreSQL and a Redis of the run's own, a 3-node cluster on them (``env`` on top of
    CHAOS_ENV) that reaches Redis through a :class:`TcpProxy` (``Chaos.redis_link``), the
    clients connected."""
    async with own_postgres() as pg, redis_server() as redis:
        link = TcpProxy("127.0.0.1", ("127.0.0.1", redis.port))
        await link.start()
        try:
            async with running_cluster(
                3, redis_url=f"redis://{link.address}", admin_url=pg.admin_url, **(CHAOS_ENV | env)
            ) as cluster:
                run = Chaos(cluster, workload, redis_link=link)
                await run.setup()
                try:
                    yield run, pg, redis
                finally:
                    await run.stop_traffic()
                    for m in run.members:
                        await m.stop()
        finally:
            await link.close()
