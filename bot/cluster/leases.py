"""Leases: a periodic job (the retention purge, the handoff timeout notices) runs its round on
one instance at a time. A lease is a Redis key holding its owner (`SET key owner NX PX ttl`),
renewed at each round while held and given back on stop; an instance that dies holds it for
a few rounds at most. When Redis fails, the round is skipped (a WARNING once): the job waits for
Redis rather than run on every instance at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.cluster.redis import Cluster, Warned, redis_errors

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

logger = logging.getLogger(__name__)

HOLD_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# A lease lasts this many rounds from its last renewal: a round late by a moment does not
# lose it, and an instance that dies holds the job up for this long at most.
LEASE_ROUNDS = 3


class Lease:
    """The lease on job `name`."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.key = cluster.key("lease", name)
        self.name = name
        self.owner = uuid.uuid4().hex
        self._hold: AsyncScript = cluster.client.register_script(HOLD_SCRIPT)
        self._release: AsyncScript = cluster.client.register_script(RELEASE_SCRIPT)
        self._errors = redis_errors()
        self._warned = Warned(f"the {name} lease")

    async def hold(self, ttl: float) -> bool:
        """Take the lease for `ttl` seconds, or renew it if this instance holds it; False:
        another one does (or Redis does not answer)."""
        try:
            ttl_ms = max(1, round(ttl * 1000))
            held = await self._hold(keys=[self.key], args=[self.owner, ttl_ms])
        except self._errors as exc:
            self._warned.failed(exc, "its rounds wait for Redis")
            return False
        self._warned.worked()
        return bool(held)

    async def release(self) -> None:
        try:
            await self._release(keys=[self.key], args=[self.owner])
        except self._errors as exc:  # it expires by itself
            logger.warning("Redis: the %s lease not given back (%s)", self.name, type(exc).__name__)


async def under_lease(
    lease: Lease, interval: float, job: Callable[[], Awaitable[object]], what: str
) -> None:
    """Every `interval` seconds, `job` once across the instances: by whichever holds `lease`.
    Runs until cancelled; gives the lease back then."""
    try:
        while True:
            await asyncio.sleep(interval)
            if not await lease.hold(interval * LEASE_ROUNDS):
                continue
            try:
                await job()
            except Exception as exc:
                logger.error("%s: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(lease.release())
