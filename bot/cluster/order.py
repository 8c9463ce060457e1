"""One chat's updates handled by one instance at a time, in the order Telegram numbered them:
the chat's lock in Redis, as aiogram's RedisEventIsolation builds it (its key builder, its
client), held while an update is handled (ChatOrder in bot/telegram/middlewares.py takes it
after the chat's turn in this process).

Behind a load balancer a chat's quick messages reach several instances at once, and a plain
lock goes to whichever asks first. So an update first stands in the chat's line in Redis (a
sorted set of update ids, each entry renewed while its update waits and gone LINE_ENTRY_TTL
after its instance stopped renewing it) and asks for the lock only when no earlier update of
the chat is waiting.

The lock expires LOCK_TIMEOUT seconds after it was last renewed, so an instance that dies
holding it blocks its chat for that long at most; a live handler renews it every third of
that (a reply waiting out Telegram's 429s can take longer than the timeout). An update that
waits longer than a dead holder could hold the lock, or meets a Redis that does not answer,
is handled without it (fails open, a WARNING until the lock works again): the bot answers
rather than wait for Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.cluster.redis import Cluster, Warned, redis_errors

if TYPE_CHECKING:
    from aiogram.fsm.storage.redis import RedisEventIsolation
    from redis.asyncio.lock import Lock
    from redis.commands.core import AsyncScript

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = 30.0  # seconds a lock outlives its holder's last renewal
# Seconds an update waits for its chat: long enough for a dead holder's lock to expire.
LOCK_WAIT = LOCK_TIMEOUT + 5.0
LOCK_POLL = 0.02  # seconds between tries while another update holds the chat
LINE_ENTRY_TTL = 5.0  # seconds a waiting update's place in line outlives its last renewal

# KEYS: the chat's line. ARGV: the update id, the entry's ttl (ms). Renews the update's place
# (forgetting places not renewed in time) and says whether no earlier update waits: 1 or 0.
TURN_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local mine = tonumber(ARGV[1])
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if tonumber(member) < mine then return 0 end
end
return 1
"""


class ChatLocks:
    """The per-chat locks every instance shares."""

    def __init__(self, cluster: Cluster) -> None:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisEventIsolation

        builder = DefaultKeyBuilder(prefix=cluster.key("fsm"), with_bot_id=True)
        self.isolation: RedisEventIsolation = RedisEventIsolation(
            cluster.client,
            builder,
            lock_kwargs={
                "timeout": LOCK_TIMEOUT,
                "thread_local": False,  # one thread, many tasks: the token stays on the lock
            },
        )
        self.client = cluster.client
        self._turn: AsyncScript = cluster.client.register_script(TURN_SCRIPT)
        self._errors = redis_errors()
        self._warned = Warned("the per-chat lock")

    def _name(self, bot_id: int, chat_id: int) -> str:
        from aiogram.fsm.storage.base import StorageKey

        return self.isolation.key_builder.build(StorageKey(bot_id, chat_id, chat_id), "lock")

    def line(self, bot_id: int, chat_id: int) -> str:
        """The key of the chat's line: the ids of its updates waiting for the lock."""
        return f"{self._name(bot_id, chat_id)}:line"

    def _lock(self, bot_id: int, chat_id: int) -> tuple[Lock, str]:
        """The chat's lock and the key of its line."""
        from redis.asyncio.lock import Lock

        # aiogram's isolation.lock() builds the same lock but hides it; renewing it needs it.
        isolation = self.isolation
        lock = Lock(isolation.redis, self._name(bot_id, chat_id), **isolation.lock_kwargs)
        return lock, self.line(bot_id, chat_id)

    @asynccontextmanager
    async def hold(self, bot_id: int, chat_id: int, update_id: int) -> AsyncIterator[None]:
        """The chat's lock, once every earlier update of the chat waiting in line has had it."""
        lock, line = self._lock(bot_id, chat_id)
        try:
            acquired = await self._acquire(lock, line, update_id)
        except self._errors as exc:
            self._warned.failed(exc, "updates are handled without it")
            yield
            return
        self._warned.worked()
        if not acquired:
            logger.warning("chat %s: still locked after %s s: handled anyway", chat_id, LOCK_WAIT)
        # Most updates are done long before a renewal is due: a timer, not a task each.
        renewing: list[asyncio.Task[None]] = []
        timer = None
        if acquired:
            timer = asyncio.get_running_loop().call_later(
                LOCK_TIMEOUT / 3, lambda: renewing.append(asyncio.create_task(self._renew(lock)))
            )
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            for task in renewing:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._leave(lock if acquired else None, line, update_id, chat_id)

    async def _acquire(self, lock: Lock, line: str, update_id: int) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT
        entry_ttl = round(LINE_ENTRY_TTL * 1000)
        while True:
            first = await self._turn(keys=[line], args=[update_id, entry_ttl])
            if first and await lock.acquire(blocking=False):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(LOCK_POLL)

    async def _leave(self, lock: Lock | None, line: str, update_id: int, chat_id: int) -> None:
        """Out of the line (the place of an update handled without the lock too), then the
        lock released."""
        try:
            if lock is not None:
                await lock.release()
            await self.client.zrem(line, update_id)
        except self._errors as exc:  # expired, or Redis restarted: nothing left to free
            logger.warning("chat %s: lock not released (%s)", chat_id, type(exc).__name__)

    async def _renew(self, lock: Lock) -> None:
        while True:
            try:
                await lock.reacquire()
            except self._errors as exc:
                self._warned.failed(exc, "a long update may lose its chat's lock")
            await asyncio.sleep(LOCK_TIMEOUT / 3)
