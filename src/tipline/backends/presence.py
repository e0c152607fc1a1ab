"""Presence (online / away / offline) and the typing throttle, for one node or many.

A user is online when any of their sockets, on any node, says so; away when all of them are
away; offline when none is left. Each node records, per user, its own local status; the
store aggregates. With Redis, each node's entry carries an expiry that the node refreshes,
so a node that dies without saying goodbye stops counting within ``ttl_s``.
See docs/subsystems/presence.md.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RANK = {"offline": 0, "away": 1, "online": 2}


def aggregate(statuses: list[str]) -> str:
    best = "offline"
    for status in statuses:
        if RANK[status] > RANK[best]:
            best = status
    return best


class PresenceStore(Protocol):
    async def set(self, user_id: int, node: str, status: str | None) -> tuple[str, str]:
        """Record this node's status for the user (None: no socket left here).

        Returns the user's overall presence (before, after) the change.
        """

    async def get_many(self, user_ids: list[int]) -> dict[int, str]: ...

    async def refresh(self, node: str, statuses: dict[int, str]) -> None:
        """Keep this node's entries alive (called periodically)."""

    async def typing_allowed(self, user_id: int, conversation_id: int, throttle_s: float) -> bool: ...

    async def close(self) -> None: ...


class MemoryPresence:
    """One process: the embedded default."""

    def __init__(self) -> None:
        self._nodes: dict[int, dict[str, str]] = {}
        self._typing: dict[tuple[int, int], float] = {}

    async def set(self, user_id: int, node: str, status: str | None) -> tuple[str, str]:
        entries = self._nodes.setdefault(user_id, {})
        before = aggregate(list(entries.values()))
        if status is None:
            entries.pop(node, None)
        else:
            entries[node] = status
        after = aggregate(list(entries.values()))
        if not entries:
            del self._nodes[user_id]
        return before, after

    async def get_many(self, user_ids: list[int]) -> dict[int, str]:
        return {uid: aggregate(list(self._nodes.get(uid, {}).values())) for uid in user_ids}

    async def refresh(self, node: str, statuses: dict[int, str]) -> None:
        return None

    async def typing_allowed(self, user_id: int, conversation_id: int, throttle_s: float) -> bool:
        now = time.monotonic()
        key = (user_id, conversation_id)
        if now - self._typing.get(key, -1e9) < throttle_s:
            return False
        self._typing[key] = now
        if len(self._typing) > 100_000:
            self._typing = {k: t for k, t in self._typing.items() if now - t < throttle_s}
        return True

    async def close(self) -> None:
        self._nodes.clear()


# KEYS[1] = the user's hash (node -> "status:expires_ms"); ARGV = node, status ("" to remove),
# ttl in ms. Uses the server's clock so every node agrees; returns {before, after}.
_SET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function agg()
  local best = 'offline'
  local vals = redis.call('HGETALL', KEYS[1])
  for i = 1, #vals, 2 do
    local v = vals[i + 1]
    local sep = string.find(v, ':', 1, true)
    if sep and tonumber(string.sub(v, sep + 1)) > now then
      if string.sub(v, 1, sep - 1) == 'online' then return 'online' end
      best = 'away'
    end
  end
  return best
end
local before = agg()
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[3])))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
end
return {before, agg()}
"""


class RedisPresence:
    """Shared by every node through Redis (REDIS_URL)."""

    def __init__(self, client: Any, *, prefix: str = "tipline:", ttl_s: float = 60.0) -> None:
        self._client = client
        self._prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self._set = client.register_script(_SET_LUA)

    def _key(self, user_id: int) -> str:
        return f"{self._prefix}presence:{{{user_id}}}"

    async def set(self, user_id: int, node: str, status: str | None) -> tuple[str, str]:
        try:
            before, after = await self._set(keys=[self._key(user_id)], args=[node, status or "", self.ttl_ms])
        except RedisError:
            log.warning("presence store unavailable")
            return "offline", "offline"
        return _text(before), _text(after)

    async def get_many(self, user_ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        try:
            for uid in user_ids:
                # Re-asserting nothing: an empty status for a node that has no entry only reads.
                _, after = await self._set(keys=[self._key(uid)], args=["-", "", self.ttl_ms])
                out[uid] = _text(after)
        except RedisError:
            log.warning("presence store unavailable")
            return {uid: "offline" for uid in user_ids}
        return out

    async def refresh(self, node: str, statuses: dict[int, str]) -> None:
        try:
            for uid, status in statuses.items():
                await self._set(keys=[self._key(uid)], args=[node, status, self.ttl_ms])
        except RedisError:
            log.warning("presence refresh failed; retrying on the next round")

    async def typing_allowed(self, user_id: int, conversation_id: int, throttle_s: float) -> bool:
        key = f"{self._prefix}typing:{{{user_id}}}:{conversation_id}"
        try:
            return bool(await self._client.set(key, b"1", px=max(1, int(throttle_s * 1000)), nx=True))
        except RedisError:
            return True

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
