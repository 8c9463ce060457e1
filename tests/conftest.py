"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Storage
from bot.telegram.aiogram_import import import_aiogram

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
