"""The Redis client the instances share, built from the settings, and the names of the keys
the bot writes there (all under REDIS_PREFIX)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from bot.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

# Seconds for a command before the connection counts as failed: the bot fails soft on it, so
# a Redis that has gone away must not hold an update for long.
COMMAND_TIMEOUT = 2.0


class RedisUnreachable(Exception):
    """REDIS_URL is set but Redis does not answer (the message never holds the URL)."""


class Cluster:
    """The shared Redis: its client and the key names under the prefix."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> Cluster:
        """The client for REDIS_URL (no connection is made before the first command)."""
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if settings.redis_url is None:
            raise ValueError("REDIS_URL is not set")
        client = Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=COMMAND_TIMEOUT,
            health_check_interval=30,
            # Once at once: a connection broken by a Redis restart is replaced; redis-py's own
            # default (3 tries, seconds apart) would hold every update while Redis is away.
            retry=Retry(NoBackoff(), 1),
        )
        return cls(client, settings.redis_prefix)

    def key(self, *parts: str | int) -> str:
        return ":".join((self.prefix, *(str(part) for part in parts)))

    async def check(self) -> None:
        """Raise RedisUnreachable unless Redis answers."""
        from redis.exceptions import RedisError

        try:
            # redis-py types its commands for both clients; the asyncio one's are awaitable.
            await cast(Awaitable[bool], self.client.ping())
        except (RedisError, OSError) as exc:
            # The exception's text may name the host; never the URL with its password.
            raise RedisUnreachable(type(exc).__name__) from None

    async def close(self) -> None:
        await self.client.aclose()


async def redis_answers(settings: Settings) -> None:
    """Start-up: raise RedisUnreachable unless Redis answers at REDIS_URL."""
    cluster = Cluster.from_settings(settings)
    try:
        await cluster.check()
    finally:
        await cluster.close()


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a Redis command raises when the server is away or failing: the bot fails soft
    on these (a timeout is an OSError subclass in redis-py's socket layer, or its own)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)


class Warned:
    """A WARNING the first time something fails, none while it keeps failing, and an INFO
    line when it works again: a Redis away for a minute must not flood the log."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    def failed(self, exc: BaseException, consequence: str) -> None:
        if not self.failing:
            self.failing = True
            logger.warning("Redis: %s failed (%s): %s", self.what, type(exc).__name__, consequence)

    def worked(self) -> None:
        if self.failing:
            self.failing = False
            logger.info("Redis: %s works again", self.what)
