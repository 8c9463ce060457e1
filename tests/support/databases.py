"""The bot's database on each engine the storage tests run against: SQLite in the test's own
directory, and a PostgreSQL database of the test's own, migrated as ``python -m bot migrate``
does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.storage import DATABASE_NAME, Storage
from bot.storage.upgrade import migrate_database

ENGINES = ("sqlite", "postgresql")


@dataclass(frozen=True, slots=True)
class BotDatabase:
    """One database; ``open`` it as often as a test needs (each open is a new process's)."""

    engine: str
    url: str

    async def open(self, *, retention_days: int = 90) -> Storage:
        return await Storage.connect(self.url, retention_days=retention_days)


def sqlite_database(data_dir: Path) -> BotDatabase:
    return BotDatabase("sqlite", f"sqlite:///{data_dir / DATABASE_NAME}")


async def postgres_test_database(url: str) -> BotDatabase:
    await migrate_database(url)
    return BotDatabase("postgresql", url)
