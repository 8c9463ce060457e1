"""The figures behind /stats."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from bot.storage.database import DAY, Database

Action = Literal["answer", "suggest", "handoff"]
STATS_DAYS = 7


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


def local_midnight(now: float, zone: tzinfo | None = None) -> float:
    """The start of ``now``'s day in ``zone`` (None: the server's time zone)."""
    day = datetime.fromtimestamp(now, zone)
    return day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class StatsQueries(Database):
    """The figures for the admins."""

    async def stats(self, now: float | None = None, *, zone: tzinfo | None = None) -> Stats:
        """The figures for /stats; "today" starts at midnight in `zone` (None: the server's)."""
        now = time.time() if now is None else now
        since = now - STATS_DAYS * DAY
        window = {"since": since, "now": now}
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
            " WHERE at > :since AND at <= :now GROUP BY intent ORDER BY COUNT(*) DESC, intent",
            window,
        )
        waits = await self._rows(
            "SELECT first_reply_at - opened_at AS wait FROM handoffs"
            " WHERE opened_at > :since AND opened_at <= :now AND first_reply_at IS NOT NULL",
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
            votes_7d=tuple(IntentVotes(r["intent"], int(r["up"]), int(r["down"])) for r in votes),
            handoffs_opened_7d=counts["opened"],
            handoffs_closed_7d=counts["closed"],
            handoffs_open=counts["open_now"],
            median_first_reply=(
                float(statistics.median(r["wait"] for r in waits)) if waits else None
            ),
            # PostgreSQL's AVG of integers is a Decimal
            average_rating=None if counts["rating"] is None else float(counts["rating"]),
            ratings_7d=counts["ratings"],
        )
