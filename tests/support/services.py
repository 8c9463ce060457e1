"""PostgreSQL and Redis for the tests that need real servers.

Each test gets a database of its own (created on the server, dropped afterwards) and a Redis
key prefix of its own (its keys deleted afterwards). Where a server does not answer (a laptop
without them) those tests are skipped with one line saying which; with
``BOT_TEST_REQUIRE_SERVICES=1`` (set by .ci/run) that skip is a failure instead, so CI always
runs them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from urllib.parse import urlsplit

import pytest

# The server the tests create their databases on, and the database to connect to for that.
POSTGRES_ADMIN_URL = os.environ.get(
    "BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("BOT_TEST_REQUIRE_SERVICES", "") == "1"


@cache
def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        with socket.create_connection(address, 1):
            return True
    except OSError:
        return False


def need(service: str, url: str, default_port: int) -> None:
    """Skip (or, in CI, fail) the test when ``service`` does not answer at ``url``."""
    if _answers(url, default_port):
        return
    host = urlsplit(url).hostname
    reason = f"{service} does not answer on {host}:{urlsplit(url).port or default_port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (BOT_TEST_REQUIRE_SERVICES=1: the service tests must run)")
    pytest.skip(reason)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database; its URL (``postgresql://…``). Dropped afterwards."""
    need("PostgreSQL", POSTGRES_ADMIN_URL, 5432)
    import asyncpg

    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(POSTGRES_ADMIN_URL, name)
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    """(Redis URL, a key prefix no other test uses); the prefix's keys deleted afterwards."""
    need("Redis", REDIS_TEST_URL, 6379)
    import redis.asyncio as aioredis

    prefix = f"bot_test_{uuid.uuid4().hex[:12]}"
    try:
        yield REDIS_TEST_URL, prefix
    finally:
        client = aioredis.Redis.from_url(REDIS_TEST_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
