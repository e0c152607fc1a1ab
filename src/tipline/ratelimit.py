"""Rate limits shared by every node: GCRA (a leaky bucket kept as one timestamp per key).

Each rule allows ``limit`` calls per ``window_s``, as a burst or spread out. The state of a
key is its *theoretical arrival time* (TAT): one number, updated atomically. The in-memory
limiter serves a single process (the embedded default); the Redis limiter runs the same
arithmetic in one Lua script, so the limit holds however calls spread over nodes.
See docs/subsystems/rate-limits.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from tipline.errors import RateLimited

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_s: float

    @property
    def interval(self) -> float:
        return self.window_s / self.limit


class Limiter(Protocol):
    async def hit(self, rule: Rule, key: str) -> float:
        """Count one call; return 0 if allowed, else the seconds to wait before retrying."""

    async def close(self) -> None: ...


def gcra(tat: float | None, now: float, rule: Rule) -> tuple[float, float]:
    """(new TAT to store, retry-after); retry-after > 0 means refused (TAT unchanged)."""
    start = now if tat is None or tat < now else tat
    new_tat = start + rule.interval
    allow_at = new_tat - rule.window_s
    if allow_at > now:
        return (tat if tat is not None else now), allow_at - now
    return new_tat, 0.0


class MemoryLimiter:
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._last_sweep = time.monotonic()

    async def hit(self, rule: Rule, key: str) -> float:
        now = time.monotonic()
        full = f"{rule.name}:{key}"
        new_tat, retry = gcra(self._tat.get(full), now, rule)
        if retry == 0:
            self._tat[full] = new_tat
        if now - self._last_sweep > 60:
            self._last_sweep = now
            self._tat = {k: t for k, t in self._tat.items() if t > now}
        return retry

    async def close(self) -> None:
        self._tat.clear()


# KEYS[1] = key; ARGV = interval (ms), window (ms). Uses the server clock so every node
# agrees on "now". Returns 0 when allowed, else the retry-after in ms.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if allow_at > now then
  return math.ceil(allow_at - now)
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
return 0
"""


class RedisLimiter:
    def __init__(self, client: Any, *, prefix: str = "tipline:rl:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_GCRA_LUA)

    async def hit(self, rule: Rule, key: str) -> float:
        # One hash tag per key keeps it on one shard in a Redis Cluster.
        full = f"{self._prefix}{{{rule.name}:{key}}}"
        try:
            retry_ms = await self._script(keys=[full], args=[rule.interval * 1000, rule.window_s * 1000])
        except RedisError as exc:
            # Fail open: an unreachable Redis must not lock everyone out of sign-in and
            # sending; readiness already reports it.
            log.warning("rate limiter unavailable (%r); allowing %s", exc, rule.name)
            return 0.0
        return float(retry_ms) / 1000.0

    async def close(self) -> None:
        await self._client.aclose()


class Limits:
    """The rules Tipline enforces, built from settings; ``check`` raises RateLimited (429)."""

    def __init__(self, limiter: Limiter, *, enabled: bool, rules: dict[str, Rule]) -> None:
        self.limiter = limiter
        self.enabled = enabled
        self.rules = rules

    async def check(self, rule_name: str, key: str) -> None:
        if not self.enabled:
            return
        rule = self.rules[rule_name]
        retry = await self.limiter.hit(rule, key)
        if retry > 0:
            raise RateLimited(
                f"too many requests ({rule.limit} per {rule.window_s:g} s); retry in {retry:.1f} s",
                retry_after=retry,
            )


def parse_rule(name: str, spec: str) -> Rule:
    """``"10/60"`` -> 10 calls per 60 seconds."""
    count, _, window = spec.partition("/")
    return Rule(name=name, limit=int(count), window_s=float(window))
