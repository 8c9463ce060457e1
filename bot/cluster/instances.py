"""The instances on one database, as the live-handoff desk needs them: which one this is, which
others are alive (a heartbeat each: a lease on the instance's own name), and a lock all of them
share (a customer's topic is opened under it).

A message for the operators' group is queued by the instance that got it, in the database under
its name; if that instance dies, a live one takes over what it left (bot.support.handoff).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import cast

from bot.cluster.leases import Lease
from bot.cluster.redis import Cluster, Warned, redis_errors

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = 30.0  # seconds a shared lock outlives an instance that died holding it


class Instances:
    """This instance among the others sharing `cluster`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.me = uuid.uuid4().hex
        self._heartbeat = Lease(cluster, f"instance:{self.me}")
        self._errors = redis_errors()
        self._warned = Warned("the shared lock")

    async def beat(self, ttl: float) -> None:
        """Alive for `ttl` seconds more."""
        await self._heartbeat.hold(ttl)

    async def alive(self, owner: str) -> bool:
        """Whether instance `owner` has beaten lately. While Redis does not answer: yes (what
        an instance queued is never taken from it on a guess)."""
        try:
            key = self.cluster.key("lease", f"instance:{owner}")
            return bool(await cast(Awaitable[int], self.cluster.client.exists(key)))
        except self._errors:
            return True

    async def leave(self) -> None:
        await self._heartbeat.release()

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """Held by one instance at a time. When Redis does not answer it is not held (a
        WARNING once): two instances may then both do what it guards, never neither."""
        lock = self.cluster.client.lock(
            self.cluster.key("lock", name), timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT
        )
        try:
            acquired = await lock.acquire()
        except self._errors as exc:
            self._warned.failed(exc, "going on without it")
            acquired = False
        else:
            self._warned.worked()
        try:
            yield
        finally:
            if acquired:
                with contextlib.suppress(*self._errors):
                    await lock.release()
