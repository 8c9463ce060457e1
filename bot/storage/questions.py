"""Questions, votes, the unanswered list and the retention purge.

Question texts older than ``retention_days`` are deleted (set to NULL); the rows stay, so
counts stay. So is the chat id of a handoff closed longer ago than that (set to 0), and the
topic of a chat left without any handoff: the figures stay, and the next handoff of that
person opens a new topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine.matcher import Decision
from bot.storage.database import DAY, Database, Row, StorageClosed, Tx

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # a Telegram message is at most 4,096 characters
UPDATE_IDS_KEPT = 2 * DAY  # a question's update id: long enough to recognise a redelivery


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


def _record(row: Row) -> QuestionRecord:
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


def best_guess(decision: Decision) -> str | None:
    """The intent the engine leaned to, even when it did not answer."""
    if decision.intent is not None:
        return decision.intent
    if decision.suggestions:
        return decision.suggestions[0]
    if decision.ranking:
        return decision.ranking[0][0]
    return None


_QUESTION_COLUMNS = "id, at, user_key, text, action, intent, confidence, best_guess"


class Questions(Database):
    """Questions and votes, the unanswered list, the retention purge."""

    async def _after_open(self) -> None:
        await super()._after_open()
        await self.purge_expired()

    async def record_question(
        self,
        user_id: int,
        text: str,
        decision: Decision,
        *,
        at: float | None = None,
        update_id: int | None = None,
    ) -> int:
        """Store a question and the bot's decision; the row id, once committed. WriteDeferred
        when the database cannot be written: the question is kept and written later, and the
        caller answers without its id. ``update_id``: the Telegram update it came in; the same
        update stored again (delivered again after an instance died) gives the first row."""
        values = {
            "at": time.time() if at is None else at,
            "user_key": self.user_key(user_id),
            "text": text[:MAX_TEXT],
            "action": decision.action,
            "intent": decision.intent if decision.action == "answer" else None,
            "confidence": float(decision.confidence),
            "best_guess": best_guess(decision),
            "update_id": update_id,
        }

        def insert(db: Tx) -> int:
            row = db.execute(
                "INSERT INTO questions (at, user_key, text, action, intent, confidence,"
                " best_guess, update_id) VALUES (:at, :user_key, :text, :action, :intent,"
                " :confidence, :best_guess, :update_id)"
                " ON CONFLICT (user_key, update_id) WHERE update_id IS NOT NULL DO NOTHING"
                " RETURNING id",
                values,
            ).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT id FROM questions WHERE user_key = :user_key"
                    " AND update_id = :update_id",
                    values,
                ).fetchone()
            return int(row["id"])

        return await self._write(insert, retry=True)

    async def record_vote(
        self,
        user_id: int,
        intent: str,
        up: bool,
        question_id: int | None = None,
        *,
        at: float | None = None,
    ) -> bool:
        """A 👍/👎 on an answer; linked to its question when that question is this person's,
        answered with ``intent`` (see ``may_vote``). One vote per person and question counts:
        False (nothing stored) when this person has voted on this question already (a double
        tap, or the old keyboard on a second device). WriteDeferred when the database cannot be
        written: the vote is kept and written later (still only once)."""
        values = {
            "at": time.time() if at is None else at,
            "user_key": self.user_key(user_id),
            "intent": intent,
            "up": int(up),
            "question_id": question_id,
        }

        def insert(db: Tx) -> bool:
            # Any other question id (a button from another database, someone else's question)
            # is stored as no link: only a linked 👎 puts a question on /unanswered. The casts:
            # PostgreSQL infers no type for a bare parameter in a SELECT list.
            cursor = db.execute(
                "INSERT INTO votes (at, user_key, intent, up, question_id)"
                " SELECT CAST(:at AS DOUBLE PRECISION), CAST(:user_key AS TEXT),"
                "   CAST(:intent AS TEXT), CAST(:up AS INTEGER),"
                "   (SELECT id FROM questions WHERE id = :question_id AND user_key = :user_key"
                "   AND action = 'answer' AND intent = :intent)"
                " WHERE NOT EXISTS ("
                "   SELECT 1 FROM votes WHERE question_id = :question_id"
                "   AND user_key = :user_key)",
                values,
            )
            return cursor.rowcount == 1

        return await self._write(insert, retry=True)

    async def may_vote(self, user_id: int, question_id: int, intent: str) -> bool:
        """Whether question ``question_id`` was asked by this user and answered with
        ``intent``: a 👍/👎 on it counts only then. Callback data is the client's to write, so
        the question's row decides, not the button."""
        row = await self._one(
            "SELECT 1 FROM questions WHERE id = :id AND user_key = :user_key"
            " AND action = 'answer' AND intent = :intent",
            {"id": question_id, "user_key": self.user_key(user_id), "intent": intent},
        )
        return row is not None

    async def recent_questions(self, user_id: int, limit: int = 5) -> list[QuestionRecord]:
        """The user's last ``limit`` questions, newest last."""
        rows = await self._rows(
            f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE user_key = :user_key"
            " ORDER BY id DESC LIMIT :limit",
            {"user_key": self.user_key(user_id), "limit": limit},
        )
        return [_record(row) for row in reversed(rows)]

    async def question(self, question_id: int) -> QuestionRecord | None:
        row = await self._one(
            f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE id = :id", {"id": question_id}
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

        def update(db: Tx) -> None:
            for start in range(0, len(ids), 500):
                chunk = {
                    f"id{n}": question_id for n, question_id in enumerate(ids[start : start + 500])
                }
                marks = ", ".join(f":{name}" for name in chunk)
                db.execute(
                    "UPDATE questions SET assigned_intent = :intent, assigned_at = :at"
                    f" WHERE id IN ({marks})",
                    {"intent": intent, "at": when, **chunk},
                )

        await self._write(update, savepoint=len(ids) > 500, heavy=True)

    async def purge_expired(self, now: float | None = None) -> int:
        """Delete the texts of questions older than ``retention_days``, and the chat ids of
        handoffs closed before then (with the topics no handoff refers to any more); how many
        question texts were deleted."""
        now = time.time() if now is None else now
        cutoff = now - self.retention_days * DAY

        def update(db: Tx) -> tuple[int, int]:
            # Telegram delivers an update again within a day at most, and numbers updates anew
            # (at random) after a quiet week: an old update id must not match a new one.
            db.execute(
                "UPDATE questions SET update_id = NULL"
                " WHERE at < :forget AND update_id IS NOT NULL",
                {"forget": now - UPDATE_IDS_KEPT},
            )
            texts = db.execute(
                "UPDATE questions SET text = NULL WHERE at < :cutoff AND text IS NOT NULL",
                {"cutoff": cutoff},
            ).rowcount
            chats = db.execute(
                "UPDATE handoffs SET chat_id = 0"
                " WHERE status = 'closed' AND closed_at < :cutoff AND chat_id != 0",
                {"cutoff": cutoff},
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

    async def unanswered(self, *, days: int = 30, now: float | None = None) -> list[QuestionRecord]:
        """Questions the bot did not answer, or whose answer got a 👎, in the last ``days``.

        Assigned questions and purged texts are left out; oldest first.
        """
        now = time.time() if now is None else now
        rows = await self._rows(
            f"SELECT {_QUESTION_COLUMNS} FROM questions AS q"
            " WHERE q.at > :since AND q.at <= :now AND q.assigned_intent IS NULL"
            " AND q.text IS NOT NULL AND (q.action != 'answer' OR EXISTS ("
            "   SELECT 1 FROM votes AS v WHERE v.question_id = q.id AND v.up = 0))"
            " ORDER BY q.at, q.id",
            {"since": now - days * DAY, "now": now},
        )
        return [_record(row) for row in rows]
