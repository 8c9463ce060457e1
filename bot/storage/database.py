"""The writer every write goes through, and the SQLite engine under it (bot.storage.postgres
puts PostgreSQL under the same writer).

* One file, ``<DATA_DIR>/bot.sqlite3``, in WAL mode with ``synchronous=NORMAL``: a committed
  transaction survives the process being killed. Readers never wait for the writer.
* Schema changes are Alembic revisions (bot/storage/migrations, applied by ``python -m bot
  migrate``); open() only checks the file is at the head (a new file is created at it).
  ``MIGRATIONS`` is the frozen history from before Alembic, under ``PRAGMA user_version``.
* Every write goes through one writer task that commits whatever has been queued so far in
  one transaction (group commit), then answers each caller. A caller's ``await`` returns
  only after its row is committed, so a reply sent after ``record_question`` means the
  question is on disk. A failing write fails only its own caller.
* Where a transaction runs: a commit in WAL mode without fsync costs tens of microseconds,
  a few times less than handing it to a thread and back, so the row-sized writes commit
  right in the event loop, with no waiting for locks (``busy_timeout`` 0). Heavy writes
  (the retention purge, filing a whole group of questions) and any batch that finds the
  database locked (another process writing) go to the writer's own thread, which waits for
  the lock up to ``BUSY_TIMEOUT_MS``. Checkpoints, which do fsync, run on a connection of
  their own in the background. The price: a disk that stalls on a plain write stalls every
  chat, where before it stalled the replies waiting for their writes.
* When the database cannot be written (disk full or read-only, I/O errors), a write asked
  with ``retry`` (questions, votes) fails its caller with ``WriteDeferred`` at once, so the
  answer still goes out, and is kept (at most ``MAX_KEPT``, oldest given up first) to be
  written once the database works again: tried again after ``RETRY_FIRST`` seconds, then
  less often, and at once after any write that works. The log says so once, then in a
  summary every few minutes (bot.storage.faults); ``write_fault`` shows it to the admins.
* Privacy: users are stored under a pseudonymous key, an HMAC of their Telegram id with a
  random salt created with the database (table ``meta``); names are never stored.

``Database`` holds the connections and the primitives (``_write``, ``_rows``, ``_one``); the
tables' queries are classes deriving from it (questions, handoffs, stats), which ``Storage``
puts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import secrets
import sqlite3
from bisect import insort
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import aiosqlite

from bot.storage import revisions
from bot.storage.database_errors import StorageClosed as StorageClosed
from bot.storage.database_errors import StorageError as StorageError
from bot.storage.database_errors import WriteDeferred as WriteDeferred
from bot.storage.faults import FaultLog, WriteFault, is_database_fault

log = logging.getLogger(__name__)

T = TypeVar("T")
Parameters = Mapping[str, Any]


class Row(Protocol):
    """A row read: its columns by name (sqlite3.Row, or SQLAlchemy's RowMapping)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Cursor(Protocol):
    """What a statement in a write job returns: sqlite3's cursor, or its PostgreSQL twin."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """The transaction a write job runs in: a sqlite3 connection on SQLite, an adapter over a
    SQLAlchemy connection on PostgreSQL. Statements use ``:name`` parameters and the SQL both
    engines run, so each query is written once."""

    def execute(self, sql: str, parameters: Parameters = ..., /) -> Cursor: ...


DATABASE_NAME = "bot.sqlite3"
SALT_INSERT = (
    "INSERT INTO meta (key, value) VALUES ('user_key_salt', :salt) ON CONFLICT (key) DO NOTHING"
)
SALT_SELECT = "SELECT value FROM meta WHERE key = 'user_key_salt'"
DAY = 86_400.0
BUSY_TIMEOUT_MS = 10_000
USER_KEY_CACHE = 10_000  # users whose pseudonymous key is kept (about 1.5 MB)
MAX_BATCH = 500  # writes per transaction at most; the rest go in the next one
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints (when there were writes)
BACKSTOP_CHECKPOINT_PAGES = 20_000  # ~80 MB of WAL: the commit itself checkpoints after that
MAX_KEPT = 1_000  # writes kept while the database fails (questions: at most ~4 MB of text)
RETRY_FIRST = 1.0  # seconds before the kept writes are tried again; doubled each time…
RETRY_MAX = 60.0  # …up to this


# The SQLite-only history before Alembic: migration n (1-based) is MIGRATIONS[n - 1]. Frozen:
# Alembic's revision 0001 equals its end; new changes are Alembic revisions.
MIGRATION_1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE questions (
    id              INTEGER PRIMARY KEY,
    at              REAL NOT NULL,
    user_key        TEXT NOT NULL,
    text            TEXT,                   -- NULL once older than the retention period
    action          TEXT NOT NULL CHECK (action IN ('answer', 'suggest', 'handoff')),
    intent          TEXT,                   -- the answered intent
    confidence      REAL NOT NULL,
    best_guess      TEXT,
    assigned_intent TEXT,                   -- set by an admin: leaves the unanswered list
    assigned_at     REAL
);
CREATE INDEX questions_at ON questions (at);
CREATE INDEX questions_user ON questions (user_key, id);

CREATE TABLE votes (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    user_key    TEXT NOT NULL,
    intent      TEXT NOT NULL,
    up          INTEGER NOT NULL CHECK (up IN (0, 1)),
    question_id INTEGER REFERENCES questions (id)
);
CREATE INDEX votes_at ON votes (at);
CREATE INDEX votes_question ON votes (question_id, up);

-- Live handoff. chat_id is the user's private chat: kept, because replies are relayed to it.
CREATE TABLE topics (
    chat_id  INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL UNIQUE
);

CREATE TABLE handoffs (
    id               INTEGER PRIMARY KEY,
    chat_id          INTEGER NOT NULL,
    user_key         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'closed')),
    opened_at        REAL NOT NULL,
    first_reply_at   REAL,
    closed_at        REAL,
    rating           INTEGER CHECK (rating BETWEEN 1 AND 5),
    timeout_notified INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX handoffs_open_per_chat ON handoffs (chat_id) WHERE status != 'closed';
CREATE INDEX handoffs_opened ON handoffs (opened_at);
CREATE INDEX handoffs_closed ON handoffs (closed_at);
CREATE INDEX handoffs_waiting ON handoffs (opened_at)
    WHERE status = 'waiting' AND timeout_notified = 0;
"""

# A forum topic's id means something only in its group: after OPERATOR_CHAT_ID moves to another
# group, the same ids come again. The topics opened before this have no group recorded: they
# are kept, unclaimed (NULL), and only the operator group the bot runs with right after the
# upgrade claims them (Handoffs.claim_topics); no other group ever matches them.
MIGRATION_TOPIC_GROUPS = """
CREATE TABLE topics_in_groups (
    group_id INTEGER,              -- the operators' group; NULL: not claimed yet
    topic_id INTEGER NOT NULL,
    chat_id  INTEGER NOT NULL,     -- the customer's private chat
    UNIQUE (group_id, topic_id),
    UNIQUE (group_id, chat_id)
);
INSERT INTO topics_in_groups (group_id, topic_id, chat_id)
    SELECT NULL, topic_id, chat_id FROM topics;
DROP TABLE topics;
ALTER TABLE topics_in_groups RENAME TO topics;
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'unclaimed_topics', 'yes' WHERE EXISTS (SELECT 1 FROM topics);
"""

# Which copy the customer got of each operator's message: an operator's edit corrects it.
MIGRATION_OPERATOR_COPIES = """
CREATE TABLE operator_copies (
    group_id   INTEGER NOT NULL,   -- the operators' group
    message_id INTEGER NOT NULL,   -- the operator's message there
    chat_id    INTEGER NOT NULL,   -- the customer's private chat
    copy_id    INTEGER NOT NULL,   -- the copy in that chat
    at         REAL NOT NULL,
    PRIMARY KEY (group_id, message_id)
);
CREATE INDEX operator_copies_at ON operator_copies (at);
"""

# What waits to be sent to the operators' group, per customer in order: a restart resumes it.
MIGRATION_OPERATOR_RELAYS = """
CREATE TABLE operator_relays (
    id      INTEGER PRIMARY KEY,   -- the order they were queued in
    chat_id INTEGER NOT NULL,      -- the customer's private chat, whose queue it is in
    kind    TEXT NOT NULL,         -- what to send (see bot.support.handoff)
    payload TEXT NOT NULL          -- JSON: what sending it needs
);
"""

MIGRATIONS: list[str] = [
    MIGRATION_1,
    MIGRATION_TOPIC_GROUPS,
    MIGRATION_OPERATOR_COPIES,
    MIGRATION_OPERATOR_RELAYS,
]


@dataclass(slots=True)
class _Job:
    run: Callable[[Tx], Any]
    savepoint: bool  # more than one statement: undo them together if one fails
    future: asyncio.Future[Any] = field(repr=False)
    heavy: bool = False  # may touch many rows: run it in the writer's thread
    retry: bool = False  # keep it to try again if the database cannot be written
    seq: int = 0  # the order it was asked in (kept writes are tried again in that order)
    again: bool = False  # a kept write tried again


class _TransactionLost(Exception):
    """SQLite rolled the whole transaction back (disk full, I/O error…)."""


async def _connect_reader(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA query_only = ON")
    except BaseException:
        await db.close()
        raise
    return db


def _connect_writer(path: Path) -> sqlite3.Connection:
    """The writing connection: used by one transaction at a time, in the event loop or in the
    writer's thread (see Database)."""
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT).
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # open() waits; see _commit
        db.execute("PRAGMA foreign_keys = ON")
        row = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise StorageError(f"{path}: cannot switch to WAL mode")
        db.execute("PRAGMA synchronous = NORMAL")
        # Checkpoints (copying the WAL into the database, with fsyncs) run in the background
        # (Database._checkpoints), not inside a commit someone is waiting for; this is only the
        # backstop should that task fall behind.
        db.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
    except BaseException:
        db.close()
        raise
    return db


def _user_version(db: sqlite3.Connection) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row is not None else 0


def migrate(db: sqlite3.Connection, migrations: Sequence[str]) -> int:
    """Apply the SQLite-only migrations (the history before Alembic) the database lacks, each in
    its own transaction; the new version."""
    while True:
        version = _user_version(db)
        if version > len(migrations):
            raise StorageError(
                f"the database has schema version {version}, newer than this program "
                f"({len(migrations)}); update the bot"
            )
        if version == len(migrations):
            return version
        target = version + 1
        script = migrations[version]
        try:
            db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n;PRAGMA user_version = {target};\nCOMMIT;"
            )
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            # Another process may have applied it in the meantime: then carry on.
            if _user_version(db) < target:
                raise
        else:
            log.info("database migrated to schema version %d", target)


SQLITE_HEAD = Path(__file__).with_name("sqlite_head.sql")
ALEMBIC_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
)
"""


def sqlite_revision(db: sqlite3.Connection) -> str | None:
    """The Alembic revision recorded in the file; None if it has none (pre-Alembic or new)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone():
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])
    return None


def stamp_baseline(db: sqlite3.Connection) -> None:
    """Record Alembic's baseline in a file the SQLite-only migrations brought to their end (what
    ``alembic stamp`` writes, without loading Alembic)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(ALEMBIC_VERSION_TABLE)
        if sqlite_revision(db) is None:
            db.execute(
                "INSERT INTO alembic_version (version_num) VALUES (:rev)",
                {"rev": revisions.BASELINE},
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def check_sqlite_schema(db: sqlite3.Connection, path: Path) -> None:
    """Start-up: the file must be at the head revision; a new (empty) file is created at it, so
    the first start needs no ``migrate``. A file the previous release made (the last SQLite-only
    version) is the baseline already: it is only stamped, so that upgrade needs no ``migrate``
    either. Raises SchemaBehind / SchemaAhead."""
    revision = sqlite_revision(db)
    if revision is None:
        version = _user_version(db)
        if version > len(MIGRATIONS):
            raise revisions.ahead(f"schema version {version} (SQLite)")
        if version == len(MIGRATIONS):
            stamp_baseline(db)
            revisions.check(revisions.BASELINE)
            return
        if version or db.execute("SELECT 1 FROM sqlite_master").fetchone():
            raise revisions.behind(f"schema version {version} (before {revisions.BASELINE})")
        create_at_head(db)
        revision = sqlite_revision(db)
    revisions.check(revision)


def create_at_head(db: sqlite3.Connection) -> None:
    """A new file: the head's schema in one transaction, from the script Alembic's history
    makes (bot.storage.sqlite_head), so a first start needs neither Alembic nor every
    migration replayed. ``user_version`` says the SQLite-only history is complete too."""
    script = SQLITE_HEAD.read_text(encoding="utf-8")
    try:
        db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {len(MIGRATIONS)};\nCOMMIT;"
        )
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class Database:
    """The writer and the read and write primitives the tables' classes use, on SQLite: the
    connections, the writer's thread, the checkpoints. bot.storage.postgres replaces the
    engine's part (``_transact``, ``_rows``, ``_stop_background``, ``_close_connections``)."""

    path: Path
    name: str  # the database in log lines and errors: the file, or the URL without password
    retention_days: int

    def __init__(
        self,
        path: Path,
        retention_days: int,
        writer: sqlite3.Connection,
        thread: ThreadPoolExecutor,
        reader: aiosqlite.Connection,
        checkpointer: aiosqlite.Connection,
        salt: bytes,
    ) -> None:
        """Use ``await Storage.open(...)``."""
        self.path = path
        self._db = writer
        self._busy_timeout = BUSY_TIMEOUT_MS  # as _connect_writer set it
        self._thread = thread
        self._reader = reader
        self._checkpointer = checkpointer
        self._start(str(path), retention_days, salt)
        self._checkpointing = asyncio.create_task(self._checkpoints(), name="storage-checkpoints")

    def _start(self, name: str, retention_days: int, salt: bytes) -> None:
        """The engine-independent part: the writer task and the kept writes."""
        self.name = name
        self.retention_days = retention_days
        self._salt = salt
        self._user_keys: dict[int, str] = {}
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self._writer = asyncio.create_task(self._write_loop(), name="storage-writer")
        self.transactions = 0  # write transactions committed (group commit at work)
        self._faults = FaultLog(name)
        self._kept: list[_Job] = []  # writes the database refused, oldest first
        self._seq = itertools.count(1)
        self._trying_again = 0  # kept writes queued again and not yet settled
        self._retry_delay = RETRY_FIRST  # the wait before the next try, doubled each time
        self._next_retry = 0.0  # loop time before which they are not tried again
        self._retrying: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, data_dir: Path, *, retention_days: int) -> Self:
        """Open ``<data_dir>/bot.sqlite3`` (created if new), purge expired texts, start the
        writer."""
        return await cls.open_file(Path(data_dir) / DATABASE_NAME, retention_days=retention_days)

    @classmethod
    async def open_file(cls, path: Path, *, retention_days: int) -> Self:
        """Open the SQLite database ``path`` (created at the head revision if new); SchemaBehind
        or SchemaAhead if it is not at the revision this code needs."""
        # One thread owns the writing connection: a whole batch of writes is one hop to it.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        loop = asyncio.get_running_loop()
        writer: sqlite3.Connection | None = None
        reader: aiosqlite.Connection | None = None
        checkpointer: aiosqlite.Connection | None = None

        def prepare() -> tuple[sqlite3.Connection, bytes]:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.touch(mode=0o600)  # the WAL and shared-memory files get the same mode
            db = _connect_writer(path)
            try:
                check_sqlite_schema(db, path)
                db.execute(SALT_INSERT, {"salt": secrets.token_hex(32)})
                row = db.execute(SALT_SELECT).fetchone()
                assert row is not None
                return db, bytes.fromhex(row["value"])
            except BaseException:
                db.close()
                raise

        try:
            writer, salt = await loop.run_in_executor(thread, prepare)
            reader = await _connect_reader(path)
            checkpointer = await aiosqlite.connect(path, isolation_level=None)
        except BaseException as exc:
            if writer is not None:
                await loop.run_in_executor(thread, writer.close)
            if reader is not None:
                await reader.close()
            thread.shutdown(wait=False)
            if isinstance(exc, StorageError):  # SchemaBehind / SchemaAhead: keep the kind
                raise type(exc)(f"{path}: {exc}") from exc
            if isinstance(exc, OSError | sqlite3.Error):
                raise StorageError(f"{path}: {exc}") from exc
            raise
        assert writer is not None
        assert reader is not None
        assert checkpointer is not None
        storage = cls(path, retention_days, writer, thread, reader, checkpointer, salt)
        try:
            await storage._after_open()
        except sqlite3.Error as exc:
            await storage.close()
            raise StorageError(f"{path}: {exc}") from exc
        except BaseException:
            await storage.close()
            raise
        return storage

    async def _after_open(self) -> None:
        """Work a table's class does once the database is open (the retention purge)."""

    async def close(self) -> None:
        """Commit every write queued so far, stop the writer, close the database. Idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        self._closed = True
        if self._retrying is not None:
            self._retrying.cancel()
        self._try_again()  # a last chance for the kept writes, before the writer stops
        self._queue.put_nowait(None)
        self._stop_background()
        try:
            await asyncio.wait([self._writer])  # never raises; the writer fails its own callers
        finally:
            if self._kept:
                log.error(
                    "database %s: %d writes kept while it was failing are lost (%s)",
                    self.name,
                    len(self._kept),
                    self._faults.error,
                )
            await self._close_connections()

    def _stop_background(self) -> None:
        """Closing: the engine's own background work stops (SQLite's checkpoints)."""
        self._checkpointing.cancel()

    async def _close_connections(self) -> None:
        await asyncio.wait([self._checkpointing])
        await self._checkpointer.close()
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._db.close)
        finally:
            self._thread.shutdown(wait=False)
            await self._reader.close()

    async def ping(self) -> str | None:
        """None when the database answers a read; else one line saying what is wrong (for
        /health; the writes' own trouble is ``write_fault``)."""
        try:
            await self._rows("SELECT 1")
        except StorageError as exc:
            return f"database {self.name}: {exc}"
        except Exception as exc:
            return f"database {self.name}: {type(exc).__name__}: {exc}"
        return None

    async def _checkpoints(self) -> None:
        """Fold the WAL into the database every CHECKPOINT_INTERVAL seconds when there were
        writes, on a connection of its own: writers and readers carry on meanwhile (PASSIVE)."""
        done = self.transactions
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if self.transactions == done:
                continue
            done = self.transactions
            try:
                await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # busy or the disk: the next round (or the backstop)
                log.warning("WAL checkpoint failed: %s", exc)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def write_fault(self) -> WriteFault | None:
        """Since when the database has been failing to write, and how much is kept; None while
        writes work."""
        return self._faults.snapshot(len(self._kept) + self._trying_again)

    def user_key(self, user_id: int) -> str:
        """The pseudonymous key a user is stored under: stable, not reversible without the salt.
        Kept for the users seen lately: an HMAC is a few microseconds, a fifth of a question's
        database work, and a person usually asks more than once."""
        key = self._user_keys.get(user_id)
        if key is None:
            if len(self._user_keys) >= USER_KEY_CACHE:
                self._user_keys.clear()  # bounded; the next questions fill it again
            key = hmac.digest(self._salt, str(user_id).encode(), "sha256").hex()[:16]
            self._user_keys[user_id] = key
        return key

    # -- the writer -------------------------------------------------------------------------

    def _write(
        self,
        run: Callable[[Tx], T],
        *,
        savepoint: bool = False,
        heavy: bool = False,
        retry: bool = False,
    ) -> asyncio.Future[T]:
        """Queue a write; the future resolves once its transaction is committed. ``retry``: if
        the database cannot be written, fail with WriteDeferred and keep the write to try
        again (the caller must not need its result)."""
        if self._closed:
            raise StorageClosed(f"{self.name}: the database is closed")
        if self._writer.done():  # never expected: the writer catches every error
            raise StorageError(f"{self.name}: the database writer has stopped")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(run, savepoint, future, heavy, retry, next(self._seq)))
        return future

    async def _write_loop(self) -> None:
        batch: list[_Job] = []
        try:
            while True:
                item = await self._queue.get()
                stop = False
                while True:
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                    if len(batch) >= MAX_BATCH or self._queue.empty():
                        break
                    item = self._queue.get_nowait()
                if batch:
                    await self._commit(batch)
                    batch = []
                if stop:
                    return
        except BaseException:
            # Cancelled (the event loop is shutting down without close()): nobody waits forever.
            self._closed = True
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if job is not None:
                    batch.append(job)
            error = StorageClosed(f"{self.name}: the database writer has stopped")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            raise

    async def _commit(self, batch: list[_Job]) -> None:
        """Run ``batch`` in one transaction; if that transaction fails, its writes one by one."""
        try:
            outcomes = await self._transact(batch)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, _TransactionLost) else exc
            if len(batch) == 1:
                self._failed(batch[0], cause or exc)
                return
            if not is_database_fault(cause or exc):  # else the fault's own log lines tell it
                log.warning("write transaction failed (%s); retrying its writes one by one", exc)
            for job in batch:
                await self._commit([job])
            return
        self.transactions += 1
        faults = False
        for job, result, error in outcomes:
            if error is not None:
                faults = self._failed(job, error) or faults
                continue
            if job.again:
                self._trying_again -= 1
            if not job.future.done():  # else the caller was cancelled; the write stands
                job.future.set_result(result)
        if not faults:
            self._written()

    # -- when the database cannot be written ------------------------------------------------

    def _failed(self, job: _Job, error: BaseException) -> bool:
        """Fail ``job`` with ``error``, or keep it when the database is at fault and the job
        may be tried again; whether the database was at fault."""
        if job.again:
            self._trying_again -= 1
        fault = is_database_fault(error)
        error = self._for_caller(error)
        if fault:
            kept = len(self._kept) + self._trying_again + job.retry
            self._faults.failure(error, kept=kept, new=not job.again)
            if job.retry:
                self._keep(job)
                error = WriteDeferred(f"{self.name}: {error}; kept to be written later")
        if not job.future.done():
            job.future.set_exception(error)
        return fault

    def _for_caller(self, error: BaseException) -> BaseException:
        """The error a write's caller gets: on SQLite, sqlite3's own (callers catch
        sqlite3.Error, or StorageError)."""
        return error

    def _keep(self, job: _Job) -> None:
        insort(self._kept, job, key=lambda kept: kept.seq)
        if len(self._kept) > MAX_KEPT:
            self._kept.pop(0)
            self._faults.drop()
        if self._retrying is None or self._retrying.done():
            self._retry_in(self._retry_delay)

    def _written(self) -> None:
        """A write worked: the kept ones are tried again soon (RETRY_FIRST seconds after the
        last try at the latest); once they are all written, the database works again."""
        if self._kept:
            if self._trying_again == 0:  # else the round under way decides
                self._retry_delay = RETRY_FIRST
                self._retry_in(self._next_retry - asyncio.get_running_loop().time())
        elif self._trying_again == 0 and self._faults.failing:
            self._faults.worked()
            self._retry_delay = RETRY_FIRST

    def _retry_in(self, delay: float) -> None:
        if self._closed:
            return
        if self._retrying is not None:
            self._retrying.cancel()  # only ever waiting: it tries again in one step
        self._retrying = asyncio.create_task(self._retry_kept(delay), name="storage-retry")

    def _try_again(self) -> None:
        """Queue the kept writes again, in the order they were asked."""
        kept, self._kept = self._kept, []
        self._next_retry = asyncio.get_running_loop().time() + RETRY_FIRST
        for job in kept:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retried)
            self._trying_again += 1
            self._queue.put_nowait(
                _Job(job.run, job.savepoint, future, job.heavy, True, job.seq, again=True)
            )

    async def _retry_kept(self, delay: float) -> None:
        """While writes are kept: try them again after ``delay``, then waiting longer each
        time."""
        while self._kept and not self._closed:
            await asyncio.sleep(max(delay, 0.0))
            if self._kept and not self._closed:
                self._try_again()
            delay = self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)

    async def _transact(self, batch: list[_Job]) -> list[tuple[_Job, object, BaseException | None]]:
        """The batch in one transaction: each job's result or error. Raises if the whole
        transaction failed (nothing of it is written)."""
        outcomes = None if any(job.heavy for job in batch) else self._transaction_now(batch)
        if outcomes is None:
            loop = asyncio.get_running_loop()
            outcomes = await loop.run_in_executor(self._thread, self._transaction_waiting, batch)
        return outcomes

    def _transaction_now(
        self, batch: list[_Job]
    ) -> list[tuple[_Job, object, BaseException | None]] | None:
        """In the event loop: the batch's transaction if the database is free right now, else
        None (nothing was written; the caller hands the batch to the thread)."""
        self._set_busy_timeout(0)
        try:
            return self._transaction(batch)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None  # BEGIN IMMEDIATE failed, or the transaction was rolled back
            raise

    def _transaction_waiting(
        self, batch: list[_Job]
    ) -> list[tuple[_Job, object, BaseException | None]]:
        """In the writer's thread: the batch's transaction, waiting for a lock if need be."""
        self._set_busy_timeout(BUSY_TIMEOUT_MS)
        return self._transaction(batch)

    def _set_busy_timeout(self, ms: int) -> None:
        if self._busy_timeout != ms:
            self._db.execute(f"PRAGMA busy_timeout = {ms}")
            self._busy_timeout = ms

    def _transaction(self, batch: list[_Job]) -> list[tuple[_Job, object, BaseException | None]]:
        """BEGIN, the batch's writes, COMMIT (ROLLBACK on failure)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # locked for busy_timeout, disk gone…: raises, no harm
        try:
            outcomes: list[tuple[_Job, object, BaseException | None]] = []
            for job in batch:
                try:
                    if job.savepoint:
                        db.execute("SAVEPOINT job")
                    result = job.run(db)
                    if job.savepoint:
                        db.execute("RELEASE job")
                except Exception as exc:
                    if not db.in_transaction:
                        raise _TransactionLost from exc
                    if job.savepoint:
                        db.execute("ROLLBACK TO job")
                        db.execute("RELEASE job")
                    # A single statement that fails undoes itself; the others are kept.
                    outcomes.append((job, None, exc))
                else:
                    outcomes.append((job, result, None))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                if db.in_transaction:
                    db.execute("ROLLBACK")
            raise
        return outcomes

    # -- reading ----------------------------------------------------------------------------

    async def _rows(self, sql: str, parameters: Parameters | None = None) -> list[Row]:
        if self._closing is not None and self._closing.done():
            raise StorageClosed(f"{self.name}: the database is closed")
        return list(await self._reader.execute_fetchall(sql, parameters or {}))

    async def _one(self, sql: str, parameters: Parameters | None = None) -> Row | None:
        rows = await self._rows(sql, parameters)
        return rows[0] if rows else None


def _retried(future: asyncio.Future[Any]) -> None:
    """A kept write tried again: nobody waits for it, so a refusal is told here (a database
    still failing keeps it again, and the fault's own log lines tell that)."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None and not isinstance(error, WriteDeferred):
        log.warning("a write kept while the database was failing was refused: %s", error)
