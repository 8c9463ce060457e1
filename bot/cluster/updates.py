"""Which updates have been handled, so that one Telegram delivers again (after a timeout, a
non-2xx answer, an instance that died) is never answered twice.

An instance claims an update before handling it and marks it done once handled; a failed
update is released for the redelivery to take. `claim` says what to do with a delivery:

* TAKEN: handle it (and then `done` or `release` it);
* DONE: it was handled already: acknowledge it and send nothing;
* BUSY: an instance is handling it right now: answer non-2xx, Telegram delivers it again
  later (by then it is done, or its instance died and the claim expired).

`MemoryLedger` is for one instance. `RedisLedger` is shared by every instance on one Redis:
the claim is ``SET <prefix>:update:<id> <owner> NX PX CLAIM_TTL``, renewed while the update is
handled, so it expires CLAIM_TTL after its instance died; a done update's key says ``done``
for DONE_TTL. When Redis does not answer, updates are handled without the check (one
warning): answering twice is better than not answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger = logging.getLogger("bot")

CLAIM_TTL = 10.0  # seconds a claim outlives the instance holding it
DONE_TTL = 86_400.0  # seconds a handled update is remembered (Telegram gives up within a day)
REMEMBERED = 10_000  # handled updates one instance keeps in memory
PING_TIMEOUT = 0.5  # seconds /health waits for Redis


class Claim(enum.Enum):
    TAKEN = "taken"
    DONE = "done"
    BUSY = "busy"


class UpdateLedger(Protocol):
    async def claim(self, update_id: int) -> Claim: ...

    async def done(self, update_id: int) -> None: ...

    async def release(self, update_id: int) -> None: ...

    async def first_time(self, update_id: int, what: str) -> bool:
        """True the first time `what` is asked for this update, whichever instance asks:
        something sent at most once even when the update is handled again."""
        ...

    async def close(self) -> None: ...


class MemoryLedger:
    """One instance: the updates being handled and the last REMEMBERED handled."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.remembered = remembered
        self._running: set[int] = set()
        self._done: OrderedDict[int, None] = OrderedDict()
        self._marks: OrderedDict[tuple[int, str], None] = OrderedDict()

    async def claim(self, update_id: int) -> Claim:
        if update_id in self._done:
            return Claim.DONE
        if update_id in self._running:
            return Claim.BUSY
        self._running.add(update_id)
        return Claim.TAKEN

    async def done(self, update_id: int) -> None:
        self._running.discard(update_id)
        self._done[update_id] = None
        if len(self._done) > self.remembered:
            self._done.popitem(last=False)

    async def release(self, update_id: int) -> None:
        self._running.discard(update_id)

    async def first_time(self, update_id: int, what: str) -> bool:
        if (update_id, what) in self._marks:
            return False
        self._marks[update_id, what] = None
        if len(self._marks) > self.remembered:
            self._marks.popitem(last=False)
        return True

    async def close(self) -> None:
        self._running.clear()


# KEYS[1] the update's key; ARGV owner, claim ttl (ms). 1: claimed, 0: done, -1: someone's.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == 'done' then return 0 end
return -1
"""
# Only the owner's claim is extended or deleted: an expired one may be another's by now.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLedger:
    """Shared by the instances using `prefix` on one Redis. The caller owns the client."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        claim_ttl: float = CLAIM_TTL,
        done_ttl: float = DONE_TTL,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.owner = uuid.uuid4().hex  # this instance; a claim's value
        self.claim_ttl_ms = int(claim_ttl * 1000)
        self.done_ttl_ms = int(done_ttl * 1000)
        self._claim: AsyncScript = redis.register_script(_CLAIM)
        self._renew: AsyncScript = redis.register_script(_RENEW)
        self._release: AsyncScript = redis.register_script(_RELEASE)
        self._held: set[int] = set()
        self._renewing: asyncio.Task[None] | None = None
        self._failing = False

    def key(self, update_id: int) -> str:
        return f"{self.prefix}:update:{update_id}"

    async def claim(self, update_id: int) -> Claim:
        from redis.exceptions import RedisError

        try:
            outcome = await self._claim(
                keys=[self.key(update_id)], args=[self.owner, self.claim_ttl_ms]
            )
        except RedisError as exc:
            self._failed(exc)
            return Claim.TAKEN
        self._worked()
        if outcome == 0:
            return Claim.DONE
        if outcome != 1:
            return Claim.BUSY
        self._held.add(update_id)
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew_held(), name="update-claims")
        return Claim.TAKEN

    async def done(self, update_id: int) -> None:
        from redis.exceptions import RedisError

        self._held.discard(update_id)
        try:
            await self.redis.set(self.key(update_id), "done", px=self.done_ttl_ms)
        except RedisError as exc:
            self._failed(exc)

    async def release(self, update_id: int) -> None:
        from redis.exceptions import RedisError

        self._held.discard(update_id)
        try:
            await self._release(keys=[self.key(update_id)], args=[self.owner])
        except RedisError as exc:
            self._failed(exc)

    async def first_time(self, update_id: int, what: str) -> bool:
        from redis.exceptions import RedisError

        try:
            marked = await self.redis.set(
                f"{self.key(update_id)}:{what}", self.owner, nx=True, px=self.done_ttl_ms
            )
        except RedisError as exc:
            self._failed(exc)
            return True  # sent again, rather than never
        return bool(marked)

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing

    async def _renew_held(self) -> None:
        """Every third of the claim's life, while this instance holds claims: extend them
        (a slow update keeps its claim; a dead instance's claims run out)."""
        from redis.exceptions import RedisError

        while self._held:
            await asyncio.sleep(self.claim_ttl_ms / 3000)
            held = list(self._held)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for update_id in held:
                        await self._renew(
                            keys=[self.key(update_id)],
                            args=[self.owner, self.claim_ttl_ms],
                            client=pipe,
                        )
                    await pipe.execute()
            except RedisError as exc:
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            logger.warning(
                "Redis does not answer (%s): updates are handled without checking for "
                "redeliveries until it does",
                type(exc).__name__,
            )

    def _worked(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("Redis answers again: redelivered updates are recognised again")


async def redis_problem(redis: Redis) -> str | None:
    """None when Redis answers PING within PING_TIMEOUT, else what /health says (never its
    URL)."""
    from redis.exceptions import RedisError

    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await cast("Awaitable[bool]", redis.ping())  # redis-py types both clients' calls
    except TimeoutError:
        return f"no answer within {PING_TIMEOUT:g} s"
    except RedisError as exc:
        return f"not answering ({type(exc).__name__})"
    return None
