"""The bot's database: questions, votes and live handoffs, in SQLite (the default) or
PostgreSQL (DATABASE_URL).

* ``database``: the writer (group commit), the SQLite engine, the SQLite-only migrations.
* ``postgres``: the PostgreSQL engine (SQLAlchemy on asyncpg), loaded only when used.
* ``schema``, ``migrations``, ``upgrade``, ``revisions``: the tables, Alembic's history,
  ``python -m bot migrate``, and the head revision checked at every start.
* ``location``: DATABASE_URL told apart, and named without its password.
* ``faults``: when the database cannot be written (what counts as that, the log lines).
* ``questions``: questions, votes, the unanswered list and the retention purge.
* ``handoffs``: live handoffs and the operators' forum topics.
* ``stats``: the figures behind /stats.

``Storage`` is all of them on one connection: ``await Storage.connect(url, ...)``, or
``await Storage.open(data_dir, ...)`` for ``<data_dir>/bot.sqlite3``.
"""

from __future__ import annotations

from bot.storage.database import (
    BUSY_TIMEOUT_MS,
    DATABASE_NAME,
    DAY,
    MIGRATIONS,
    USER_KEY_CACHE,
    Database,
    StorageClosed,
    StorageError,
    Tx,
    WriteDeferred,
    migrate,
)
from bot.storage.faults import WriteFault
from bot.storage.handoffs import Handoff, Handoffs, PendingRelay
from bot.storage.location import PostgresServer, parse
from bot.storage.questions import MAX_TEXT, QuestionRecord, Questions, best_guess
from bot.storage.revisions import HEAD, SchemaAhead, SchemaBehind
from bot.storage.stats import STATS_DAYS, Action, IntentVotes, Stats, StatsQueries, local_midnight

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DATABASE_NAME",
    "DAY",
    "HEAD",
    "MAX_TEXT",
    "MIGRATIONS",
    "STATS_DAYS",
    "USER_KEY_CACHE",
    "Action",
    "Database",
    "Handoff",
    "IntentVotes",
    "PendingRelay",
    "QuestionRecord",
    "SchemaAhead",
    "SchemaBehind",
    "Stats",
    "Storage",
    "StorageClosed",
    "StorageError",
    "Tx",
    "WriteDeferred",
    "WriteFault",
    "best_guess",
    "local_midnight",
    "migrate",
]


class Storage(Questions, Handoffs, StatsQueries):
    """The bot's database; open it with ``await Storage.connect(url, retention_days=...)``."""

    @classmethod
    async def connect(cls, url: str, *, retention_days: int) -> Storage:
        """The database at ``url`` (``sqlite:///PATH`` or ``postgresql://…``); SchemaBehind or
        SchemaAhead when it is not at the revision this code needs (a new SQLite file is
        created at it), StorageError when it cannot be opened (never with the password)."""
        where = parse(url)
        if isinstance(where, PostgresServer):
            from bot.storage.postgres import PostgresStorage

            return await PostgresStorage.open_server(where, retention_days=retention_days)
        return await cls.open_file(where.path, retention_days=retention_days)
