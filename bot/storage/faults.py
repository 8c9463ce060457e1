"""When the database cannot be written: which errors mean that, and telling the log so without
flooding it.

Answering a question needs no disk, so a failing database must not silence the bot: the writer
keeps the questions and votes it could not write (bounded) and tries them again, and this
module says what is going on, once when the writes start failing, then in a summary every
``SUMMARY_INTERVAL`` seconds while they still fail, and once when they work again. The
admins see the same in /stats, and a webhook's /health too (``WriteFault``).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

SUMMARY_INTERVAL = 300.0  # seconds between two log lines while the writes keep failing

# SQLite's primary result codes that are about the database, not about the statement: the disk
# is full or read-only, the file is gone or damaged, another process holds the lock too long.
# A write failing with one of these would have worked on a healthy database, so it is worth
# keeping and trying again; any other error (a constraint, a bad value) would fail again.
DATABASE_FAULT_CODES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)


# PostgreSQL's SQLSTATE classes that are about the server, not the statement: the connection
# (08), no room or memory (53), the server shutting down or starting (57), I/O (58).
SERVER_FAULT_CLASSES = frozenset({"08", "53", "57", "58"})


def is_database_fault(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be written, rather than that this write is
    wrong. (Extended result codes carry the primary code in their low byte.)"""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(error, sqlite3.Error):
        return code is not None and code & 0xFF in DATABASE_FAULT_CODES
    return _is_server_fault(error)


def _is_server_fault(error: BaseException) -> bool:
    """PostgreSQL: the server refused or lost the connection, or cannot write. Its errors come
    wrapped (SQLAlchemy's around the driver's), so the whole chain is looked at."""
    # Loaded only where PostgreSQL is used; an error of its kind implies it is loaded.
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    seen: set[int] = set()
    chain: list[BaseException | None] = [error]
    while chain:
        current = chain.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError):  # refused, reset, unreachable
            return True
        if sqlalchemy_exc is not None and isinstance(current, sqlalchemy_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            chain.append(current.orig)
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in SERVER_FAULT_CLASSES:
            return True
        chain += [current.__cause__, current.__context__]
    return False


@dataclass(frozen=True, slots=True)
class WriteFault:
    """The database has been failing to write since ``since`` (a Unix time)."""

    since: float
    error: str  # the last error, as SQLite words it
    failed: int  # writes that failed since then
    kept: int  # of those, kept to be written once the database works again
    dropped: int  # kept writes given up because too many were kept

    def describe(self) -> str:
        """One line for a monitor (/health): "failing since 2025-06-15T05:00:00Z (…): …"."""
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"failing since {since} ({self.failed} writes failed, {self.kept} kept to write "
            f"later, {self.dropped} given up): {self.error}"
        )


class FaultLog:
    """Whether the writes are failing, and the log lines that say so."""

    def __init__(
        self,
        path: Path | str,
        *,
        interval: float = SUMMARY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        self.since: float | None = None  # Unix time of the first failure, None: writes work
        self.error = ""
        self.failed = 0
        self.dropped = 0
        self._started = 0.0  # clock() at the first failure
        self._unreported = 0  # failures since the last log line
        self._next_line = 0.0

    @property
    def failing(self) -> bool:
        return self.since is not None

    def snapshot(self, kept: int) -> WriteFault | None:
        if self.since is None:
            return None
        return WriteFault(self.since, self.error, self.failed, kept, self.dropped)

    def failure(self, error: BaseException, *, kept: int, new: bool = True) -> None:
        """A write failed with ``error``; ``new`` False: a kept write failed again."""
        now = self._clock()
        self.error = str(error)
        if new:
            self.failed += 1
            self._unreported += 1
        if self.since is None:
            self.since = time.time()
            self._started = now
            self._unreported = 0
            self._next_line = now + self.interval
            log.error(
                "database %s: writes are failing (%s); the bot goes on answering, and keeps "
                "what it could not write to try again; the next report in %d minutes",
                self.path,
                error,
                round(self.interval / 60),
            )
        elif now >= self._next_line:
            log.error(
                "database %s: writes still failing after %s (%s): %d more failed, %d kept to "
                "try again, %d given up",
                self.path,
                _minutes(now - self._started),
                error,
                self._unreported,
                kept,
                self.dropped,
            )
            self._unreported = 0
            self._next_line = now + self.interval

    def drop(self) -> None:
        """A kept write was given up (too many were kept)."""
        if self.dropped == 0:
            log.warning(
                "database %s: too many writes kept while it fails; the oldest are given up",
                self.path,
            )
        self.dropped += 1

    def worked(self) -> None:
        """Every kept write is written: the database works again."""
        if self.since is None:
            return
        log.warning(
            "database %s: writes work again after %s of failures (%d writes failed, %d of "
            "them given up)",
            self.path,
            _minutes(self._clock() - self._started),
            self.failed,
            self.dropped,
        )
        self.since = None
        self.error = ""
        self.failed = self.dropped = self._unreported = 0


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
