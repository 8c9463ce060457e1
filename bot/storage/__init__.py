"""The bot's database: questions, votes and live handoffs, in SQLite driven by aiosqlite.

* One file, ``<DATA_DIR>/bot.sqlite3``, in WAL mode with ``synchronous=NORMAL``: a committed
  transaction survives the process being killed. Readers never wait for the writer.
* Schema changes are numbered migrations (``MIGRATIONS``); ``PRAGMA user_version`` says how
  many have been applied, and open() applies the rest, each in one transaction.
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
* Privacy: users are stored under a pseudonymous key, an HMAC of their Telegram id with a
  random salt created with the database (table ``meta``); names are never stored. The one
  exception is the live-handoff tables (``handoffs``, ``topics``), which keep the private
  chat id because the bot must relay the operators' replies to it. Question texts older than
  ``retention_days`` are deleted (set to NULL); the rows stay, so counts stay. So is the chat
  id of a handoff closed longer ago than that (set to 0), and the topic of a chat left
  without any handoff: the figures stay, and the next handoff of that person opens a new
  topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import sqlite3
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from bot.engine.matcher import Decision

log = logging.getLogger(__name__)

Action = Literal["answer", "suggest", "handoff"]
T = TypeVar("T")
_Parameters = Sequence[object] | Mapping[str, object]

DATABASE_NAME = "bot.sqlite3"
DAY = 86_400.0
STATS_DAYS = 7
BUSY_TIMEOUT_MS = 10_000
USER_KEY_CACHE = 10_000  # users whose pseudonymous key is kept (about 1.5 MB)
MAX_BATCH = 500  # writes per transaction at most; the rest go in the next one
MAX_TEXT = 4096  # a Telegram message is at most 4,096 characters
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints (when there were writes)
BACKSTOP_CHECKPOINT_PAGES = 20_000  # ~80 MB of WAL: the commit itself checkpoints after that

# Migration n (1-based) is MIGRATIONS[n - 1]. Never edit an applied migration: append a new
# script, e.g. MIGRATIONS.append("ALTER TABLE questions ADD COLUMN language TEXT;").
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

MIGRATIONS: list[str] = [MIGRATION_1]


class StorageError(Exception):
    """The database cannot be used; the message names the file."""


class StorageClosed(StorageError):
    """A write was attempted after close()."""


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    id: int
    at: float
    user_key: str
    text: str | None  # None once older than RETENTION_DAYS
    action: str  # answer / suggest / handoff
    intent: str | None  # the answered intent (None for suggest/handoff)
    confidence: float
    best_guess: str | None  # decision.intent, else first suggestion, else top of the ranking


@dataclass(frozen=True, slots=True)
class Handoff:
    id: int
    chat_id: int
    user_key: str
    status: str  # "waiting" (no operator reply yet) | "active" | "closed"
    opened_at: float
    first_reply_at: float | None
    closed_at: float | None
    rating: int | None  # 1..5
    timeout_notified: bool


@dataclass(frozen=True, slots=True)
class IntentVotes:
    intent: str
    up: int
    down: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Figures for the admins. "7 days" is the 7 × 24 hours before ``now``."""

    now: float
    questions_total: int  # since the database was created (purged texts still count)
    questions_today: int  # since local midnight of ``now``
    questions_7d: int
    answered_7d: int
    suggested_7d: int
    handed_off_7d: int
    votes_7d: tuple[IntentVotes, ...]  # most voted intent first
    handoffs_opened_7d: int
    handoffs_closed_7d: int
    handoffs_open: int  # waiting or active right now
    median_first_reply: float | None  # seconds, handoffs opened in the 7 days
    average_rating: float | None  # handoffs closed in the 7 days
    ratings_7d: int

    def share(self, action: Action) -> float:
        """Fraction (0..1) of the last 7 days' questions that got ``action``."""
        count = {
            "answer": self.answered_7d,
            "suggest": self.suggested_7d,
            "handoff": self.handed_off_7d,
        }[action]
        return count / self.questions_7d if self.questions_7d else 0.0


@dataclass(slots=True)
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    savepoint: bool  # more than one statement: undo them together if one fails
    future: asyncio.Future[Any] = field(repr=False)
    heavy: bool = False  # may touch many rows: run it in the writer's thread


class _TransactionLost(Exception):
    """SQLite rolled the whole transaction back (disk full, I/O error…)."""


def _record(row: sqlite3.Row) -> QuestionRecord:
    return QuestionRecord(
        id=row["id"],
        at=row["at"],
        user_key=row["user_key"],
        text=row["text"],
        action=row["action"],
        intent=row["intent"],
        confidence=row["confidence"],
        best_guess=row["best_guess"],
    )


def _handoff(row: sqlite3.Row) -> Handoff:
    return Handoff(
        id=row["id"],
        chat_id=row["chat_id"],
        user_key=row["user_key"],
        status=row["status"],
        opened_at=row["opened_at"],
        first_reply_at=row["first_reply_at"],
        closed_at=row["closed_at"],
        rating=row["rating"],
        timeout_notified=bool(row["timeout_notified"]),
    )


def best_guess(decision: Decision) -> str | None:
    """The intent the engine leaned to, even when it did not answer."""
    if decision.intent is not None:
        return decision.intent
    if decision.suggestions:
        return decision.suggestions[0]
    if decision.ranking:
        return decision.ranking[0][0]
    return None


def local_midnight(now: float, zone: tzinfo | None = None) -> float:
    """The start of ``now``'s day in ``zone`` (None: the server's time zone)."""
    day = datetime.fromtimestamp(now, zone)
    return day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


_QUESTION_COLUMNS = "id, at, user_key, text, action, intent, confidence, best_guess"
_HANDOFF_COLUMNS = (
    "id, chat_id, user_key, status, opened_at, first_reply_at, closed_at, rating, timeout_notified"
)


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
    writer's thread (see Storage)."""
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
        # (Storage._checkpoints), not inside a commit someone is waiting for; this is only the
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
    """Apply the migrations the database lacks, each in its own transaction; the new version."""
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


class Storage:
    path: Path
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
        self.retention_days = retention_days
        self._db = writer
        self._busy_timeout = BUSY_TIMEOUT_MS  # as _connect_writer set it
        self._thread = thread
        self._reader = reader
        self._checkpointer = checkpointer
        self._salt = salt
        self._user_keys: dict[int, str] = {}
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self._writer = asyncio.create_task(self._write_loop(), name="storage-writer")
        self.transactions = 0  # write transactions committed (group commit at work)
        self._checkpointing = asyncio.create_task(self._checkpoints(), name="storage-checkpoints")

    @classmethod
    async def open(cls, data_dir: Path, *, retention_days: int) -> Storage:
        """Create or upgrade ``<data_dir>/bot.sqlite3``, purge expired texts, start the writer."""
        path = Path(data_dir) / DATABASE_NAME
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
                migrate(db, MIGRATIONS)
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('user_key_salt', ?)",
                    (secrets.token_hex(32),),
                )
                row = db.execute("SELECT value FROM meta WHERE key = 'user_key_salt'").fetchone()
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
            if isinstance(exc, OSError | sqlite3.Error):
                raise StorageError(f"{path}: {exc}") from exc
            raise
        assert writer is not None
        assert reader is not None
        assert checkpointer is not None
        storage = cls(path, retention_days, writer, thread, reader, checkpointer, salt)
        try:
            await storage.purge_expired()
        except sqlite3.Error as exc:
            await storage.close()
            raise StorageError(f"{path}: {exc}") from exc
        except BaseException:
            await storage.close()
            raise
        return storage

    async def close(self) -> None:
        """Commit every write queued so far, stop the writer, close the database. Idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        self._closed = True
        self._queue.put_nowait(None)
        self._checkpointing.cancel()
        try:
            await asyncio.wait([self._writer])  # never raises; the writer fails its own callers
        finally:
            await asyncio.wait([self._checkpointing])
            await self._checkpointer.close()
            try:
                await asyncio.get_running_loop().run_in_executor(self._thread, self._db.close)
            finally:
                self._thread.shutdown(wait=False)
                await self._reader.close()

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
        run: Callable[[sqlite3.Connection], T],
        *,
        savepoint: bool = False,
        heavy: bool = False,
    ) -> asyncio.Future[T]:
        """Queue a write; the future resolves once its transaction is committed."""
        if self._closed:
            raise StorageClosed(f"{self.path}: the database is closed")
        if self._writer.done():  # never expected: the writer catches every error
            raise StorageError(f"{self.path}: the database writer has stopped")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(run, savepoint, future, heavy))
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
            error = StorageClosed(f"{self.path}: the database writer has stopped")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            raise

    async def _commit(self, batch: list[_Job]) -> None:
        """Run ``batch`` in one transaction; if that transaction fails, its writes one by one."""
        try:
            outcomes = None if any(job.heavy for job in batch) else self._transaction_now(batch)
            if outcomes is None:
                loop = asyncio.get_running_loop()
                outcomes = await loop.run_in_executor(
                    self._thread, self._transaction_waiting, batch
                )
        except Exception as exc:
            if len(batch) == 1:
                error = exc.__cause__ if isinstance(exc, _TransactionLost) else exc
                if not batch[0].future.done():
                    batch[0].future.set_exception(error or exc)
                return
            log.warning("write transaction failed (%s); retrying its writes one by one", exc)
            for job in batch:
                await self._commit([job])
            return
        self.transactions += 1
        for job, result, error in outcomes:
            if job.future.done():  # the caller was cancelled; the write stands
                continue
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

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

    async def _rows(self, sql: str, parameters: _Parameters = ()) -> list[sqlite3.Row]:
        if self._closing is not None and self._closing.done():
            raise StorageClosed(f"{self.path}: the database is closed")
        return list(await self._reader.execute_fetchall(sql, parameters))

    async def _one(self, sql: str, parameters: _Parameters = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, parameters)
        return rows[0] if rows else None

    # -- questions and votes ----------------------------------------------------------------

    async def record_question(
        self, user_id: int, text: str, decision: Decision, *, at: float | None = None
    ) -> int:
        """Store a question and the bot's decision; the row id, once committed."""
        values = (
            time.time() if at is None else at,
            self.user_key(user_id),
            text[:MAX_TEXT],
            decision.action,
            decision.intent if decision.action == "answer" else None,
            float(decision.confidence),
            best_guess(decision),
        )

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO questions (at, user_key, text, action, intent, confidence,"
                " best_guess) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return await self._write(insert)

    async def record_vote(
        self,
        user_id: int,
        intent: str,
        up: bool,
        question_id: int | None = None,
        *,
        at: float | None = None,
    ) -> bool:
        """A 👍/👎 on an answer; linked to its question when that question is known. One vote
        per person and question counts: False (nothing stored) when this person has voted on
        this question already (a double tap, or the old keyboard on a second device)."""
        key = self.user_key(user_id)
        values = (time.time() if at is None else at, key, intent, int(up))

        def insert(db: sqlite3.Connection) -> bool:
            # An unknown question id (a button from another database) is stored as no link.
            cursor = db.execute(
                "INSERT INTO votes (at, user_key, intent, up, question_id)"
                " SELECT ?, ?, ?, ?, (SELECT id FROM questions WHERE id = ?)"
                " WHERE NOT EXISTS ("
                "   SELECT 1 FROM votes WHERE question_id = ? AND user_key = ?)",
                (*values, question_id, question_id, key),
            )
            return cursor.rowcount == 1

        return await self._write(insert)

    async def recent_questions(self, user_id: int, limit: int = 5) -> list[QuestionRecord]:
        """The user's last ``limit`` questions, newest last."""
        rows = await self._rows(
            f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE user_key = ?"
            " ORDER BY id DESC LIMIT ?",
            (self.user_key(user_id), limit),
        )
        return [_record(row) for row in reversed(rows)]

    async def question(self, question_id: int) -> QuestionRecord | None:
        row = await self._one(
            f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE id = ?", (question_id,)
        )
        return None if row is None else _record(row)

    async def mark_assigned(
        self, question_ids: Sequence[int], intent: str, *, at: float | None = None
    ) -> None:
        """An admin has dealt with these questions (filed under ``intent``): off /unanswered."""
        ids = list(dict.fromkeys(question_ids))
        if not ids:
            return
        when = time.time() if at is None else at

        def update(db: sqlite3.Connection) -> None:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    "UPDATE questions SET assigned_intent = ?, assigned_at = ?"
                    f" WHERE id IN ({marks})",
                    (intent, when, *chunk),
                )

        await self._write(update, savepoint=len(ids) > 500, heavy=True)

    async def purge_expired(self, now: float | None = None) -> int:
        """Delete the texts of questions older than ``retention_days``, and the chat ids of
        handoffs closed before then (with the topics no handoff refers to any more); how many
        question texts were deleted."""
        cutoff = (time.time() if now is None else now) - self.retention_days * DAY

        def update(db: sqlite3.Connection) -> tuple[int, int]:
            texts = db.execute(
                "UPDATE questions SET text = NULL WHERE at < ? AND text IS NOT NULL", (cutoff,)
            ).rowcount
            chats = db.execute(
                "UPDATE handoffs SET chat_id = 0"
                " WHERE status = 'closed' AND closed_at < ? AND chat_id != 0",
                (cutoff,),
            ).rowcount
            db.execute("DELETE FROM topics WHERE chat_id NOT IN (SELECT chat_id FROM handoffs)")
            return texts, chats

        count, chats = await self._write(update, savepoint=True, heavy=True)
        if count:
            log.info("retention: deleted the text of %d questions", count)
        if chats:
            log.info("retention: forgot the chat of %d closed conversations", chats)
        return count

    async def run_retention(self, interval: float = 3600.0) -> None:
        """Purge expired texts every ``interval`` seconds until the storage is closed.

        Start it as a background task; cancel it (or close the storage) to stop it.
        """
        while not self._closed:
            await asyncio.sleep(interval)
            try:
                await self.purge_expired()
            except StorageClosed:
                return
            except Exception:
                log.exception("retention purge failed; trying again in %s s", interval)

    # -- live handoff -----------------------------------------------------------------------

    async def topic_for(self, chat_id: int) -> int | None:
        row = await self._one("SELECT topic_id FROM topics WHERE chat_id = ?", (chat_id,))
        return None if row is None else int(row["topic_id"])

    async def chat_for_topic(self, topic_id: int) -> int | None:
        row = await self._one("SELECT chat_id FROM topics WHERE topic_id = ?", (topic_id,))
        return None if row is None else int(row["chat_id"])

    async def set_topic(self, chat_id: int, topic_id: int) -> None:
        """The operators' forum topic for this chat, replacing an old one."""

        def upsert(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM topics WHERE topic_id = ? AND chat_id != ?", (topic_id, chat_id)
            )
            db.execute(
                "INSERT INTO topics (chat_id, topic_id) VALUES (?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET topic_id = excluded.topic_id",
                (chat_id, topic_id),
            )

        await self._write(upsert, savepoint=True)

    async def open_handoff(self, chat_id: int, user_id: int, *, at: float | None = None) -> Handoff:
        """A new handoff for this chat, or the one already open."""
        opened_at = time.time() if at is None else at
        key = self.user_key(user_id)

        def open_one(db: sqlite3.Connection) -> Handoff:
            select = (
                f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE chat_id = ? AND status != 'closed'"
            )
            row = db.execute(select, (chat_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO handoffs (chat_id, user_key, status, opened_at)"
                    " VALUES (?, ?, 'waiting', ?)",
                    (chat_id, key, opened_at),
                )
                row = db.execute(select, (chat_id,)).fetchone()
            assert row is not None
            return _handoff(row)

        return await self._write(open_one, savepoint=True)

    async def current_handoff(self, chat_id: int) -> Handoff | None:
        """The chat's open handoff (waiting or active), if any."""
        row = await self._one(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE chat_id = ? AND status != 'closed'",
            (chat_id,),
        )
        return None if row is None else _handoff(row)

    async def open_handoffs(self) -> list[Handoff]:
        """Every handoff still open (waiting or active), oldest first: for a restart."""
        rows = await self._rows(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE status != 'closed'"
            " ORDER BY opened_at, id"
        )
        return [_handoff(row) for row in rows]

    async def handoff(self, handoff_id: int) -> Handoff | None:
        row = await self._one(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE id = ?", (handoff_id,)
        )
        return None if row is None else _handoff(row)

    async def operator_replied(self, handoff_id: int, *, at: float | None = None) -> None:
        """An operator answered: the first time, record when; the handoff becomes active."""
        when = time.time() if at is None else at

        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE handoffs SET first_reply_at = COALESCE(first_reply_at, ?),"
                " status = 'active' WHERE id = ? AND status != 'closed'",
                (when, handoff_id),
            )

        await self._write(update)

    async def close_handoff(self, handoff_id: int, *, at: float | None = None) -> Handoff | None:
        """Close an open handoff; the closed handoff, or None if it was not open."""
        when = time.time() if at is None else at

        def close_one(db: sqlite3.Connection) -> Handoff | None:
            cursor = db.execute(
                "UPDATE handoffs SET status = 'closed', closed_at = ?"
                " WHERE id = ? AND status != 'closed'",
                (when, handoff_id),
            )
            if cursor.rowcount != 1:
                return None
            row = db.execute(
                f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE id = ?", (handoff_id,)
            ).fetchone()
            return None if row is None else _handoff(row)

        return await self._write(close_one, savepoint=True)

    async def rate_handoff(self, handoff_id: int, rating: int) -> bool:
        """Store the user's 1..5 rating; False if not closed, already rated, or out of range."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            return False

        def update(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE handoffs SET rating = ?"
                " WHERE id = ? AND status = 'closed' AND rating IS NULL",
                (rating, handoff_id),
            )
            return cursor.rowcount == 1

        return await self._write(update)

    async def handoffs_waiting(self, opened_before: float) -> list[Handoff]:
        """Handoffs still without an operator reply, opened before, whose user was not told."""
        rows = await self._rows(
            f"SELECT {_HANDOFF_COLUMNS} FROM handoffs"
            " WHERE status = 'waiting' AND timeout_notified = 0 AND opened_at < ?"
            " ORDER BY opened_at, id",
            (opened_before,),
        )
        return [_handoff(row) for row in rows]

    async def mark_timeout_notified(self, handoff_id: int) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute("UPDATE handoffs SET timeout_notified = 1 WHERE id = ?", (handoff_id,))

        await self._write(update)

    # -- reports ----------------------------------------------------------------------------

    async def stats(self, now: float | None = None, *, zone: tzinfo | None = None) -> Stats:
        """The figures for /stats; "today" starts at midnight in `zone` (None: the server's)."""
        now = time.time() if now is None else now
        since = now - STATS_DAYS * DAY
        window = (since, now)
        counts = await self._one(
            """
            SELECT
              (SELECT COUNT(*) FROM questions) AS total,
              (SELECT COUNT(*) FROM questions WHERE at >= :midnight AND at <= :now) AS today,
              (SELECT COUNT(*) FROM questions WHERE at > :since AND at <= :now) AS week,
              (SELECT COUNT(*) FROM questions
                 WHERE at > :since AND at <= :now AND action = 'answer') AS answered,
              (SELECT COUNT(*) FROM questions
                 WHERE at > :since AND at <= :now AND action = 'suggest') AS suggested,
              (SELECT COUNT(*) FROM questions
                 WHERE at > :since AND at <= :now AND action = 'handoff') AS handed_off,
              (SELECT COUNT(*) FROM handoffs
                 WHERE opened_at > :since AND opened_at <= :now) AS opened,
              (SELECT COUNT(*) FROM handoffs
                 WHERE closed_at > :since AND closed_at <= :now) AS closed,
              (SELECT COUNT(*) FROM handoffs WHERE status != 'closed') AS open_now,
              (SELECT AVG(rating) FROM handoffs
                 WHERE closed_at > :since AND closed_at <= :now) AS rating,
              (SELECT COUNT(rating) FROM handoffs
                 WHERE closed_at > :since AND closed_at <= :now) AS ratings
            """,
            {"midnight": local_midnight(now, zone), "since": since, "now": now},
        )
        assert counts is not None
        votes = await self._rows(
            "SELECT intent, SUM(up) AS up, SUM(1 - up) AS down FROM votes"
            " WHERE at > ? AND at <= ? GROUP BY intent ORDER BY COUNT(*) DESC, intent",
            window,
        )
        waits = await self._rows(
            "SELECT first_reply_at - opened_at AS wait FROM handoffs"
            " WHERE opened_at > ? AND opened_at <= ? AND first_reply_at IS NOT NULL",
            window,
        )
        return Stats(
            now=now,
            questions_total=counts["total"],
            questions_today=counts["today"],
            questions_7d=counts["week"],
            answered_7d=counts["answered"],
            suggested_7d=counts["suggested"],
            handed_off_7d=counts["handed_off"],
            votes_7d=tuple(IntentVotes(r["intent"], r["up"], r["down"]) for r in votes),
            handoffs_opened_7d=counts["opened"],
            handoffs_closed_7d=counts["closed"],
            handoffs_open=counts["open_now"],
            median_first_reply=(
                float(statistics.median(r["wait"] for r in waits)) if waits else None
            ),
            average_rating=counts["rating"],
            ratings_7d=counts["ratings"],
        )

    async def unanswered(self, *, days: int = 30, now: float | None = None) -> list[QuestionRecord]:
        """Questions the bot did not answer, or whose answer got a 👎, in the last ``days``.

        Assigned questions and purged texts are left out; oldest first.
        """
        now = time.time() if now is None else now
        rows = await self._rows(
            f"SELECT {_QUESTION_COLUMNS} FROM questions AS q"
            " WHERE q.at > ? AND q.at <= ? AND q.assigned_intent IS NULL"
            " AND q.text IS NOT NULL AND (q.action != 'answer' OR EXISTS ("
            "   SELECT 1 FROM votes AS v WHERE v.question_id = q.id AND v.up = 0))"
            " ORDER BY q.at, q.id",
            (now - days * DAY, now),
        )
        return [_record(row) for row in rows]
