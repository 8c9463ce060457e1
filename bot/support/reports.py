"""Reports for the admins, shared by the CLI and the admin commands (no Telegram here).

* ``group_unanswered``: the questions the bot could not answer, grouped so that the same
  question typed many ways ("giá gói 1 Gbps", "Gia goi 1 Gbps?") is one line;
* ``stats_text`` and ``unanswered_text``: the Vietnamese reports (wording in bot/texts.py),
  /stats headed by the database's fault while it cannot be written;
* ``write_unanswered_csv``: one row per question, for a spreadsheet (a cell that would start
  a formula is written as text).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO

from rapidfuzz import fuzz, process

from bot import texts
from bot.engine.knowledge import Knowledge
from bot.engine.normalize import SYLLABLE, normalize
from bot.storage import IntentVotes, QuestionRecord, Stats, WriteFault

__all__ = [
    "CSV_COLUMNS",
    "FORMULA_STARTS",
    "SIMILARITY",
    "IntentVotes",
    "Stats",
    "UnansweredGroup",
    "WriteFault",
    "as_text_cell",
    "fault_text",
    "format_duration",
    "format_number",
    "format_percent",
    "group_unanswered",
    "intent_label",
    "stats_text",
    "unanswered_text",
    "write_unanswered_csv",
]

# Two questions are the same when their folded words match at least this well
# (rapidfuzz token_sort_ratio: word order and small typos do not matter).
SIMILARITY = 80.0
QUESTION_CHARS = 120  # a question longer than this is shortened in the text report
CSV_COLUMNS: tuple[str, ...] = (
    "nhom",  # group number, as in the text report
    "so_lan",  # how many questions the group has
    "cau_hoi",  # this question's text
    "du_doan",  # the group's best guess (intent id)
    "ten_du_doan",  # its title, when the knowledge is given
    "cach_xu_ly",  # what the bot did: answer / suggest / handoff
    "do_tin_cay",  # the engine's confidence
    "thoi_gian",  # local time, YYYY-MM-DD HH:MM:SS
    "ma_cau_hoi",  # question id (for marking it assigned)
)
_SPACES = re.compile(r"\s+")
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets: a
# question typed as "=HYPERLINK(…)" would run when an admin opens the file (OWASP, CSV
# injection). Such a cell gets a leading "'", which makes the spreadsheet show it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class UnansweredGroup:
    """Questions that are the same question typed differently."""

    representative: str  # the most frequent text, else the first asked
    best_guess: str | None  # the intent the engine leaned to most often
    records: tuple[QuestionRecord, ...]  # oldest first

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def question_ids(self) -> tuple[int, ...]:
        return tuple(r.id for r in self.records)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(r.text or "" for r in self.records)


def _key(text: str) -> str:
    """What two questions are compared on: folded words, abbreviations expanded."""
    return " ".join(normalize(text).folded) or text.strip().casefold()


def group_unanswered(
    records: Iterable[QuestionRecord], *, similarity: float = SIMILARITY
) -> list[UnansweredGroup]:
    """Greedy clustering of the questions' texts; biggest group first.

    Exact duplicates (after folding) are counted first; then, most frequent first, each
    distinct question joins the closest existing group at ``similarity`` or more, else
    starts its own. Questions naming different things (words that are not Vietnamese
    syllables: names, acronyms, models such as "iphone" or "s24") are never grouped.
    Purged questions (no text) are left out.
    """
    by_key: dict[str, list[QuestionRecord]] = {}
    for record in records:
        if record.text is not None and record.text.strip():
            by_key.setdefault(_key(record.text), []).append(record)
    heads: dict[frozenset[str], list[str]] = {}  # per set of names: each cluster's first key
    clusters: dict[str, list[str]] = {}  # head key -> its keys
    for key in sorted(by_key, key=lambda k: -len(by_key[k])):  # stable: first seen on ties
        names = frozenset(w for w in key.split() if not SYLLABLE.match(w))
        candidates = heads.setdefault(names, [])
        match = process.extractOne(
            key, candidates, scorer=fuzz.token_sort_ratio, score_cutoff=similarity
        )
        if match is None:
            candidates.append(key)
            clusters[key] = [key]
        else:
            clusters[match[0]].append(key)
    groups: list[UnansweredGroup] = []
    for keys in clusters.values():
        members = sorted((r for k in keys for r in by_key[k]), key=lambda r: (r.at, r.id))
        texts_seen = Counter(_SPACES.sub(" ", r.text or "").strip() for r in members)
        guesses = Counter(r.best_guess for r in members if r.best_guess)
        groups.append(
            UnansweredGroup(
                representative=texts_seen.most_common(1)[0][0],
                best_guess=guesses.most_common(1)[0][0] if guesses else None,
                records=tuple(members),
            )
        )
    # Biggest first; among equals, the one asked most recently.
    groups.sort(key=lambda g: (-g.count, -g.records[-1].at, -g.records[-1].id))
    return groups


# -- formatting ---------------------------------------------------------------------------


def format_number(value: int) -> str:
    """1234 -> "1.234", the Vietnamese way."""
    return f"{value:,}".replace(",", ".")


def format_percent(fraction: float) -> str:
    return f"{round(fraction * 100)} %"


def format_duration(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return texts.DURATION_SECONDS.format(seconds=total)
    minutes = round(seconds / 60)
    if minutes < 60:
        return texts.DURATION_MINUTES.format(minutes=minutes)
    if minutes < 24 * 60:
        return texts.DURATION_HOURS.format(hours=minutes // 60, minutes=minutes % 60)
    hours = round(seconds / 3600)
    return texts.DURATION_DAYS.format(days=hours // 24, hours=hours % 24)


def intent_label(intent: str, knowledge: Knowledge | None = None) -> str:
    """The intent id, with its title when the knowledge is given: "contact (Liên hệ)"."""
    if knowledge is None:
        return intent
    try:
        title = knowledge.entry(intent).title
    except KeyError:
        return intent
    return texts.INTENT_WITH_TITLE.format(intent=intent, title=title)


def _shorten(text: str, limit: int = QUESTION_CHARS) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _vote_line(votes: IntentVotes, knowledge: Knowledge | None) -> str:
    return texts.STATS_VOTES_LINE.format(
        intent=intent_label(votes.intent, knowledge),
        up=format_number(votes.up),
        down=format_number(votes.down),
    )


def fault_text(fault: WriteFault, zone: tzinfo | None = None) -> str:
    """The line that heads /stats while the database cannot be written; times in ``zone``."""
    since = datetime.fromtimestamp(fault.since, zone).strftime("%H:%M %d/%m/%Y")
    return texts.STATS_DATABASE_FAILING.format(
        since=since,
        failed=format_number(fault.failed),
        kept=format_number(fault.kept),
        dropped=format_number(fault.dropped),
        error=fault.error,
    )


def stats_text(
    stats: Stats,
    *,
    knowledge: Knowledge | None = None,
    fault: WriteFault | None = None,
    zone: tzinfo | None = None,
) -> str:
    """The /stats report; ``fault`` (the database cannot be written) heads it, in ``zone``."""
    lines = [] if fault is None else [fault_text(fault, zone), ""]
    lines += [
        texts.STATS_TITLE,
        texts.STATS_TODAY.format(count=format_number(stats.questions_today)),
        texts.STATS_WEEK.format(count=format_number(stats.questions_7d)),
    ]
    if stats.questions_7d:
        lines.append(
            texts.STATS_SHARES.format(
                answer=format_percent(stats.share("answer")),
                suggest=format_percent(stats.share("suggest")),
                handoff=format_percent(stats.share("handoff")),
            )
        )
    lines.append(texts.STATS_TOTAL.format(count=format_number(stats.questions_total)))

    lines += ["", texts.STATS_VOTES_TITLE]
    if stats.votes_7d:
        lines.extend(_vote_line(v, knowledge) for v in stats.votes_7d)
    else:
        lines.append(texts.STATS_NO_VOTES)

    lines += [
        "",
        texts.STATS_HANDOFFS_TITLE,
        texts.STATS_HANDOFFS.format(
            opened=format_number(stats.handoffs_opened_7d),
            closed=format_number(stats.handoffs_closed_7d),
            open=format_number(stats.handoffs_open),
        ),
        texts.STATS_FIRST_REPLY.format(
            duration=texts.STATS_NO_DATA
            if stats.median_first_reply is None
            else format_duration(stats.median_first_reply)
        ),
    ]
    if stats.average_rating is None:
        lines.append(texts.STATS_NO_RATING)
    else:
        lines.append(
            texts.STATS_RATING.format(
                rating=f"{stats.average_rating:.1f}".replace(".", ","),
                count=format_number(stats.ratings_7d),
            )
        )
    return "\n".join(lines)


def unanswered_text(
    groups: Sequence[UnansweredGroup],
    limit: int = 10,
    *,
    days: int | None = None,
    knowledge: Knowledge | None = None,
) -> str:
    """The /unanswered report: the ``limit`` biggest groups, numbered as in the CSV."""
    if not groups:
        return texts.UNANSWERED_NONE
    questions = format_number(sum(g.count for g in groups))
    count = format_number(len(groups))
    if days is None:
        title = texts.UNANSWERED_TITLE.format(questions=questions, groups=count)
    else:
        title = texts.UNANSWERED_TITLE_DAYS.format(days=days, questions=questions, groups=count)
    lines = [title]
    for number, group in enumerate(groups[:limit], start=1):
        lines.append(
            texts.UNANSWERED_GROUP.format(
                number=number,
                question=_shorten(group.representative),
                count=format_number(group.count),
            )
        )
        if group.best_guess:
            lines.append(
                texts.UNANSWERED_GUESS.format(intent=intent_label(group.best_guess, knowledge))
            )
    if len(groups) > limit:
        lines.append(texts.UNANSWERED_MORE.format(count=format_number(len(groups) - limit)))
    return "\n".join(lines)


def as_text_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it without running it: a leading "'" when it would
    start a formula, otherwise unchanged."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_rows(
    groups: Sequence[UnansweredGroup], knowledge: Knowledge | None, zone: tzinfo | None
) -> Iterable[list[str]]:
    for number, group in enumerate(groups, start=1):
        guess = group.best_guess or ""
        title = ""
        if guess and knowledge is not None:
            try:
                title = knowledge.entry(guess).title
            except KeyError:
                title = ""
        for record in group.records:
            yield [
                str(number),
                str(group.count),
                record.text or "",
                guess,
                title,
                record.action,
                f"{record.confidence:.3f}",
                datetime.fromtimestamp(record.at, zone).strftime("%Y-%m-%d %H:%M:%S"),
                str(record.id),
            ]


def write_unanswered_csv(
    groups: Sequence[UnansweredGroup],
    file: Path | TextIO,
    *,
    knowledge: Knowledge | None = None,
    zone: tzinfo | None = None,
) -> int:
    """One row per question with its group number; UTF-8 with a BOM so Excel shows Vietnamese.

    ``file`` is a path, or an open text stream (which must encode UTF-8); times are shown in
    ``zone`` (None: the server's); the number of question rows written.
    """
    if isinstance(file, Path):
        with file.open("w", encoding="utf-8-sig", newline="") as stream:
            return _write_csv(groups, stream, knowledge, zone)
    file.write("\ufeff")
    return _write_csv(groups, file, knowledge, zone)


def _write_csv(
    groups: Sequence[UnansweredGroup],
    stream: TextIO,
    knowledge: Knowledge | None,
    zone: tzinfo | None,
) -> int:
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for row in _csv_rows(groups, knowledge, zone):
        # Every cell: titles and intent ids come from a knowledge file someone else may edit.
        writer.writerow([as_text_cell(cell) for cell in row])
        rows += 1
    return rows
