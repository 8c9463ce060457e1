"""The shipped knowledge file with every entry's phrasings expanded by deterministic variants
(prefixes, suffixes, shorthand and synonym swaps, adjacent words swapped, splices of two
phrasings of the same entry), to a given total: many phrasings, the same ids."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Sequence
from typing import Any

SYNTHETIC_TOTAL = 10_000
SEED = 20240601

PREFIXES = (
    "Cho mình hỏi", "Bạn ơi,", "Xin hỏi", "Mình muốn biết", "Ad ơi,", "Cho em hỏi chút,",
    "Hỏi ngắn:", "Nhờ bạn giải thích", "Mình đang thắc mắc", "Cho hỏi", "Em muốn hỏi",
    "Mọi người ơi,", "Bạn cho mình biết", "Tư vấn giúp mình:",
)  # fmt: skip
SUFFIXES = (
    "ạ", "nhé", "vậy", "thế", "với", "được không", "nha", "bạn ơi", "ad ơi", "giúp mình",
    "nhỉ", "hả bạn", "cụ thể", "chi tiết giúp mình",
)  # fmt: skip
SWAPS: tuple[tuple[str, str], ...] = (
    ("CSO", "Chief Sales Officer"), ("CSO", "giám đốc kinh doanh"), ("CSO", "sếp sales"),
    ("CMO", "Chief Marketing Officer"), ("CMO", "giám đốc tiếp thị"), ("CMO", "sếp marketing"),
    ("gì", "j"), ("không", "ko"), ("kỹ năng", "kĩ năng"), ("công ty", "doanh nghiệp"),
    ("như thế nào", "ntn"), ("được", "dc"), ("những", "nhg"), ("doanh nghiệp", "dn"),
    ("giám đốc", "gđ"), ("marketing", "mkt"), ("với", "và"), ("là", "chính là"),
)  # fmt: skip


def _swap_words(words: list[str], rng: random.Random) -> list[str]:
    if len(words) < 2:
        return words
    i = rng.randrange(len(words) - 1)
    return [*words[:i], words[i + 1], words[i], *words[i + 2 :]]


def _word(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


def _substitute(text: str, rng: random.Random) -> str:
    """Swap one whole phrase of ``SWAPS`` for its partner ("là" but not the "là" of "làm")."""
    pairs = [*SWAPS, *((b, a) for a, b in SWAPS)]
    options = [(old, new) for old, new in pairs if _word(old).search(text)]
    if not options:
        return text
    old, new = rng.choice(options)
    return _word(old).sub(new, text, count=1)


def _variant(phrasings: Sequence[str], rng: random.Random) -> str:
    text = rng.choice(phrasings).rstrip(" ?!.")
    if rng.random() < 0.3:  # splice two phrasings of the same entry
        other = rng.choice(phrasings).rstrip(" ?!.").split()
        head = text.split()
        text = " ".join(head[: max(1, len(head) // 2)] + other[len(other) // 2 :])
    for _ in range(rng.randint(0, 2)):
        text = _substitute(text, rng)
    if rng.random() < 0.3:
        text = " ".join(_swap_words(text.split(), rng))
    if rng.random() < 0.7:
        first = text[:1].lower() if text[1:2].islower() else text[:1]  # "CSO" keeps its case
        text = f"{rng.choice(PREFIXES)} {first}{text[1:]}"
    if rng.random() < 0.7:
        text = f"{text} {rng.choice(SUFFIXES)}"
    return text + rng.choice(("?", "", "?", " ?"))


def synthetic_knowledge(base: dict[str, Any], total: int, seed: int) -> dict[str, Any]:
    """``base`` (the real file's JSON) with every entry's questions expanded; ``total`` in all."""
    rng = random.Random(seed)
    data = copy.deepcopy(base)
    entries: list[dict[str, Any]] = data["entries"]
    share, extra = divmod(total, len(entries))
    for index, entry in enumerate(entries):
        quota = share + (1 if index < extra else 0)
        real: list[str] = list(entry["questions"])
        questions = real[:quota]
        seen = {q.casefold() for q in questions}
        attempts = 0
        while len(questions) < quota:
            attempts += 1
            if attempts > quota * 200:
                raise RuntimeError(f"cannot make {quota} distinct questions for {entry['id']}")
            candidate = " ".join(_variant(real, rng).split())
            if candidate and candidate.casefold() not in seen:
                seen.add(candidate.casefold())
                questions.append(candidate)
        entry["questions"] = questions
    return data
