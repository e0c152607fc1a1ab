"""The recent-message cache in Redis: the latest messages of each conversation, for history
pages and resume without reading PostgreSQL. See docs/subsystems/messages.md, "Cache".

Every change is written through after its commit, and every entry carries a version: the
conversation seq of the last event its state reflects (its own seq when created, the seq of
the edit, delete or reaction event since). A Lua script replaces an entry only with a newer
version, so a slow writer never overwrites a newer state, whatever order writes arrive in.

What the cache may serve is bounded by two numbers per conversation, kept with the entries:

* ``hi``: every event with seq <= hi has been applied. It advances only contiguously (seqs
  applied above it wait in a set until the gap closes), so a write that never arrived (a node
  killed between its commit and its cache write, Redis unreachable for a moment, an event of
  another area such as a membership change) holds it back.
* ``lo``: every message with seq >= lo is present.

A read passes the conversation's ``last_seq`` from the access check it makes in PostgreSQL
anyway; the cache answers only when ``hi >= last_seq`` and the requested range lies above
``lo``. Otherwise the caller reads PostgreSQL, and refills the window from one snapshot taken
at ``V = last_seq``: entries written at version V lose against any newer write-through, and
win against an older one still in flight (its state is already in the snapshot).

All keys of a conversation share the hash tag ``{<id>}``, so they live on one Redis Cluster
shard and one script can touch them all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

log = logging.getLogger(__name__)

# Keys, in the order every script receives them.
_PARTS = ("z", "e", "v", "p", "rc", "ev", "meta", "pend", "t")

# Shared helpers: apply one message entry (version-checked), one event, advance hi, trim.
_LIB = r"""
local z, e, v, p, rc, ev = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local meta, pend, t = KEYS[7], KEYS[8], KEYS[9]

local function alive_parent(info)
  if not info then return nil end
  local id, parent, alive = string.match(info, '^(%d+)|(%d*)|(%d)$')
  if parent ~= '' and alive == '1' then return parent end
  return nil
end

-- An entry replaces the stored one only if its version is newer. The reply counts of
-- parents follow from the entries themselves (one delta per replaced entry).
local function put_entry(seq, version, id, parent, alive, created, json)
  local cur = redis.call('HGET', v, seq)
  if cur and tonumber(cur) >= tonumber(version) then return end
  local old = alive_parent(redis.call('HGET', p, seq))
  if old then redis.call('HINCRBY', rc, old, -1) end
  local info = id .. '|' .. parent .. '|' .. alive
  local new = alive_parent(info)
  if new then redis.call('HINCRBY', rc, new, 1) end
  redis.call('HSET', e, seq, json)
  redis.call('HSET', v, seq, version)
  redis.call('HSET', p, seq, info)
  redis.call('ZADD', z, seq, seq)
  redis.call('ZADD', t, created, seq)
end

local function put_event(seq, json)
  redis.call('ZREMRANGEBYSCORE', ev, seq, seq)
  redis.call('ZADD', ev, seq, json)
end

local function absorb(hi)
  redis.call('ZREMRANGEBYSCORE', pend, '-inf', hi)
  while redis.call('ZSCORE', pend, hi + 1) do
    hi = hi + 1
    redis.call('ZREM', pend, hi)
  end
  redis.call('HSET', meta, 'hi', hi)
end

-- Keep the newest `keep` messages created after `cutoff`; everything at or below the cut goes.
local function trim(keep, cutoff)
  local cut = nil
  local n = redis.call('ZCARD', z)
  if n > keep then
    cut = tonumber(redis.call('ZRANGE', z, n - keep - 1, n - keep - 1)[1])
  end
  local old = redis.call('ZREVRANGEBYSCORE', t, cutoff, '-inf', 'LIMIT', 0, 1)
  if old[1] and (not cut or tonumber(old[1]) > cut) then cut = tonumber(old[1]) end
  if not cut then return end
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', cut)) do
    local info = redis.call('HGET', p, seq)
    if info then
      local par = alive_parent(info)
      if par then redis.call('HINCRBY', rc, par, -1) end
      redis.call('HDEL', rc, string.match(info, '^(%d+)'))
    end
    redis.call('HDEL', e, seq)
    redis.call('HDEL', v, seq)
    redis.call('HDEL', p, seq)
    redis.call('ZREM', t, seq)
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', cut)
  redis.call('ZREMRANGEBYSCORE', ev, '-inf', cut)
  local lo = tonumber(redis.call('HGET', meta, 'lo'))
  if lo and lo <= cut then redis.call('HSET', meta, 'lo', cut + 1) end
end

local function expire(ttl)
  for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ttl) end
end

-- ARGV from `at`: n entries of 7 values, then m events of 2 values. Returns the next index.
local function put_all(at)
  local n = tonumber(ARGV[at])
  at = at + 1
  for _ = 1, n do
    put_entry(ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5], ARGV[at + 6])
    at = at + 7
  end
  local m = tonumber(ARGV[at])
  at = at + 1
  for _ = 1, m do
    put_event(ARGV[at], ARGV[at + 1])
    at = at + 2
  end
  return at
end
"""

# ARGV: keep, cutoff, ttl, k, seq_1..seq_k (every seq the transaction took), entries, events.
_APPLY = (
    _LIB
    + r"""
local keep, cutoff, ttl, k = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local seqs = {}
for i = 1, k do seqs[i] = tonumber(ARGV[4 + i]) end
put_all(5 + k)
local hi = tonumber(redis.call('HGET', meta, 'hi'))
if not hi then
  -- A cold conversation starts its coverage at this write: nothing older is claimed.
  hi = seqs[1] - 1
  redis.call('HSET', meta, 'lo', seqs[1])
end
for i = 1, k do
  if seqs[i] > hi then redis.call('ZADD', pend, seqs[i], seqs[i]) end
end
absorb(hi)
trim(keep, cutoff)
expire(ttl)
return 1
"""
)

# ARGV: keep, cutoff, ttl, V (the snapshot's last_seq), lo (coverage of the snapshot), entries, events.
_FILL = (
    _LIB
    + r"""
local keep, cutoff, ttl, V, lo = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
put_all(6)
local hi = tonumber(redis.call('HGET', meta, 'hi'))
local old_lo = tonumber(redis.call('HGET', meta, 'lo'))
if hi and hi >= V then
  -- Write-throughs already went past the snapshot; they applied to every entry present,
  -- so the snapshot's older messages extend the coverage downwards.
  if old_lo and old_lo < lo then lo = old_lo end
else
  hi = V
end
redis.call('HSET', meta, 'lo', lo)
absorb(hi)
trim(keep, cutoff)
expire(ttl)
return 1
"""
)

# ARGV: mode, last_seq, a, b, limit, keep. mode "page": the newest `limit`+1 messages below b
# (b = 0: no bound), or with a > -1 the oldest `limit`+1 above a (and below b). mode
# "replay": every message and event above a. Returns {status} or {1, n, (json, reply_count)*n,
# event_json*}: status 0 when a refill would help (behind last_seq, or below the coverage of a
# window not full yet), 2 when the range is older than the window.
_READ = r"""
local z, e, p, rc, ev, meta = KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local mode, last = ARGV[1], tonumber(ARGV[2])
local a, b, limit, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local hi = tonumber(redis.call('HGET', meta, 'hi'))
local lo = tonumber(redis.call('HGET', meta, 'lo'))
if not hi or not lo or hi < last then return {0} end
-- Below the coverage: a refill helps only while the window has room for older messages.
local below = 2
if redis.call('ZCARD', z) < keep then below = 0 end
local top = '+inf'
if b > 0 then top = '(' .. b end
local seqs
if mode == 'replay' or a >= 0 then
  if a + 1 < lo then return {below} end
  if mode == 'replay' then
    seqs = redis.call('ZRANGEBYSCORE', z, '(' .. a, '+inf')
  else
    seqs = redis.call('ZRANGEBYSCORE', z, '(' .. a, top, 'LIMIT', 0, limit + 1)
  end
else
  seqs = redis.call('ZREVRANGEBYSCORE', z, top, lo, 'LIMIT', 0, limit + 1)
  if #seqs <= limit and lo > 1 then return {below} end
end
local out = {1, #seqs}
for _, seq in ipairs(seqs) do
  local json, info = redis.call('HGET', e, seq), redis.call('HGET', p, seq)
  -- A key evicted under memory pressure leaves holes: answer from PostgreSQL instead.
  if not json or not info then return {0} end
  out[#out + 1] = json
  out[#out + 1] = redis.call('HGET', rc, string.match(info, '^(%d+)')) or '0'
end
if mode == 'replay' then
  for _, item in ipairs(redis.call('ZRANGEBYSCORE', ev, '(' .. a, '+inf')) do out[#out + 1] = item end
end
return out
"""


@dataclass(frozen=True)
class Entry:
    """One message in the state of version ``version`` (a conversation seq)."""

    message: dict[str, Any]  # message_dict() shape; reply_count is recomputed by the cache
    version: int
    created_ts: float

    def argv(self) -> list[Any]:
        m = self.message
        parent = m["reply_to_id"] if m["reply_to_id"] is not None else ""
        body = {k: val for k, val in m.items() if k != "reply_count"}
        alive = 0 if m["deleted"] else 1
        return [m["seq"], self.version, m["id"], parent, alive, self.created_ts, orjson.dumps(body)]


@dataclass(frozen=True)
class Event:
    """A logged non-creation event (edit, delete, reaction, membership...) as replay sends it."""

    seq: int
    event: str
    data: dict[str, Any]

    def argv(self) -> list[Any]:
        return [self.seq, orjson.dumps({"seq": self.seq, "event": self.event, "data": self.data})]


@dataclass
class Hit:
    messages: list[dict[str, Any]]  # ascending by seq, reply_count filled in
    events: list[Event]


Status = Literal["stale", "outside"]


@dataclass
class CacheStats:
    """Counters for the metrics endpoint and the benchmarks (this process only)."""

    hits: int = 0
    misses: int = 0
    fills: int = 0
    errors: int = 0
    db_reads_saved: int = 0  # the SQL queries a hit did not run (messages, reactions, replies...)


stats = CacheStats()


class MessageCache(Protocol):
    async def apply(self, conversation_id: int, *, seqs: list[int], entries: list[Entry], events: list[Event]) -> None:
        """Write through what a committed transaction did (``seqs``: every seq it took)."""

    async def fill(
        self, conversation_id: int, *, version: int, lo: int, entries: list[Entry], events: list[Event]
    ) -> None:
        """Load a snapshot taken at ``version`` covering every message with seq >= ``lo``."""

    async def page(
        self, conversation_id: int, *, last_seq: int, before: int | None, after: int | None, limit: int
    ) -> list[dict[str, Any]] | Status:
        """Up to ``limit + 1`` messages ascending (as the SQL read), or why the cache cannot answer."""

    async def encoded_page(
        self, conversation_id: int, *, last_seq: int, before: int | None, after: int | None, limit: int
    ) -> list[bytes] | Status:
        """``page`` with each message as its JSON object, not decoded (nothing to mask)."""

    async def replay(self, conversation_id: int, *, last_seq: int, since: int) -> Hit | Status: ...

    async def forget(self, conversation_id: int) -> None:
        """Drop the conversation's entries (messages deleted in bulk); the next read refills it."""

    async def close(self) -> None: ...


class RedisMessageCache:
    def __init__(self, client: Any, *, prefix: str, keep: int, max_age_s: float, clock: Any = None) -> None:
        import time

        self._client = client
        self._prefix = prefix
        self._keep = keep
        self._max_age_s = max_age_s
        self._ttl = max(60, int(max_age_s) + 3600)
        self._clock = clock or time.time
        self._apply = client.register_script(_APPLY)
        self._fill = client.register_script(_FILL)
        self._read = client.register_script(_READ)

    def keys(self, conversation_id: int) -> list[str]:
        return [f"{self._prefix}mc:{{{conversation_id}}}:{part}" for part in _PARTS]

    def _window(self) -> list[Any]:
        return [self._keep, self._clock() - self._max_age_s, self._ttl]

    @staticmethod
    def _items(entries: list[Entry], events: list[Event]) -> list[Any]:
        argv: list[Any] = [len(entries)]
        for entry in entries:
            argv += entry.argv()
        argv.append(len(events))
        for event in events:
            argv += event.argv()
        return argv

    async def apply(self, conversation_id: int, *, seqs: list[int], entries: list[Entry], events: list[Event]) -> None:
        argv = [*self._window(), len(seqs), *sorted(seqs), *self._items(entries, events)]
        await self._apply(keys=self.keys(conversation_id), args=argv)

    async def fill(
        self, conversation_id: int, *, version: int, lo: int, entries: list[Entry], events: list[Event]
    ) -> None:
        argv = [*self._window(), version, lo, *self._items(entries, events)]
        await self._fill(keys=self.keys(conversation_id), args=argv)

    async def _run_read(self, conversation_id: int, argv: list[Any]) -> list[Any] | Status:
        out = await self._read(keys=self.keys(conversation_id), args=argv)
        if out[0] == 0:
            return "stale"
        if out[0] == 2:
            return "outside"
        return list(out)

    @staticmethod
    def _encoded(out: list[Any], *, descending: bool) -> list[bytes]:
        """The entries as complete JSON objects, in seq order, without decoding them: each entry
        is stored as the message's JSON less ``reply_count``, which goes last (schemas.MESSAGE_FIELDS)."""
        n = int(out[1])
        found = [out[2 + 2 * i][:-1] + b',"reply_count":' + out[3 + 2 * i] + b"}" for i in range(n)]
        if descending:
            found.reverse()
        return found

    @classmethod
    def _messages(cls, out: list[Any], *, descending: bool) -> list[dict[str, Any]]:
        return [orjson.loads(m) for m in cls._encoded(out, descending=descending)]

    async def _page(
        self, conversation_id: int, *, last_seq: int, before: int | None, after: int | None, limit: int
    ) -> list[Any] | Status:
        argv = ["page", last_seq, -1 if after is None else after, before or 0, limit, self._keep]
        return await self._run_read(conversation_id, argv)

    async def page(
        self, conversation_id: int, *, last_seq: int, before: int | None, after: int | None, limit: int
    ) -> list[dict[str, Any]] | Status:
        out = await self._page(conversation_id, last_seq=last_seq, before=before, after=after, limit=limit)
        # Without ``after`` the script walks down from the newest (ZREVRANGEBYSCORE).
        return out if isinstance(out, str) else self._messages(out, descending=after is None)

    async def encoded_page(
        self, conversation_id: int, *, last_seq: int, before: int | None, after: int | None, limit: int
    ) -> list[bytes] | Status:
        """``page``, each message as its JSON object, for a reader from whom nothing is hidden."""
        out = await self._page(conversation_id, last_seq=last_seq, before=before, after=after, limit=limit)
        return out if isinstance(out, str) else self._encoded(out, descending=after is None)

    async def replay(self, conversation_id: int, *, last_seq: int, since: int) -> Hit | Status:
        out = await self._run_read(conversation_id, ["replay", last_seq, since, 0, 0, self._keep])
        if isinstance(out, str):
            return out
        events = []
        for raw in out[2 + 2 * int(out[1]) :]:
            item = orjson.loads(raw)
            events.append(Event(seq=item["seq"], event=item["event"], data=item["data"]))
        return Hit(messages=self._messages(out, descending=False), events=events)

    async def forget(self, conversation_id: int) -> None:
        await self._client.delete(*self.keys(conversation_id))

    async def close(self) -> None:
        await self._client.aclose()


async def write_through(
    cache: MessageCache | None, conversation_id: int, *, seqs: list[int], entries: list[Entry], events: list[Event]
) -> None:
    """After a commit. A failed write only holds ``hi`` back: readers go to PostgreSQL and refill."""
    if cache is None or not seqs:
        return
    try:
        await cache.apply(conversation_id, seqs=seqs, entries=entries, events=events)
    except Exception as exc:
        stats.errors += 1
        log.warning("message cache write for conversation %d failed: %s", conversation_id, exc)


def entry(message: dict[str, Any], version: int) -> Entry:
    return Entry(message=message, version=version, created_ts=message["created_at"].timestamp())
