"""The state several bot instances share in the benchmark: a PostgreSQL database created for
the run and a Redis key prefix of its own, both removed afterwards, and what the instances
wrote there (a revision that reads DATABASE_URL and REDIS_URL without using them writes
nothing, and the report says so)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def unanswered(url: str, default_port: int) -> str | None:
    """None when a server answers at `url`; else a line saying which address did not (the
    URL itself is never shown: it may hold a password)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), 2):
            return None
    except OSError:
        return f"nothing answers on {host}:{port}"


@dataclass(frozen=True, slots=True)
class Shared:
    database_url: str
    redis_url: str
    redis_prefix: str

    def settings(self) -> dict[str, str]:
        """The instances' settings for it."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
        }

    async def tables(self) -> int:
        """Tables in the database's public schema: 0 when the instances never used it."""
        import asyncpg

        connection = await asyncpg.connect(self.database_url)
        try:
            count = await connection.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
        finally:
            await connection.close()
        return int(count)

    async def keys(self) -> int:
        """Keys under the prefix right now."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis_url)
        try:
            return sum(
                [1 async for _ in client.scan_iter(match=f"{self.redis_prefix}*", count=500)]
            )
        finally:
            await client.aclose()


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@asynccontextmanager
async def shared_state(postgres_admin_url: str, redis_url: str) -> AsyncIterator[Shared]:
    """A new database (created through `postgres_admin_url`, dropped afterwards) and a new
    key prefix on `redis_url` (its keys deleted afterwards)."""
    import asyncpg
    import redis.asyncio as aioredis

    run = uuid.uuid4().hex[:12]
    name, prefix = f"bench_{run}", f"bench_{run}"
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield Shared(_with_database(postgres_admin_url, name), redis_url, prefix)
    finally:
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        client = aioredis.Redis.from_url(redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        finally:
            await client.aclose()
