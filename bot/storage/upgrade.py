"""``python -m bot migrate``: bring the database to the head revision with Alembic.

* PostgreSQL: every missing revision in one transaction, under a transaction-level advisory
  lock, so two instances migrating at once apply them once (the second finds them done).
* SQLite: a file from before Alembic (``PRAGMA user_version`` 1 to 4) is first brought to
  version 4 by the SQLite-only migrations, then stamped with the baseline revision; then
  whatever follows the baseline.

SQLAlchemy and Alembic are imported here, never by the bot's start.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from bot.storage.database import MIGRATIONS, migrate, sqlite_revision, stamp_baseline
from bot.storage.database_errors import StorageError
from bot.storage.location import PostgresServer, SqliteFile, parse

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock's key: any constant the other users of the server do not pick.
MIGRATION_LOCK = 0x62_6F_74_6D_69_67  # "botmig"


def alembic_config(connection: Connection | None = None, scripts: Path = MIGRATIONS_DIR) -> Config:
    """Alembic's configuration, from code: no alembic.ini, nothing relative to the cwd."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["connection"] = connection
    return config


def script_revisions() -> list[str]:
    """Alembic's history as its files say, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def upgrade(connection: Connection, scripts: Path = MIGRATIONS_DIR) -> str:
    """Apply the missing revisions on ``connection``, in its transaction; the revision now."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    command.upgrade(alembic_config(connection, scripts), "head")
    revision = MigrationContext.configure(connection).get_current_revision()
    assert revision is not None
    return revision


def upgrade_sqlite(path: Path, scripts: Path = MIGRATIONS_DIR) -> str:
    """Migrate the SQLite file ``path`` (created if missing); the revision now."""
    from sqlalchemy import create_engine

    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        if sqlite_revision(db) is None and db.execute("SELECT 1 FROM sqlite_master").fetchone():
            migrate(db, MIGRATIONS)  # a file from before Alembic: its own history first
            stamp_baseline(db)
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            return upgrade(connection, scripts)
    finally:
        engine.dispose()


async def upgrade_postgres(server: PostgresServer, scripts: Path = MIGRATIONS_DIR) -> str:
    """Migrate the PostgreSQL database; the revision now."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(server.url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
            return await connection.run_sync(upgrade, scripts)
    finally:
        await engine.dispose()


async def migrate_database(url: str, *, scripts: Path = MIGRATIONS_DIR) -> str:
    """Bring the database at ``url`` to the head revision of the history in ``scripts``; that
    revision. StorageError (one line, no password) when it cannot be done."""
    where = parse(url)
    try:
        if isinstance(where, SqliteFile):
            return await asyncio.to_thread(upgrade_sqlite, where.path, scripts)
        return await upgrade_postgres(where, scripts)
    except StorageError:
        raise
    except Exception as exc:
        from bot.storage.postgres import describe

        name = str(where.path) if isinstance(where, SqliteFile) else where.name
        raise StorageError(f"{name}: {describe(exc)}") from exc
