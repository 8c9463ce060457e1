"""Flood control and the operators' group rate, held for all instances together: the same
decisions as bot/telegram/flood.py's TokenBuckets and bot/support/handoff.py's RateWindow, each
made by one Lua script in Redis (atomic, on Redis's own clock), so that three instances let a
user through exactly as one would. A bucket's key expires once it would be full again: an
idle bucket vanishes, as one in memory is forgotten.

When Redis fails, flood control lets everything through (fails open, one WARNING until it
works again) and the operators' rate falls back to this instance's own window."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from bot.cluster.redis import Cluster, Warned, redis_errors
from bot.support.handoff import RateWindow

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

# KEYS: the sender's bucket, then the group's (when the message is in a group).
# ARGV: rate, burst, group rate, group burst (tokens a second and at most), the album ("": none).
# Returns {verdict, whose}: verdict 0 pass, 1 notice, 2 drop; whose 0 the sender, 1 the group.
# The group's bucket is asked only when the sender's own would let the message through; the
# group's notice is given again only once it has been quiet until full (flood.py's rules).
FLOOD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local album = ARGV[5]

local function load(key, rate, burst, quiet)
  local h = redis.call('HMGET', key, 'tokens', 'stamp', 'warned', 'album', 'passed')
  local b = {tokens = burst, warned = false, album = h[4] or '', passed = h[5] == '1'}
  if h[1] then
    b.tokens = math.min(burst, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * rate)
    b.warned = h[3] == '1'
    if quiet and b.tokens >= burst then b.warned = false end
  end
  return b
end

local function take(key, rate, burst, quiet)
  local b = load(key, rate, burst, quiet)
  local verdict
  if album ~= '' and album == b.album then
    if b.passed then verdict = 0 else verdict = 2 end
  else
    if b.tokens >= 1 then
      b.tokens = b.tokens - 1
      if not quiet then b.warned = false end
      verdict = 0
    elseif b.warned then
      verdict = 2
    else
      b.warned = true
      verdict = 1
    end
    b.album = album
    b.passed = verdict == 0
  end
  redis.call('HSET', key, 'tokens', string.format('%.17g', b.tokens),
    'stamp', string.format('%.6f', now), 'warned', b.warned and '1' or '0',
    'album', b.album, 'passed', b.passed and '1' or '0')
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000))
  return verdict
end

local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
if #KEYS == 2 then
  local sender = load(KEYS[1], rate, burst, false)
  local passes = sender.tokens >= 1
  if album ~= '' and album == sender.album then passes = sender.passed end
  if passes then
    local verdict = take(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), true)
    if verdict ~= 0 then return {verdict, 1} end
  end
end
return {take(KEYS[1], rate, burst, false), 0}
"""

# KEYS: the window (a sorted set of send times). ARGV: limit, period (ms), a unique member.
# Returns 0 when a slot was taken, else the milliseconds until the oldest one frees.
WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + period - now)
"""

PASS, NOTICE, DROP = 0, 1, 2
WHOSE = ("sender", "group")


class SharedBuckets:
    """The flood control buckets of every instance: per sender, per group (see flood.py)."""

    def __init__(
        self, cluster: Cluster, rate: float, burst: int, group_rate: float, group_burst: int
    ) -> None:
        self.cluster = cluster
        self.args = (rate, burst, group_rate, group_burst)
        self._script: AsyncScript = cluster.client.register_script(FLOOD_SCRIPT)
        self._errors = redis_errors()
        self._warned = Warned("flood control")

    async def verdict(self, sender: int, group: int | None, album: str | None) -> tuple[int, str]:
        """(PASS, NOTICE or DROP, whose limit gave it): flood.py's Verdict by its value."""
        keys = [self.cluster.key("flood", "sender", sender)]
        if group is not None:
            keys.append(self.cluster.key("flood", "group", group))
        try:
            verdict, whose = await self._script(keys=keys, args=[*self.args, album or ""])
        except self._errors as exc:
            self._warned.failed(exc, "messages are let through without flood control")
            return PASS, "sender"
        self._warned.worked()
        return int(verdict), WHOSE[int(whose)]


class SharedWindow:
    """At most `limit` sends to the operators' group in any `period` seconds, counted over
    every instance; the caller waits for a free slot."""

    def __init__(self, cluster: Cluster, limit: int, period: float = 60.0) -> None:
        self.key = cluster.key("operator-rate")
        self.limit = limit
        self.period_ms = round(period * 1000)
        self._script: AsyncScript = cluster.client.register_script(WINDOW_SCRIPT)
        self._errors = redis_errors()
        self._warned = Warned("the operators' group rate")
        # While Redis is away: this instance's own window, which Telegram's limit still holds.
        self._local = RateWindow(limit, period)

    async def try_acquire(self) -> float:
        """Take a slot: 0.0; else the seconds until one frees (nothing taken). Raises what a
        Redis command raises."""
        wait_ms = await self._script(
            keys=[self.key], args=[self.limit, self.period_ms, uuid.uuid4().hex]
        )
        return int(wait_ms) / 1000

    async def acquire(self) -> None:
        while True:
            try:
                wait = await self.try_acquire()
            except self._errors as exc:
                self._warned.failed(exc, "the rate is counted by this instance alone")
                await self._local.acquire()
                return
            self._warned.worked()
            if not wait:
                return
            await asyncio.sleep(wait)
