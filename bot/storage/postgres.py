"""The PostgreSQL engine: the same tables' queries and the same writer, over SQLAlchemy's async
engine on asyncpg.

* Writes: the writer's batch is one transaction (group commit, as on SQLite). A failed
  statement aborts a PostgreSQL transaction, so when a job fails the batch runs again with
  each job in a SAVEPOINT of its own: the failing job is undone alone, the others commit.
  Only then: a SAVEPOINT and its RELEASE are two more round trips a job.
* Reads go through the pool, one connection each, in parallel with the writer.
* The server refused or lost the connection: a database fault (bot.storage.faults), so the
  questions and votes are kept and written once it answers again, as on a failing disk.
* Errors reach callers as StorageError (one line; the driver's error as its cause), never as
  SQLAlchemy's or asyncpg's own: code above the storage catches one kind on either engine.
* Imported only when DATABASE_URL names PostgreSQL: the default start loads no SQLAlchemy.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.storage import Storage, revisions
from bot.storage.database import (
    SALT_INSERT,
    SALT_SELECT,
    Parameters,
    Row,
    StorageClosed,
    StorageError,
    _Job,
    _TransactionLost,
)
from bot.storage.faults import is_database_fault
from bot.storage.location import PostgresServer

if TYPE_CHECKING:
    from sqlalchemy import Connection, CursorResult, TextClause

POOL_SIZE = 5  # the writer holds one; the reads of a busy instance share the rest
MAX_OVERFLOW = 5
CONNECT_TIMEOUT = 5.0  # seconds: an unreachable server is a fault, not a hang
MAX_STATEMENTS = 2_000  # parsed statements kept (the queries are a fixed set, bar chunk sizes)


def describe(error: BaseException) -> str:
    """An error in one line: SQLAlchemy's message runs on with the statement and a link."""
    orig = getattr(error, "orig", None)
    message = str(orig if orig is not None else error).strip().splitlines()
    return message[0] if message else type(error).__name__


class _JobFailed(Exception):
    """A job of a batch run without savepoints failed: the batch runs again with them."""


class _Cursor:
    """SQLAlchemy's result as a write job reads sqlite3's cursor: rows by column name."""

    def __init__(self, result: CursorResult[Any]) -> None:
        self._result = result
        self.rowcount = result.rowcount

    def fetchone(self) -> Any:
        return self._result.mappings().fetchone() if self._result.returns_rows else None

    def fetchall(self) -> list[Any]:
        return list(self._result.mappings().fetchall()) if self._result.returns_rows else []


class _Statements:
    def __init__(self) -> None:
        self._parsed: dict[str, TextClause] = {}

    def __call__(self, sql: str) -> TextClause:
        clause = self._parsed.get(sql)
        if clause is None:
            if len(self._parsed) >= MAX_STATEMENTS:
                self._parsed.clear()
            clause = self._parsed[sql] = text(sql)
        return clause


class _Tx:
    """A write job's transaction (bot.storage.database.Tx) over a SQLAlchemy connection."""

    def __init__(self, connection: Connection, statements: _Statements) -> None:
        self._connection = connection
        self._statements = statements

    def execute(self, sql: str, parameters: Parameters | None = None, /) -> _Cursor:
        return _Cursor(self._connection.execute(self._statements(sql), parameters or {}))


class PostgresStorage(Storage):
    """The bot's database on a PostgreSQL server: ``Storage.connect("postgresql://…")``."""

    def __init__(
        self, server: PostgresServer, retention_days: int, engine: AsyncEngine, salt: bytes
    ):
        """Use ``await Storage.connect(url, ...)``."""
        self._engine = engine
        self._statements = _Statements()
        self._start(server.name, retention_days, salt)

    @classmethod
    async def open_server(cls, server: PostgresServer, *, retention_days: int) -> Self:
        """Connect, check the schema's revision (SchemaBehind: run ``python -m bot migrate``),
        read the users' salt (created with the first start), purge expired texts."""
        engine = create_async_engine(
            server.url,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_pre_ping=True,
            connect_args={"timeout": CONNECT_TIMEOUT},
        )
        try:
            async with engine.begin() as connection:
                known = await connection.scalar(
                    text("SELECT to_regclass('alembic_version') IS NOT NULL")
                )
                revision = (
                    await connection.scalar(text("SELECT version_num FROM alembic_version"))
                    if known
                    else None
                )
                revisions.check(revision)
                await connection.execute(text(SALT_INSERT), {"salt": secrets.token_hex(32)})
                salt = await connection.scalar(text(SALT_SELECT))
        except BaseException as exc:
            await engine.dispose()
            if isinstance(exc, StorageError):
                raise type(exc)(f"{server.name}: {exc}") from exc
            if isinstance(exc, Exception):
                raise StorageError(f"{server.name}: {describe(exc)}") from exc
            raise
        storage = cls(server, retention_days, engine, bytes.fromhex(str(salt)))
        try:
            await storage._after_open()
        except BaseException:
            await storage.close()
            raise
        return storage

    async def _transact(self, batch: list[_Job]) -> list[tuple[_Job, object, BaseException | None]]:
        try:
            async with self._engine.begin() as connection:
                return await connection.run_sync(self._batch, batch, False)
        except _JobFailed:
            # Nothing of it was committed; again, each job in a SAVEPOINT of its own.
            async with self._engine.begin() as connection:
                return await connection.run_sync(self._batch, batch, True)

    def _batch(
        self, connection: Connection, batch: list[_Job], savepoints: bool
    ) -> list[tuple[_Job, object, BaseException | None]]:
        """The batch's jobs in the connection's transaction. Without ``savepoints`` (two more
        round trips a job) the first job that fails raises _JobFailed: a failed statement
        has aborted the whole transaction."""
        tx = _Tx(connection, self._statements)
        outcomes: list[tuple[_Job, object, BaseException | None]] = []
        for job in batch:
            savepoint = connection.begin_nested() if savepoints else None
            try:
                result = job.run(tx)
                if savepoint is not None:
                    savepoint.commit()
            except Exception as exc:
                if is_database_fault(exc):  # the connection is gone, and the transaction too
                    raise _TransactionLost from exc
                if savepoint is None:
                    raise _JobFailed from exc
                savepoint.rollback()
                outcomes.append((job, None, exc))
            else:
                outcomes.append((job, result, None))
        return outcomes

    async def _rows(self, sql: str, parameters: Parameters | None = None) -> list[Row]:
        if self._closing is not None and self._closing.done():
            raise StorageClosed(f"{self.name}: the database is closed")
        try:
            async with self._engine.connect() as connection:
                result = await connection.execute(self._statements(sql), parameters or {})
                return list(result.mappings().fetchall())
        except Exception as exc:
            raise self._for_caller(exc) from exc

    def _for_caller(self, error: BaseException) -> BaseException:
        """A StorageError in one line (SQLAlchemy's message runs on with the statement), the
        driver's error as its cause: callers catch StorageError whatever the engine."""
        if isinstance(error, StorageError):
            return error
        wrapped = StorageError(describe(error))
        wrapped.__cause__ = error
        return wrapped

    def _stop_background(self) -> None:
        """Nothing runs in the background: the server checkpoints itself."""

    async def _close_connections(self) -> None:
        await self._engine.dispose()
