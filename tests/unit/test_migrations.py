"""One schema and one migration history for SQLite and PostgreSQL: Alembic's result equals
bot/storage/schema.py on both, ``python -m bot migrate`` brings a database to the head and
says so in one line, and the bot refuses to start on a database that is not at the head."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import create_async_engine

from bot import texts
from bot.storage import DATABASE_NAME, HEAD, SchemaAhead, SchemaBehind, Storage, StorageError
from bot.storage.location import parse
from bot.storage.revisions import REVISIONS
from bot.storage.schema import metadata
from bot.storage.sqlite_head import SCRIPT, made_by_alembic
from bot.storage.upgrade import MIGRATIONS_DIR, migrate_database, script_revisions
from tests.support.databases import BotDatabase
from tests.support.settings_env import clean_env


def _differences(connection: Any) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _differences_at(url: str) -> list[Any]:
    where = parse(url)
    if isinstance(where, type(parse("sqlite:///x"))):
        engine = create_engine(f"sqlite:///{where.path}")  # type: ignore[union-attr]
        try:
            with engine.connect() as connection:
                return _differences(connection)
        finally:
            engine.dispose()
    async_engine = create_async_engine(where.url)  # type: ignore[union-attr]
    try:
        async with async_engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await async_engine.dispose()


def test_the_head_the_bot_checks_at_start_is_alembics_head() -> None:
    assert script_revisions() == list(REVISIONS)
    assert REVISIONS[-1] == HEAD


async def test_alembics_migrations_arrive_at_the_schema_on_both_databases(
    database_engine: BotDatabase,
) -> None:
    assert await migrate_database(database_engine.url) == HEAD
    assert await _differences_at(database_engine.url) == []


def _affinity(type_: Any) -> str:
    """SQLite's type affinity of a declared column type (what SQLite actually keeps)."""
    name = str(type_.compile(dialect=sqlite_dialect())).upper()
    if "INT" in name:
        return "INTEGER"
    if any(word in name for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if any(word in name for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _beyond_spelling(differences: list[Any]) -> list[Any]:
    """What differs beyond how the SQLite-only migrations spelled a type (REAL for Double,
    INTEGER for BigInteger: the same affinity, so the same values) and a primary key's NOT
    NULL (implied for the rowid; the old ``meta.key`` never receives a NULL)."""
    kept = []
    for difference in differences:
        [(kind, _, _, _, details, old, new)] = (
            difference if isinstance(difference, list) else [(difference, *[None] * 6)]
        )
        if kind == "modify_type" and _affinity(old) == _affinity(new):
            continue
        if kind == "modify_nullable" and (old, new) == (True, False):
            continue
        kept.append((kind, details))
    return kept


async def test_a_new_sqlite_file_made_at_start_is_the_same_schema(tmp_path: Path) -> None:
    storage = await Storage.open(tmp_path, retention_days=90)  # without Alembic
    await storage.close()
    assert _beyond_spelling(await _differences_at(f"sqlite:///{tmp_path / DATABASE_NAME}")) == []
    assert await migrate_database(f"sqlite:///{tmp_path / DATABASE_NAME}") == HEAD  # nothing to do


async def test_an_empty_postgresql_database_is_refused_until_migrated(postgres_url: str) -> None:
    with pytest.raises(SchemaBehind) as refused:
        await Storage.connect(postgres_url, retention_days=90)
    assert str(refused.value).endswith(
        f"the database is at revision none (an empty database), this version needs {HEAD}: "
        "run `python -m bot migrate`"
    )

    assert await migrate_database(postgres_url) == HEAD
    storage = await Storage.connect(postgres_url, retention_days=90)
    await storage.close()


async def test_a_database_migrated_by_a_newer_bot_is_refused(database: BotDatabase) -> None:
    storage = await database.open()
    await storage.close()
    await _set_revision(database, "9999")

    with pytest.raises(SchemaAhead, match="revision 9999, newer than this version of the bot"):
        await database.open()


# On SQLite, a file without a revision is the SQLite-only history's (tests/unit/test_storage.py).
@pytest.mark.parametrize("database_engine", ["postgresql"], indirect=True)
async def test_a_postgresql_database_without_its_revision_is_behind_and_refused(
    database: BotDatabase,
) -> None:
    await (await database.open()).close()
    await _set_revision(database, None)  # tables, but no revision recorded
    with pytest.raises(SchemaBehind, match="run `python -m bot migrate`"):
        await database.open()


async def _set_revision(database: BotDatabase, revision: str | None) -> None:
    """Record ``revision`` as the database's (None: none at all)."""
    sql = (
        "DELETE FROM alembic_version"
        if revision is None
        else ("UPDATE alembic_version SET version_num = :rev")
    )
    where = parse(database.url)
    if database.engine == "sqlite":
        with closing(sqlite3.connect(where.path, isolation_level=None)) as db:  # type: ignore[union-attr]
            db.execute(sql, {"rev": revision})
        return
    engine = create_async_engine(where.url)  # type: ignore[union-attr]
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql), {"rev": revision})
    finally:
        await engine.dispose()


async def test_two_instances_migrating_postgresql_at_once_both_succeed(postgres_url: str) -> None:
    results = await asyncio.gather(*(migrate_database(postgres_url) for _ in range(3)))
    assert results == [HEAD] * 3
    storage = await Storage.connect(postgres_url, retention_days=90)
    await storage.close()


BROKEN_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"


def upgrade() -> None:
    op.add_column("questions", sa.Column("language", sa.Text()))
    op.create_table("questions", sa.Column("x", sa.Integer()))  # exists: fails
"""


async def test_a_failing_migration_on_postgresql_changes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    assert await migrate_database(postgres_url) == HEAD
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts)
    (scripts / "versions" / "9999_broken.py").write_text(
        BROKEN_REVISION.format(head=HEAD), encoding="utf-8"
    )

    with pytest.raises(StorageError, match="already exists"):
        await migrate_database(postgres_url, scripts=scripts)

    engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.connect() as connection:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            columns = await connection.scalars(
                text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = 'questions'"
                )
            )
            assert revision == HEAD
            assert "language" not in set(columns)
    finally:
        await engine.dispose()


# -- python -m bot migrate, and the start it makes possible ---------------------------------


def _bot(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_migrate_prints_one_line_with_the_revision_and_can_run_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for _ in range(2):
        done = _bot(tmp_path, "migrate", DATA_DIR=str(data))
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            texts.MIGRATED.format(database=data / DATABASE_NAME, revision=HEAD) + "\n"
        )
        assert done.stderr == ""


async def test_the_bot_refuses_an_unmigrated_postgresql_database_with_one_line(
    postgres_url: str, tmp_path: Path
) -> None:
    password_url = postgres_url.replace("postgres@", "postgres:hunter2@", 1)  # trust: ignored
    env = {"DATABASE_URL": password_url, "BOT_TOKEN": "123456:TEST", "DATA_DIR": str(tmp_path)}
    refused = await asyncio.to_thread(_bot, tmp_path, "run", **env)

    assert refused.returncode == 2, refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if "DATABASE_URL" in line]
    assert line.startswith("Cấu hình không hợp lệ: DATABASE_URL: ")
    assert line.endswith(f"this version needs {HEAD}: run `python -m bot migrate`)")
    assert "Traceback" not in refused.stderr
    assert "hunter2" not in refused.stderr

    migrated = await asyncio.to_thread(_bot, tmp_path, "migrate", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert HEAD in migrated.stdout
    assert "hunter2" not in migrated.stdout + migrated.stderr


def test_the_default_start_loads_neither_sqlalchemy_nor_alembic(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from bot.storage import Storage\n"
        "async def main():\n"
        f"    for _ in range(2):  # created, then checked\n"
        f"        storage = await Storage.connect({f'sqlite:///{tmp_path}/bot.sqlite3'!r},"
        " retention_days=90)\n"
        "        await storage.close()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'sqlalchemy', 'alembic', 'asyncpg'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_the_sqlite_head_script_is_what_alembics_history_makes() -> None:
    assert made_by_alembic() == SCRIPT.read_text(encoding="utf-8"), (
        "run `python -m bot.storage.sqlite_head` after adding a revision"
    )
