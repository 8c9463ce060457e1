"""The database: schema migrations, privacy, round trips, group commit, retention, handoffs,
and the figures behind the admin reports. The tests taking ``storage`` or ``database`` run on
SQLite and on PostgreSQL; those about the SQLite file itself (WAL, the writer's lock, a failing
disk) on SQLite only."""

from __future__ import annotations

import asyncio
import hmac
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy.exc

import bot.storage.database
from bot.engine.matcher import Decision
from bot.storage import (
    DATABASE_NAME,
    DAY,
    HEAD,
    MIGRATIONS,
    IntentVotes,
    QuestionRecord,
    SchemaBehind,
    Stats,
    Storage,
    StorageClosed,
    StorageError,
    Tx,
    WriteDeferred,
    migrate,
)
from bot.storage.faults import SUMMARY_INTERVAL, FaultLog
from bot.storage.upgrade import migrate_database
from tests.support.databases import BotDatabase
from tests.support.storage_faults import disk_full, writes_fail

ANSWER = Decision("answer", "cso_role", 0.82, (), False, (("cso_role", 0.82), ("cmo_role", 0.4)))
SUGGEST = Decision("suggest", "cso_skills", 0.36, ("cso_skills", "cmo_skills"))
HANDOFF = Decision("handoff", None, 0.12, (), False, (("summary", 0.12), ("cso_role", 0.1)))
HANDOFF_NO_RANKING = Decision("handoff", None, 0.0)

# Local noon, far from any daylight-saving change: "today" and "7 days" are unambiguous.
NOON = datetime(2025, 6, 15, 12, 0).timestamp()
HOUR = 3600.0
OPS = -1001234567890  # the operators' forum group


def constraint_violated(error: object) -> bool:
    """A statement the database refused (a CHECK, a UNIQUE): sqlite3's own error on SQLite, a
    StorageError caused by it on PostgreSQL."""
    if isinstance(error, sqlite3.IntegrityError):
        return True
    return isinstance(error, StorageError) and isinstance(
        error.__cause__, sqlalchemy.exc.IntegrityError
    )


# For the tests about the SQLite file itself: the ``storage``/``database`` fixtures on SQLite.
sqlite_only = pytest.mark.parametrize("database_engine", ["sqlite"], indirect=True)


@pytest.fixture
async def storage(database: BotDatabase) -> AsyncIterator[Storage]:
    db = await database.open(retention_days=90)
    yield db
    await db.close()


def _sql(path: Path, query: str) -> list[tuple[object, ...]]:
    """Look at the file with plain sqlite3, as someone inspecting it would."""
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


def _files(directory: Path) -> dict[str, bytes]:
    return {file.name: file.read_bytes() for file in directory.iterdir()}


# -- schema and migrations ------------------------------------------------------------------


async def test_a_fresh_database_gets_every_migration_and_wal_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "there" / "yet"
    storage = await Storage.open(data_dir, retention_days=90)
    try:
        assert storage.path == data_dir / DATABASE_NAME
        assert storage.path.is_file()
        assert _sql(storage.path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
        assert _sql(storage.path, "SELECT version_num FROM alembic_version") == [(HEAD,)]
        assert _sql(storage.path, "PRAGMA journal_mode") == [("wal",)]
        tables = {row[0] for row in _sql(storage.path, "SELECT name FROM sqlite_master")}
        assert {"meta", "questions", "votes", "topics", "handoffs"} <= tables
        assert {"questions_at", "votes_question", "handoffs_waiting"} <= tables  # indexes
    finally:
        await storage.close()


SALT = "ab" * 32


def _database_at_version(path: Path, version: int) -> int:
    """A file as the bot made it before Alembic, at schema version ``version``, with the salt
    of its users' keys and Lan's (user 7's) question; that question's id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        assert migrate(db, MIGRATIONS[:version]) == version
        db.execute("INSERT INTO meta (key, value) VALUES ('user_key_salt', ?)", (SALT,))
        key = hmac.digest(bytes.fromhex(SALT), b"7", "sha256").hex()[:16]
        cursor = db.execute(
            "INSERT INTO questions (at, user_key, text, action, intent, confidence)"
            " VALUES (?, ?, 'CSO là gì?', 'answer', 'cso_role', 0.8)",
            (time.time(), key),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
async def test_an_old_version_database_is_upgraded_by_migrate_and_keeps_its_data(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / DATABASE_NAME
    question_id = _database_at_version(path, version)

    # The bot refuses to start on it, and says what to do.
    with pytest.raises(SchemaBehind, match=r"schema version \d.*run `python -m bot migrate`"):
        await Storage.open(tmp_path, retention_days=90)

    assert await migrate_database(f"sqlite:///{path}") == HEAD
    assert await migrate_database(f"sqlite:///{path}") == HEAD  # again: nothing to do
    new = await Storage.open(tmp_path, retention_days=90)
    try:
        record = await new.question(question_id)
        assert record is not None
        assert record.text == "CSO là gì?"
        assert [r.id for r in await new.recent_questions(7)] == [question_id]  # same salt
    finally:
        await new.close()
    assert _sql(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert _sql(path, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert _sql(path, "SELECT text FROM questions") == [("CSO là gì?",)]


async def test_a_database_of_the_last_sqlite_only_version_is_refused_until_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / DATABASE_NAME
    question_id = _database_at_version(path, len(MIGRATIONS))  # the release before Alembic

    with pytest.raises(SchemaBehind, match=r"run `python -m bot migrate`"):
        await Storage.open(tmp_path, retention_days=90)
    assert await migrate_database(f"sqlite:///{path}") == HEAD

    storage = await Storage.open(tmp_path, retention_days=90)
    try:
        record = await storage.question(question_id)
        assert record is not None
        assert record.text == "CSO là gì?"
        assert [r.id for r in await storage.recent_questions(7)] == [question_id]
    finally:
        await storage.close()
    assert _sql(path, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert await migrate_database(f"sqlite:///{path}") == HEAD  # nothing left to do


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    _database_at_version(path, len(MIGRATIONS) - 1)

    broken = "ALTER TABLE questions ADD COLUMN language TEXT; CREATE TABLE questions (x);"
    with (
        closing(sqlite3.connect(path, isolation_level=None)) as db,
        pytest.raises(sqlite3.OperationalError, match="already exists"),
    ):
        migrate(db, [*MIGRATIONS[:-1], broken])

    assert _sql(path, "PRAGMA user_version") == [(len(MIGRATIONS) - 1,)]
    columns = [row[1] for row in _sql(path, "PRAGMA table_info(questions)")]
    assert "language" not in columns
    assert _sql(path, "SELECT text FROM questions") == [("CSO là gì?",)]


async def test_a_database_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="newer"):
        await Storage.open(tmp_path, retention_days=90)


async def test_a_file_that_is_not_a_database_gives_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match=DATABASE_NAME):
        await Storage.open(tmp_path, retention_days=90)


# -- privacy --------------------------------------------------------------------------------


async def test_user_keys_are_stable_per_user_and_differ_between_users(tmp_path: Path) -> None:
    first = await Storage.open(tmp_path / "a", retention_days=90)
    key = first.user_key(123456789)
    assert len(key) == 16
    assert int(key, 16) >= 0  # hexadecimal
    assert first.user_key(123456789) == key
    assert first.user_key(123456788) != key
    await first.close()

    reopened = await Storage.open(tmp_path / "a", retention_days=90)
    other_database = await Storage.open(tmp_path / "b", retention_days=90)
    try:
        assert reopened.user_key(123456789) == key
        assert other_database.user_key(123456789) != key  # each database has its own salt
    finally:
        await reopened.close()
        await other_database.close()


async def test_a_user_keeps_the_same_key_however_many_others_ask_in_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.storage.database, "USER_KEY_CACHE", 3)
    db = await Storage.open(tmp_path, retention_days=90)
    try:
        first = [db.user_key(user) for user in range(10)]  # the kept keys forgotten twice
        assert [db.user_key(user) for user in range(10)] == first
        assert len(set(first)) == 10
        assert len(db._user_keys) <= 3
    finally:
        await db.close()


async def test_the_database_file_holds_no_user_id_for_questions_and_votes(
    tmp_path: Path,
) -> None:
    user_id = 987654321
    storage = await Storage.open(tmp_path, retention_days=90)
    question_id = await storage.record_question(user_id, "CSO là gì?", ANSWER)
    await storage.record_vote(user_id, "cso_role", False, question_id)
    await storage.close()

    for name, content in _files(tmp_path).items():  # the database and any WAL left behind
        assert str(user_id).encode() not in content, name
    path = tmp_path / DATABASE_NAME
    for table in ("questions", "votes"):
        columns = [str(row[1]) for row in _sql(path, f"PRAGMA table_info({table})")]
        assert "user_key" in columns
        assert not [c for c in columns if "name" in c or c in {"user_id", "chat_id"}]
        for row in _sql(path, f"SELECT * FROM {table}"):
            assert user_id not in row
            assert str(user_id) not in row


# -- questions and votes --------------------------------------------------------------------


async def test_record_question_round_trip(storage: Storage) -> None:
    answered = await storage.record_question(1, "CSO là gì?", ANSWER, at=NOON)
    suggested = await storage.record_question(1, "chiến lược", SUGGEST, at=NOON + 1)
    handed_off = await storage.record_question(2, "Tối nay MU đá với ai?", HANDOFF, at=NOON + 2)
    unranked = await storage.record_question(2, "😀", HANDOFF_NO_RANKING, at=NOON + 3)

    assert await storage.question(answered) == QuestionRecord(
        answered, NOON, storage.user_key(1), "CSO là gì?", "answer", "cso_role", 0.82, "cso_role"
    )
    assert await storage.question(suggested) == QuestionRecord(
        suggested, NOON + 1, storage.user_key(1), "chiến lược", "suggest", None, 0.36,
        "cso_skills",
    )  # fmt: skip
    record = await storage.question(handed_off)
    assert record is not None
    assert (record.intent, record.best_guess) == (None, "summary")  # top of the ranking
    record = await storage.question(unranked)
    assert record is not None
    assert record.best_guess is None
    assert await storage.question(10_000) is None


async def test_recent_questions_are_the_users_own_newest_last(storage: Storage) -> None:
    for n in range(7):
        await storage.record_question(1, f"câu hỏi {n}", ANSWER, at=NOON + n)
    await storage.record_question(2, "của người khác", ANSWER, at=NOON + 10)

    recent = await storage.recent_questions(1)
    assert [r.text for r in recent] == [f"câu hỏi {n}" for n in range(2, 7)]
    assert [r.text for r in await storage.recent_questions(1, limit=2)] == [
        "câu hỏi 5",
        "câu hỏi 6",
    ]
    assert await storage.recent_questions(3) == []


async def test_a_thumbs_down_puts_an_answered_question_into_unanswered(storage: Storage) -> None:
    liked = await storage.record_question(1, "CSO là gì?", ANSWER, at=NOON)
    disliked = await storage.record_question(2, "CSO làm gì?", ANSWER, at=NOON + 1)
    suggested = await storage.record_question(3, "chiến lược", SUGGEST, at=NOON + 2)
    handed_off = await storage.record_question(4, "MU đá với ai?", HANDOFF, at=NOON + 3)
    await storage.record_vote(1, "cso_role", True, liked, at=NOON + 10)
    await storage.record_vote(2, "cso_role", False, disliked, at=NOON + 10)

    unanswered = await storage.unanswered(now=NOON + HOUR)
    assert [r.id for r in unanswered] == [disliked, suggested, handed_off]


async def test_mark_assigned_takes_questions_off_the_unanswered_list(storage: Storage) -> None:
    disliked = await storage.record_question(2, "CSO làm gì?", ANSWER, at=NOON)
    await storage.record_vote(2, "cso_role", False, disliked, at=NOON + 1)
    suggested = await storage.record_question(3, "chiến lược", SUGGEST, at=NOON + 2)
    handed_off = await storage.record_question(4, "MU đá với ai?", HANDOFF, at=NOON + 3)

    await storage.mark_assigned([disliked, suggested], "cso_responsibilities")
    await storage.mark_assigned([], "cso_role")  # nothing to do

    assert [r.id for r in await storage.unanswered(now=NOON + HOUR)] == [handed_off]


async def test_one_vote_per_person_and_question_counts(storage: Storage) -> None:
    question_id = await storage.record_question(1, "CSO là gì?", ANSWER, at=NOON)

    assert await storage.record_vote(1, "cso_role", False, question_id, at=NOON + 1)
    assert not await storage.record_vote(1, "cso_role", False, question_id, at=NOON + 2)
    assert not await storage.record_vote(1, "cso_role", True, question_id, at=NOON + 3)
    assert await storage.record_vote(2, "cso_role", True, question_id, at=NOON + 4)

    stats = await storage.stats(now=NOON + HOUR)
    assert stats.votes_7d == (IntentVotes("cso_role", 1, 1),)


async def test_a_vote_for_an_unknown_question_is_kept_without_the_link(
    storage: Storage,
) -> None:
    await storage.record_vote(1, "cso_role", False, 424242, at=NOON)
    stats = await storage.stats(now=NOON + HOUR)
    assert stats.votes_7d == (IntentVotes("cso_role", 0, 1),)
    assert await storage.unanswered(now=NOON + HOUR) == []


async def test_a_vote_links_only_to_the_voters_own_answer_of_that_intent(
    storage: Storage,
) -> None:
    lans = await storage.record_question(1, "CSO là gì?", ANSWER, at=NOON)

    await storage.record_vote(2, "cso_role", False, lans, at=NOON + 2)  # someone else
    await storage.record_vote(1, "cmo_role", False, lans, at=NOON + 3)  # not the answer given

    assert await storage.unanswered(now=NOON + HOUR) == []


# -- when the database cannot be written ----------------------------------------------------


async def texts_written(storage: Storage, count: int) -> list[object]:
    """The questions' texts in the order they were asked, once there are `count` of them."""
    for _ in range(1000):
        rows = _sql(storage.path, "SELECT text FROM questions ORDER BY at")
        if len(rows) == count:
            return [row[0] for row in rows]
        await asyncio.sleep(0.01)
    raise AssertionError(f"not {count} questions written")


@sqlite_only
async def test_a_question_the_database_cannot_take_is_kept_and_written_when_it_can(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    long_question = "Cho mình hỏi chi tiết về vai trò của CSO. " * 90  # needs new pages
    disk_full(storage)

    with pytest.raises(WriteDeferred):
        await storage.record_question(1, long_question, HANDOFF, at=NOON)

    fault = storage.write_fault
    assert fault is not None
    assert (fault.failed, fault.kept, fault.dropped) == (1, 1, 0)
    assert fault.error == "database or disk is full"
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "database or disk is full" in error.getMessage()

    disk_full(storage, False)
    await storage.record_question(2, "CSO là gì?", ANSWER, at=NOON + 1)  # works: the kept follow

    assert await texts_written(storage, 2) == [long_question[:4096], "CSO là gì?"]
    assert storage.write_fault is None


@sqlite_only
async def test_the_writes_kept_are_bounded_and_the_oldest_are_given_up_first(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.storage.database, "MAX_KEPT", 3)
    writes_fail(storage)
    for n in range(5):
        with pytest.raises(WriteDeferred):
            await storage.record_question(n, f"câu hỏi {n}", HANDOFF, at=NOON + n)
    with pytest.raises(WriteDeferred):
        await storage.record_vote(1, "cso_role", True, at=NOON + 5)  # the newest: kept

    fault = storage.write_fault
    assert fault is not None
    assert (fault.failed, fault.kept, fault.dropped) == (6, 3, 3)

    writes_fail(storage, False)
    await storage.record_question(9, "câu hỏi 9", HANDOFF, at=NOON + 9)
    assert await texts_written(storage, 3) == ["câu hỏi 3", "câu hỏi 4", "câu hỏi 9"]
    for _ in range(1000):
        if (await storage.stats(now=NOON + HOUR)).votes_7d:
            break
        await asyncio.sleep(0.01)
    assert (await storage.stats(now=NOON + HOUR)).votes_7d == (IntentVotes("cso_role", 1, 0),)


async def test_a_write_that_is_itself_wrong_is_not_kept_and_fails_as_before(
    storage: Storage,
) -> None:
    def broken(db: Tx) -> None:
        db.execute("INSERT INTO votes (at, user_key, intent, up) VALUES (0, 'k', 'x', 7)")

    with pytest.raises(Exception) as refused:  # noqa: PT011  (the engine's own kind)
        await storage._write(broken, retry=True)
    assert constraint_violated(refused.value)  # the CHECK on `up`: would fail again
    assert storage.write_fault is None


async def test_writes_still_kept_at_close_are_reported_lost_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await Storage.open(tmp_path, retention_days=90)
    writes_fail(storage)
    for n in range(3):
        with pytest.raises(WriteDeferred):
            await storage.record_question(n, f"câu hỏi {n}", HANDOFF, at=NOON + n)

    await storage.close()

    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 2  # the writes fail; at close, what is lost
    assert "3 writes kept while it was failing are lost" in lines[1]


def test_a_failing_database_is_one_error_line_then_a_summary_every_few_minutes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = 1000.0
    faults = FaultLog(Path("bot.sqlite3"), clock=lambda: now)
    full = sqlite3.OperationalError("database or disk is full")

    for kept in range(1, 51):  # fifty messages in the first minutes: one line
        faults.failure(full, kept=kept)
    now += SUMMARY_INTERVAL - 1
    faults.failure(full, kept=51)
    assert [r.levelname for r in caplog.records] == ["ERROR"]

    now += 1  # five minutes on: one summary
    faults.failure(full, kept=52)
    faults.failure(full, kept=53)
    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR"]
    assert "51 more failed, 52 kept to try again" in caplog.records[1].getMessage()
    assert faults.snapshot(kept=53) is not None

    faults.worked()  # and once when it works again
    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR", "WARNING"]
    assert "53 writes failed" in caplog.records[2].getMessage()
    assert faults.snapshot(kept=0) is None


async def test_unanswered_looks_back_the_given_number_of_days(storage: Storage) -> None:
    await storage.record_question(1, "cũ", HANDOFF, at=NOON - 10 * DAY)
    recent = await storage.record_question(1, "mới", HANDOFF, at=NOON - 2 * DAY)
    assert [r.id for r in await storage.unanswered(days=7, now=NOON)] == [recent]
    assert len(await storage.unanswered(days=30, now=NOON)) == 2


# -- retention ------------------------------------------------------------------------------


async def test_purge_expired_deletes_old_texts_but_the_counts_stay(database: BotDatabase) -> None:
    storage = await database.open(retention_days=1)
    try:
        old = await storage.record_question(1, "lương cso bao nhiêu", HANDOFF, at=NOON - 3 * DAY)
        new = await storage.record_question(1, "CSO là gì?", ANSWER, at=NOON - HOUR)

        assert await storage.purge_expired(now=NOON) == 1
        assert await storage.purge_expired(now=NOON) == 0

        purged = await storage.question(old)
        assert purged is not None
        assert purged.text is None
        assert (purged.action, purged.best_guess) == ("handoff", "summary")
        kept = await storage.question(new)
        assert kept is not None
        assert kept.text == "CSO là gì?"
        assert await storage.unanswered(now=NOON) == []  # nothing left to read
        stats = await storage.stats(now=NOON)
        assert (stats.questions_total, stats.questions_7d, stats.handed_off_7d) == (2, 2, 1)
    finally:
        await storage.close()


async def test_purge_forgets_the_chats_of_conversations_closed_long_ago(
    database: BotDatabase,
) -> None:
    storage = await database.open(retention_days=1)
    try:
        old = await storage.open_handoff(111, 111, at=NOON - 5 * DAY)
        await storage.set_topic(OPS, 111, 7)
        await storage.close_handoff(old.id, at=NOON - 4 * DAY)
        await storage.rate_handoff(old.id, 5)
        recent = await storage.open_handoff(222, 222, at=NOON - 3 * DAY)
        await storage.set_topic(OPS, 222, 8)
        await storage.close_handoff(recent.id, at=NOON - HOUR)
        still_open = await storage.open_handoff(333, 333, at=NOON - 3 * DAY)
        await storage.set_topic(OPS, 333, 9)

        await storage.purge_expired(now=NOON)

        forgotten = await storage.handoff(old.id)
        assert forgotten is not None
        assert (forgotten.chat_id, forgotten.rating) == (0, 5)  # the figures stay
        assert await storage.topic_for(OPS, 111) is None
        assert await storage.chat_for_topic(OPS, 7) is None
        for handoff, chat, topic in ((recent, 222, 8), (still_open, 333, 9)):
            kept = await storage.handoff(handoff.id)
            assert kept is not None
            assert kept.chat_id == chat
            assert await storage.topic_for(OPS, chat) == topic
    finally:
        await storage.close()


async def test_open_purges_expired_texts(database: BotDatabase) -> None:
    storage = await database.open()
    old = await storage.record_question(1, "từ lâu rồi", HANDOFF, at=NOON - 400 * DAY)
    await storage.close()

    storage = await database.open()
    try:
        record = await storage.question(old)
        assert record is not None
        assert record.text is None
    finally:
        await storage.close()


async def test_run_retention_purges_in_the_background_until_closed(
    database: BotDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await database.open(retention_days=1)
    old = await storage.record_question(1, "hôm kia", HANDOFF, at=NOON - 3 * DAY)
    purged = asyncio.Event()
    purge = storage.purge_expired

    async def purge_and_tell(now: float | None = None) -> int:
        count = await purge(now)
        purged.set()
        return count

    monkeypatch.setattr(storage, "purge_expired", purge_and_tell)
    task = asyncio.create_task(storage.run_retention(interval=0))
    await asyncio.wait_for(purged.wait(), timeout=30)
    record = await storage.question(old)
    assert record is not None
    assert record.text is None
    await storage.close()
    await asyncio.wait_for(task, timeout=30)  # ends by itself once the storage is closed
    assert task.result() is None


# -- group commit, durability, close --------------------------------------------------------


async def test_a_thousand_concurrent_questions_all_land_with_distinct_ids(
    storage: Storage,
) -> None:
    transactions_before = storage.transactions

    async def ask(n: int) -> int:
        question_id = await storage.record_question(n % 50, f"câu hỏi số {n}", ANSWER)
        # Committed when the await returns: the reader connection already sees it.
        assert await storage.question(question_id) is not None
        return question_id

    ids = await asyncio.gather(*(ask(n) for n in range(1000)))

    assert len(set(ids)) == 1000
    assert storage.transactions - transactions_before <= 10  # grouped, not one per question
    for user in range(50):
        assert len(await storage.recent_questions(user, limit=100)) == 20
    stats = await storage.stats()
    assert stats.questions_total == 1000


async def test_a_failing_write_fails_only_its_own_caller(storage: Storage) -> None:
    bad = Decision("maybe", None, 0.5)  # type: ignore[arg-type]  # violates the CHECK
    results = await asyncio.gather(
        storage.record_question(1, "một", ANSWER),
        storage.record_question(2, "hai", bad),
        storage.record_question(3, "ba", ANSWER),
        return_exceptions=True,
    )
    assert constraint_violated(results[1])
    first, third = results[0], results[2]
    assert isinstance(first, int)
    assert isinstance(third, int)
    assert [r.text for r in await storage.recent_questions(1)] == ["một"]
    assert [r.text for r in await storage.recent_questions(3)] == ["ba"]
    assert await storage.recent_questions(2) == []


@sqlite_only
async def test_when_sqlite_drops_the_whole_transaction_the_other_writes_are_retried(
    storage: Storage,
) -> None:
    def lose_the_transaction(db: Tx) -> None:
        db.execute("ROLLBACK")  # what SQLite does on a full disk or an I/O error
        raise sqlite3.OperationalError("database or disk is full")

    async def failing_write() -> None:
        await storage._write(lose_the_transaction)

    transactions = storage.transactions
    # Queued together, so they run in one transaction: "trước" is written, then lost.
    results = await asyncio.gather(
        storage.record_question(1, "trước", ANSWER),
        failing_write(),
        storage.record_question(1, "sau", ANSWER),
        return_exceptions=True,
    )

    assert isinstance(results[1], sqlite3.OperationalError)
    assert [r.text for r in await storage.recent_questions(1)] == ["trước", "sau"]
    assert storage.transactions == transactions + 2  # then one by one: two of three succeed


async def test_close_commits_the_queued_writes_and_can_be_called_twice(
    database: BotDatabase,
) -> None:
    storage = await database.open()
    pending = [
        asyncio.create_task(storage.record_question(1, f"câu {n}", ANSWER)) for n in range(20)
    ]
    await asyncio.sleep(0)  # the tasks queue their writes
    await asyncio.gather(storage.close(), storage.close())
    await storage.close()
    ids = [task.result() for task in pending]
    assert storage.closed
    with pytest.raises(StorageClosed):
        await storage.record_question(1, "sau khi đóng", ANSWER)

    storage = await database.open()
    try:
        assert [r.id for r in await storage.recent_questions(1, limit=50)] == ids
    finally:
        await storage.close()


async def test_data_is_kept_across_close_and_reopen(database: BotDatabase) -> None:
    storage = await database.open()
    question_id = await storage.record_question(5, "CMO là gì?", ANSWER)
    await storage.record_vote(5, "cmo_role", True, question_id)
    handoff = await storage.open_handoff(500, 5)
    await storage.set_topic(OPS, 500, 77)
    key = storage.user_key(5)
    await storage.close()

    storage = await database.open()
    try:
        assert storage.user_key(5) == key
        record = await storage.question(question_id)
        assert record is not None
        assert record.text == "CMO là gì?"
        assert (await storage.stats()).votes_7d == (IntentVotes("cmo_role", 1, 0),)
        assert await storage.current_handoff(500) == handoff
        assert await storage.topic_for(OPS, 500) == 77
    finally:
        await storage.close()


# -- live handoff ---------------------------------------------------------------------------


async def test_handoff_lifecycle(storage: Storage) -> None:
    opened = await storage.open_handoff(500, 5, at=NOON)
    assert (opened.chat_id, opened.user_key, opened.status) == (500, storage.user_key(5), "waiting")
    assert (opened.opened_at, opened.first_reply_at, opened.closed_at) == (NOON, None, None)
    assert (opened.rating, opened.timeout_notified) == (None, False)
    assert await storage.open_handoff(500, 5, at=NOON + 5) == opened  # the open one again
    assert await storage.current_handoff(500) == opened
    assert await storage.open_handoffs() == [opened]
    assert await storage.rate_handoff(opened.id, 5) is False  # not closed yet

    await storage.operator_replied(opened.id, at=NOON + 60)
    await storage.operator_replied(opened.id, at=NOON + 120)  # only the first reply counts
    active = await storage.handoff(opened.id)
    assert active is not None
    assert (active.status, active.first_reply_at) == ("active", NOON + 60)

    closed = await storage.close_handoff(opened.id, at=NOON + 300)
    assert closed is not None
    assert (closed.status, closed.closed_at, closed.first_reply_at) == (
        "closed",
        NOON + 300,
        NOON + 60,
    )
    assert await storage.close_handoff(opened.id) is None  # it was not open any more
    assert await storage.current_handoff(500) is None
    assert await storage.open_handoffs() == []

    assert await storage.rate_handoff(opened.id, 0) is False
    assert await storage.rate_handoff(opened.id, 6) is False
    assert await storage.rate_handoff(opened.id, 4) is True
    assert await storage.rate_handoff(opened.id, 5) is False  # already rated
    rated = await storage.handoff(opened.id)
    assert rated is not None
    assert rated.rating == 4
    assert await storage.rate_handoff(10_000, 5) is False
    assert await storage.handoff(10_000) is None

    again = await storage.open_handoff(500, 5, at=NOON + 1000)
    assert again.id != opened.id
    assert again.status == "waiting"


async def test_waiting_handoffs_and_the_timeout_notice(storage: Storage) -> None:
    early = await storage.open_handoff(501, 1, at=NOON)
    answered = await storage.open_handoff(502, 2, at=NOON + 10)
    late = await storage.open_handoff(503, 3, at=NOON + 100)
    await storage.operator_replied(answered.id, at=NOON + 20)

    assert [h.id for h in await storage.handoffs_waiting(opened_before=NOON + 50)] == [early.id]
    assert [h.id for h in await storage.handoffs_waiting(NOON + 200)] == [early.id, late.id]

    await storage.mark_timeout_notified(early.id)
    notified = await storage.handoff(early.id)
    assert notified is not None
    assert notified.timeout_notified is True
    assert notified.status == "waiting"
    assert [h.id for h in await storage.handoffs_waiting(NOON + 200)] == [late.id]


async def test_topics_map_both_ways_and_a_new_topic_replaces_the_old(storage: Storage) -> None:
    assert await storage.topic_for(OPS, 500) is None
    assert await storage.chat_for_topic(OPS, 77) is None

    await storage.set_topic(OPS, 500, 77)
    assert await storage.topic_for(OPS, 500) == 77
    assert await storage.chat_for_topic(OPS, 77) == 500

    await storage.set_topic(OPS, 500, 78)  # the operators deleted the old topic
    assert await storage.topic_for(OPS, 500) == 78
    assert await storage.chat_for_topic(OPS, 78) == 500
    assert await storage.chat_for_topic(OPS, 77) is None

    await storage.set_topic(OPS, 600, 78)  # a topic id belongs to one chat only
    assert await storage.chat_for_topic(OPS, 78) == 600
    assert await storage.topic_for(OPS, 500) is None


# -- stats ----------------------------------------------------------------------------------


async def test_stats_on_a_small_hand_made_dataset(storage: Storage) -> None:
    now = NOON
    # Today (since local midnight): 3 questions.
    q1 = await storage.record_question(1, "CSO là gì?", ANSWER, at=now - 1 * HOUR)
    await storage.record_question(2, "CMO là gì?", ANSWER, at=now - 2 * HOUR)
    await storage.record_question(3, "MU đá với ai?", HANDOFF, at=now - 3 * HOUR)
    # Yesterday 23:00 and earlier in the week: 7 more, so 10 in 7 days: 8 answered.
    await storage.record_question(4, "chiến lược", SUGGEST, at=now - 13 * HOUR)
    for n in range(6):
        await storage.record_question(5, f"câu {n}", ANSWER, at=now - (n + 1) * DAY)
    # Older than 7 days: only in the total.
    await storage.record_question(6, "tuần trước nữa", HANDOFF, at=now - 8 * DAY)
    await storage.record_question(6, "tháng trước", HANDOFF, at=now - 30 * DAY)
    # Votes in the 7 days, and one older.
    await storage.record_vote(1, "cso_role", True, q1, at=now - HOUR)
    await storage.record_vote(2, "cso_role", True, at=now - 2 * DAY)
    await storage.record_vote(3, "cso_role", False, at=now - 3 * DAY)
    await storage.record_vote(4, "cmo_role", True, at=now - 4 * DAY)
    await storage.record_vote(5, "cmo_role", False, at=now - 9 * DAY)
    # Handoffs: first replies after 60 s, 180 s and 600 s in the 7 days (median 180 s).
    for chat, opened_at, wait, rating in (
        (701, now - 3 * DAY, 60, 5),
        (702, now - 2 * DAY, 180, 4),
    ):
        handoff = await storage.open_handoff(chat, chat, at=opened_at)
        await storage.operator_replied(handoff.id, at=opened_at + wait)
        await storage.close_handoff(handoff.id, at=opened_at + 900)
        assert await storage.rate_handoff(handoff.id, rating)
    still_active = await storage.open_handoff(703, 703, at=now - DAY)
    await storage.operator_replied(still_active.id, at=now - DAY + 600)
    await storage.open_handoff(704, 704, at=now - HOUR)  # waiting, no reply yet
    long_ago = await storage.open_handoff(705, 705, at=now - 10 * DAY)
    await storage.operator_replied(long_ago.id, at=now - 10 * DAY + 5000)
    await storage.close_handoff(long_ago.id, at=now - 10 * DAY + 6000)
    assert await storage.rate_handoff(long_ago.id, 1)

    stats = await storage.stats(now=now)

    assert stats == Stats(
        now=now,
        questions_total=12,
        questions_today=3,
        questions_7d=10,
        answered_7d=8,
        suggested_7d=1,
        handed_off_7d=1,
        votes_7d=(IntentVotes("cso_role", up=2, down=1), IntentVotes("cmo_role", up=1, down=0)),
        handoffs_opened_7d=4,
        handoffs_closed_7d=2,
        handoffs_open=2,
        median_first_reply=180.0,
        average_rating=4.5,
        ratings_7d=2,
    )
    assert (stats.share("answer"), stats.share("suggest"), stats.share("handoff")) == (
        0.8,
        0.1,
        0.1,
    )


async def test_stats_of_an_empty_database(storage: Storage) -> None:
    stats = await storage.stats(now=NOON)
    assert (stats.questions_total, stats.questions_today, stats.questions_7d) == (0, 0, 0)
    assert stats.share("answer") == 0.0
    assert stats.votes_7d == ()
    assert (stats.median_first_reply, stats.average_rating, stats.ratings_7d) == (None, None, 0)


async def test_today_starts_at_midnight_in_the_business_time_zone(storage: Storage) -> None:
    vietnam = ZoneInfo("Asia/Ho_Chi_Minh")
    eight_am = datetime(2026, 11, 27, 8, 0, tzinfo=vietnam).timestamp()
    asked = Decision("answer", "cso_role", 0.9)
    # 06:30 in Hà Nội is 23:30 the evening before in UTC: today for the business.
    await storage.record_question(7, "CSO là gì?", asked, at=eight_am - 1.5 * HOUR)
    await storage.record_question(7, "CMO là gì?", asked, at=eight_am - 9 * HOUR)  # 23:00

    in_vietnam = await storage.stats(now=eight_am, zone=vietnam)
    in_utc = await storage.stats(now=eight_am, zone=UTC)

    assert in_vietnam.questions_today == 1
    assert in_utc.questions_today == 0
    assert in_vietnam.questions_7d == in_utc.questions_7d == 2


@sqlite_only
async def test_a_write_waits_for_another_writers_lock_without_blocking_the_event_loop(
    storage: Storage,
) -> None:
    # Another process (a second bot on the same DATA_DIR, a maintenance script) is writing.
    other = sqlite3.connect(storage.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        write = asyncio.create_task(storage.record_question(1, "CSO là gì?", ANSWER))
        ticks = 0
        while ticks < 20:  # the event loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
    finally:
        other.execute("COMMIT")
        other.close()
    question_id = await asyncio.wait_for(write, 10)
    [record] = await storage.recent_questions(1)
    assert (record.id, record.text) == (question_id, "CSO là gì?")
    # Once the lock is gone, writes commit right away again.
    assert await storage.record_question(1, "CMO là gì?", ANSWER) == question_id + 1


NEW_OPS = -1009876543210  # the operators' group after OPERATOR_CHAT_ID moved


async def test_a_topic_id_means_a_topic_only_in_its_own_group(storage: Storage) -> None:
    await storage.set_topic(OPS, 500, 77)
    assert await storage.chat_for_topic(NEW_OPS, 77) is None  # the same id, another group
    assert await storage.topic_for(NEW_OPS, 500) is None  # a new group: a new topic

    await storage.set_topic(NEW_OPS, 600, 77)
    assert await storage.chat_for_topic(NEW_OPS, 77) == 600
    assert await storage.chat_for_topic(OPS, 77) == 500


async def _database_with_old_topics(tmp_path: Path) -> int:
    """A database from before topics had their group, with Lan (chat 500) in topic 77, brought
    up to date by ``python -m bot migrate``; the id of her open handoff."""
    path = tmp_path / DATABASE_NAME
    _database_at_version(path, 1)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        cursor = db.execute(
            "INSERT INTO handoffs (chat_id, user_key, status, opened_at)"
            " VALUES (500, 'lan', 'waiting', ?)",
            (NOON,),
        )
        db.execute("INSERT INTO topics (chat_id, topic_id) VALUES (500, 77)")
    await migrate_database(f"sqlite:///{path}")
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def test_old_topics_belong_to_the_group_the_upgraded_bot_runs_with(
    tmp_path: Path,
) -> None:
    handoff_id = await _database_with_old_topics(tmp_path)

    storage = await Storage.open(tmp_path, retention_days=90)
    try:
        assert await storage.chat_for_topic(OPS, 77) is None  # not before it is claimed
        assert await storage.claim_topics(OPS) == 1
        assert await storage.chat_for_topic(OPS, 77) == 500
        assert await storage.topic_for(OPS, 500) == 77
        handoff = await storage.current_handoff(500)
        assert handoff is not None
        assert handoff.id == handoff_id
        assert await storage.claim_topics(NEW_OPS) == 0  # claimed once, by one group
        assert await storage.chat_for_topic(NEW_OPS, 77) is None
    finally:
        await storage.close()


async def test_old_topics_not_claimed_at_the_upgrade_never_match_a_group(
    tmp_path: Path,
) -> None:
    await _database_with_old_topics(tmp_path)
    upgraded = await Storage.open(tmp_path, retention_days=90)  # e.g. a report from the CLI
    await upgraded.close()

    storage = await Storage.open(tmp_path, retention_days=90)  # later, with a new group
    try:
        assert await storage.claim_topics(NEW_OPS) == 0
        assert await storage.chat_for_topic(NEW_OPS, 77) is None
        assert await storage.topic_for(NEW_OPS, 500) is None
        assert _sql(tmp_path / DATABASE_NAME, "SELECT group_id, topic_id, chat_id FROM topics") == [
            (None, 77, 500)
        ]  # kept
    finally:
        await storage.close()


async def test_the_customers_copy_of_an_operators_message_is_kept_for_a_week(
    storage: Storage,
) -> None:
    await storage.remember_copy(OPS, 40, 500, 9, at=NOON)
    assert await storage.copy_of(OPS, 40) == (500, 9)
    assert await storage.copy_of(NEW_OPS, 40) is None  # message ids are per group

    await storage.remember_copy(OPS, 41, 600, 3, at=NOON + 8 * DAY)
    assert await storage.copy_of(OPS, 40) is None  # too old to correct: forgotten
    assert await storage.copy_of(OPS, 41) == (600, 3)


async def test_relays_for_the_operators_survive_a_reopen_in_order(database: BotDatabase) -> None:
    storage = await database.open()
    ids = [await storage.add_relay(500 + n % 2, "copy", f'{{"n": {n}}}') for n in range(4)]
    await storage.relay_done(ids[1])
    await storage.close()

    storage = await database.open()
    try:
        pending = await storage.pending_relays()
        assert [(r.id, r.chat_id, r.payload) for r in pending] == [
            (ids[0], 500, '{"n": 0}'),
            (ids[2], 500, '{"n": 2}'),
            (ids[3], 501, '{"n": 3}'),
        ]
    finally:
        await storage.close()


# -- health ---------------------------------------------------------------------------------


async def test_ping_is_quiet_while_the_database_answers_and_one_line_once_closed(
    database: BotDatabase,
) -> None:
    storage = await database.open()
    assert await storage.ping() is None
    await storage.close()
    problem = await storage.ping()
    assert problem is not None
    assert "closed" in problem
    assert "\n" not in problem


async def test_each_instance_resumes_its_own_relays_and_takes_over_a_gone_ones(
    database: BotDatabase,
) -> None:
    storage = await database.open()
    try:
        old = await storage.add_relay(500, "copy", '{"n": 0}')  # before owners were kept
        mine = await storage.add_relay(501, "copy", '{"n": 1}', owner="a")
        theirs = await storage.add_relay(502, "copy", '{"n": 2}', owner="b")
        assert [r.id for r in await storage.pending_relays("a")] == [mine]
        assert await storage.relay_owners() == {None, "a", "b"}

        assert await storage.take_over_relays({None, "b"}, "a") == 2  # "b" is gone

        assert [r.id for r in await storage.pending_relays("a")] == [old, mine, theirs]
        assert await storage.relay_owners() == {"a"}
    finally:
        await storage.close()


async def test_a_question_delivered_again_in_the_same_update_is_stored_once(
    database: BotDatabase,
) -> None:
    storage = await database.open()
    try:
        first = await storage.record_question(7, "CSO là gì?", ANSWER, update_id=1001)
        again = await storage.record_question(7, "CSO là gì?", ANSWER, update_id=1001)
        other = await storage.record_question(8, "CSO là gì?", ANSWER, update_id=1001)
        assert again == first  # Telegram's second delivery of the same update
        assert other != first  # the same number in another person's chat is another update
        assert [r.id for r in await storage.recent_questions(7)] == [first]
    finally:
        await storage.close()


async def test_the_retention_purge_forgets_old_update_ids(database: BotDatabase) -> None:
    storage = await database.open()
    try:
        old = await storage.record_question(7, "CSO là gì?", ANSWER, at=NOON, update_id=5)
        await storage.purge_expired(now=NOON + 3 * DAY)
        # Telegram numbers updates anew after a quiet week: the same number is a new update.
        new = await storage.record_question(7, "CMO là gì?", ANSWER, at=NOON + 8 * DAY, update_id=5)
        assert new != old
    finally:
        await storage.close()
