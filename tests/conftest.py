"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Storage
from bot.telegram.aiogram_import import import_aiogram
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
