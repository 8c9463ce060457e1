"""The bot's database: questions, votes and live handoffs, in SQLite driven by aiosqlite.

* ``database``: the file, the connections, the migrations and the one writer (group commit).
* ``faults``: when the database cannot be written (what counts as that, the log lines).
* ``questions``: questions, votes, the unanswered list and the retention purge.
* ``handoffs``: live handoffs and the operators' forum topics.
* ``stats``: the figures behind /stats.

``Storage`` is all of them on one connection: ``await Storage.open(data_dir, ...)``.
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
    WriteDeferred,
    migrate,
)
from bot.storage.faults import WriteFault
from bot.storage.handoffs import Handoff, Handoffs, PendingRelay
from bot.storage.questions import MAX_TEXT, QuestionRecord, Questions, best_guess
from bot.storage.stats import STATS_DAYS, Action, IntentVotes, Stats, StatsQueries, local_midnight

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DATABASE_NAME",
    "DAY",
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
    "Stats",
    "Storage",
    "StorageClosed",
    "StorageError",
    "WriteDeferred",
    "WriteFault",
    "best_guess",
    "local_midnight",
    "migrate",
]


class Storage(Questions, Handoffs, StatsQueries):
    """The bot's database; open it with ``await Storage.open(data_dir, retention_days=...)``."""
