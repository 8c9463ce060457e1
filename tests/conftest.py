"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cluster.redis import Cluster
from bot.settings import Settings
from bot.storage import Storage
from bot.telegram.aiogram_import import import_aiogram
from tests.support.databases import ENGINES, BotDatabase, postgres_test_database, sqlite_database
from tests.support.services import postgres_database, redis_prefix

# Before any test module imports aiogram: the tests see aiogram as `python -m bot run` does.
import_aiogram()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    """A fresh database in the test's own directory, closed after the test."""
    db = await Storage.open(tmp_path / "data", retention_days=90)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(params=ENGINES)
def database_engine(request: pytest.FixtureRequest, tmp_path: Path) -> BotDatabase:
    """A new database, once on SQLite and once on PostgreSQL (not migrated yet)."""
    if request.param == "postgresql":
        return BotDatabase("postgresql", request.getfixturevalue("postgres_url"))
    return sqlite_database(tmp_path / "data")


@pytest.fixture
async def database(database_engine: BotDatabase) -> BotDatabase:
    """An empty database at the head revision, once on SQLite and once on PostgreSQL."""
    if database_engine.engine == "postgresql":
        return await postgres_test_database(database_engine.url)
    return database_engine


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL database of the test's own (``postgresql://…``), dropped afterwards;
    skipped where no server answers (a failure under BOT_TEST_REQUIRE_SERVICES=1)."""
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def redis_service() -> AsyncIterator[tuple[str, str]]:
    """(REDIS_URL, REDIS_PREFIX) of the test's own; its keys deleted afterwards; skipped
    where no server answers (a failure under BOT_TEST_REQUIRE_SERVICES=1)."""
    async with redis_prefix() as service:
        yield service


@pytest.fixture
async def clusters(redis_service: tuple[str, str]) -> AsyncIterator[tuple[Cluster, Cluster]]:
    """Two instances' Redis clients on the test's own prefix, closed afterwards."""
    url, prefix = redis_service
    config = Settings(_env_file=None, redis_url=url, redis_prefix=prefix)
    first, second = Cluster.from_settings(config), Cluster.from_settings(config)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
