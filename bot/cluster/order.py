"""One chat's updates handled by one instance at a time: the chat's lock in Redis, as
aiogram's RedisEventIsolation builds it (its key builder, its client), held while an update is
handled (ChatOrder in bot/telegram/middlewares.py takes it after the chat's turn in this
process).

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

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = 30.0  # seconds a lock outlives its holder's last renewal
# Seconds an update waits for its chat: long enough for a dead holder's lock to expire.
LOCK_WAIT = LOCK_TIMEOUT + 5.0
LOCK_POLL = 0.02  # seconds between tries while another instance holds the chat


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
                "blocking_timeout": LOCK_WAIT,
                "sleep": LOCK_POLL,
                "thread_local": False,  # one thread, many tasks: the token stays on the lock
            },
        )
        self._errors = redis_errors()
        self._warned = Warned("the per-chat lock")

    def _lock(self, bot_id: int, chat_id: int) -> Lock:
        from aiogram.fsm.storage.base import StorageKey
        from redis.asyncio.lock import Lock

        # aiogram's isolation.lock() builds the same lock but hides it; renewing it needs it.
        isolation = self.isolation
        name = isolation.key_builder.build(StorageKey(bot_id, chat_id, chat_id), "lock")
        return Lock(isolation.redis, name, **isolation.lock_kwargs)

    @asynccontextmanager
    async def hold(self, bot_id: int, chat_id: int) -> AsyncIterator[None]:
        lock = self._lock(bot_id, chat_id)
        try:
            acquired = await lock.acquire()
        except self._errors as exc:
            self._warned.failed(exc, "updates are handled without it")
            yield
            return
        self._warned.worked()
        if not acquired:
            logger.warning("chat %s: still locked after %s s: handled anyway", chat_id, LOCK_WAIT)
            yield
            return
        # Most updates are done long before a renewal is due: a timer, not a task each.
        renewing: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            LOCK_TIMEOUT / 3, lambda: renewing.append(asyncio.create_task(self._renew(lock)))
        )
        try:
            yield
        finally:
            timer.cancel()
            for task in renewing:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                await lock.release()
            except self._errors as exc:  # expired, or Redis restarted: nothing left to free
                logger.warning("chat %s: lock not released (%s)", chat_id, type(exc).__name__)

    async def _renew(self, lock: Lock) -> None:
        while True:
            try:
                await lock.reacquire()
            except self._errors as exc:
                self._warned.failed(exc, "a long update may lose its chat's lock")
            await asyncio.sleep(LOCK_TIMEOUT / 3)
