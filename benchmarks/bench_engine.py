"""Latency and throughput of ``Engine.decide``, side by side with a difflib baseline.

Run from the project root::

    .venv/bin/python -m benchmarks.bench_engine              # full run (about 1.5 minutes)
    .venv/bin/python -m benchmarks.bench_engine --quick      # fewer repeats: a smoke test
    .venv/bin/python -m benchmarks.bench_engine --profile    # plus cProfile of Engine.decide

What is measured, on two knowledge files in the same run:

* ``faq.json``: the real ``knowledge/faq.json``;
* ``synthetic-10k``: a generated file of exactly 10,000 questions with the same 17 intent ids,
  each entry's real phrasings expanded by deterministic variants (prefixes, suffixes,
  teencode/synonym swaps, adjacent-word swaps and splices of two phrasings of the same entry,
  from a fixed seed). It is written to a temporary directory and must pass ``load_knowledge``.

Each file is matched by two matchers answering the same questions, the ``q`` field of every
line of ``tests/data/eval.jsonl``:

* ``engine``: ``Engine(knowledge).decide(q)`` with the default thresholds. Every timed pass
  uses a fresh engine, warmed up on the knowledge's own titles, and ``normalize``'s cache is
  cleared before every call: each timed call sees its question for the first time, as a bot
  does with most real questions.
* ``difflib``: lower-case the question, take the best ``difflib.SequenceMatcher`` ratio over
  every phrasing of every entry, and decide answer/suggest/handoff from that ratio with the
  same thresholds (a ``Decision`` like the engine's). The query is the cached second sequence
  and a phrasing is skipped when ``real_quick_ratio``/``quick_ratio`` (upper bounds of the
  ratio) cannot beat the best ratio already found for its intent: the same result as the
  naive loop, faster, so the speed-up reported against it is conservative.
  On the 10k file difflib is timed on an evenly spaced sample of the questions
  (``--difflib-sample``), because a full pass takes minutes.

Latency is ``time.perf_counter_ns`` around each ``decide`` call, after a warm-up and a
``gc.collect()`` (the collector stays on while timing); p50 and p99 are nearest-rank
percentiles of all timed calls; questions/s is the number of timed calls over their summed
time. ``ok`` is the share of the timed questions decided as their label wants
(``bot.engine.evaluation``'s rule). The table is printed and written to
``benchmarks/results/latest.md`` (git-ignored).

Bars (reported, not asserted): engine p99 < 1 ms on ``faq.json``; engine throughput >= 20x
difflib's on both files.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import datetime as dt
import difflib
import gc
import io
import json
import platform
import pstats
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.revision import interpreter, revision
from bot.engine.evaluation import Case, Outcome, load_cases
from bot.engine.knowledge import Knowledge, load_knowledge
from bot.engine.matcher import Decision, Engine, Thresholds
from bot.engine.normalize import clear_normalize_cache
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT

EVAL_FILE = PROJECT_ROOT / "tests" / "data" / "eval.jsonl"
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
SYNTHETIC_TOTAL = 10_000
SEED = 20240601
P99_BAR_US = 1000.0
SPEED_UP_BAR = 20.0

Decide = Callable[[str], Decision]

# -- the synthetic knowledge file -----------------------------------------------------------------

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


# -- the difflib baseline -------------------------------------------------------------------------


class DifflibMatcher:
    """Best ``SequenceMatcher.ratio`` over every phrasing; same output shape as the engine."""

    def __init__(self, knowledge: Knowledge, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.intents = [e.id for e in knowledge.entries]
        self.phrasings = [(e.id, q.lower()) for e in knowledge.entries for q in e.questions]

    def decide(self, question: str) -> Decision:
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(question.lower())
        best = dict.fromkeys(self.intents, 0.0)
        for intent, phrasing in self.phrasings:
            matcher.set_seq1(phrasing)
            floor = best[intent]
            if matcher.real_quick_ratio() <= floor or matcher.quick_ratio() <= floor:
                continue
            best[intent] = max(floor, matcher.ratio())
        ranking = sorted(best.items(), key=lambda item: item[1], reverse=True)
        (top, score), (_, second) = ranking[0], ranking[1]
        t = self.thresholds
        confidence = round(score, 4)
        if score < t.suggest:
            return Decision("handoff", None, confidence, (), False, tuple(ranking[:5]))
        if score >= t.answer and score - second >= t.margin:
            return Decision("answer", top, confidence, (), False, tuple(ranking[:5]))
        choices = tuple(i for i, s in ranking[:3] if s >= t.suggest)
        return Decision("suggest", top, confidence, choices, False, tuple(ranking[:5]))


# -- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    file: str
    matcher: str
    questions: int
    p50_us: float
    p99_us: float
    per_second: float
    ok: float
    build_s: float
    speed_up: float | None = None


def _percentile(sorted_ns: Sequence[int], share: float) -> float:
    rank = max(1, -(-len(sorted_ns) * share // 1))  # nearest rank: ceil(n * share)
    return sorted_ns[int(rank) - 1] / 1000


def measure(
    file: str,
    matcher: str,
    make: Callable[[], Decide],
    cases: Sequence[Case],
    warm_up: Sequence[str],
    passes: int,
    clear_caches: bool,
) -> Row:
    samples: list[int] = []
    decisions: list[Decision] = []
    build_ns = 0
    for number in range(passes):
        started = time.perf_counter_ns()
        decide = make()
        build_ns += time.perf_counter_ns() - started
        for question in warm_up:
            decide(question)
        gc.collect()  # the build's garbage is not the calls' cost; later garbage is
        for case in cases:
            if clear_caches:
                clear_normalize_cache()
            started = time.perf_counter_ns()
            decision = decide(case.q)
            samples.append(time.perf_counter_ns() - started)
            if number == 0:
                decisions.append(decision)
    samples.sort()
    ok = sum(Outcome(c, d).ok for c, d in zip(cases, decisions, strict=True)) / len(cases)
    return Row(
        file=file,
        matcher=matcher,
        questions=len(samples),
        p50_us=_percentile(samples, 0.50),
        p99_us=_percentile(samples, 0.99),
        per_second=len(samples) / (sum(samples) / 1e9),
        ok=ok,
        build_s=build_ns / passes / 1e9,
    )


def _engine(knowledge: Knowledge) -> Decide:
    return Engine(knowledge).decide


def _difflib(knowledge: Knowledge) -> Decide:
    return DifflibMatcher(knowledge).decide


def profile(knowledge: Knowledge, cases: Sequence[Case], top: int = 15) -> str:
    engine = Engine(knowledge)
    profiler = cProfile.Profile()
    for case in cases:
        clear_normalize_cache()
        profiler.enable()
        engine.decide(case.q)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue().strip()


# -- reporting ------------------------------------------------------------------------------------

HEADER = ("file", "matcher", "n", "p50 µs", "p99 µs", "questions/s", "speed-up vs difflib", "ok")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.file,
        row.matcher,
        str(row.questions),
        f"{row.p50_us:,.0f}",
        f"{row.p99_us:,.0f}",
        f"{row.per_second:,.0f}",
        f"{row.speed_up:,.1f}x" if row.speed_up is not None else "1.0x (baseline)",
        f"{row.ok:.1%}",
    )


def text_table(rows: Sequence[Row]) -> str:
    table = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    )


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * 2 + "---:|" * (len(HEADER) - 2)]
    lines.extend("| " + " | ".join(_cells(r)) + " |" for r in rows)
    return "\n".join(lines)


def bars(rows: Sequence[Row]) -> list[str]:
    out: list[str] = []
    for row in rows:
        if row.matcher != "engine":
            continue
        if row.file == "faq.json":
            verdict = "met" if row.p99_us < P99_BAR_US else "MISSED"
            out.append(f"engine p99 on faq.json < 1 ms: {row.p99_us:,.0f} µs ({verdict})")
        if row.speed_up is not None:
            verdict = "met" if row.speed_up >= SPEED_UP_BAR else "MISSED"
            out.append(
                f"engine throughput >= {SPEED_UP_BAR:.0f}x difflib on {row.file}: "
                f"{row.speed_up:,.1f}x ({verdict})"
            )
    return out


def write_report(rows: Sequence[Row], notes: Sequence[str], profiles: dict[str, str]) -> Path:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Engine benchmark",
        "",
        f"{when}; {interpreter()} on {platform.platform()}; revision {revision()}.",
        "Produced by `python -m benchmarks.bench_engine` (see its docstring for the method).",
        "",
        markdown_table(rows),
        "",
        *(f"- {note}" for note in notes),
        "",
        "## Bars (reported, not asserted)",
        "",
        *(f"- {line}" for line in bars(rows)),
    ]
    for name, text in profiles.items():
        parts += ["", f"## cProfile of Engine.decide on {name} (top entries by own time)", ""]
        parts += ["```", text, "```"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return RESULTS


# -- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_engine", description=__doc__.split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="one timed pass; a small difflib sample")
    p.add_argument("--profile", action="store_true", help="cProfile Engine.decide on both files")
    p.add_argument(
        "--difflib-sample", type=int, default=None, help="questions difflib is timed on (10k file)"
    )
    args = p.parse_args(argv)
    passes = 1 if args.quick else 5
    big_passes = 1 if args.quick else 3
    sample_size = args.difflib_sample or (10 if args.quick else 40)

    cases = load_cases(EVAL_FILE)
    real = load_knowledge(DEFAULT_KNOWLEDGE)
    base = json.loads(DEFAULT_KNOWLEDGE.read_text(encoding="utf-8"))
    rows: list[Row] = []
    notes: list[str] = [
        f"queries: the {len(cases)} questions of tests/data/eval.jsonl",
        f"engine: {passes} timed passes on faq.json, {big_passes} on synthetic-10k, each on a "
        "fresh engine, normalize cache cleared before every call",
    ]
    profiles: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as tmp:
        path = Path(tmp) / "faq-10k.json"
        data = synthetic_knowledge(base, SYNTHETIC_TOTAL, SEED)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        big = load_knowledge(path)
        total = sum(len(e.questions) for e in big.entries)
        assert total == SYNTHETIC_TOTAL, total
        notes.append(f"synthetic-10k: {total} questions, 17 intents, seed {SEED}")
        step = max(1, len(cases) // sample_size)
        sample = list(cases[::step])[:sample_size]
        notes.append(f"difflib on synthetic-10k: every {step}th question, {len(sample)} in all")

        plans: list[tuple[str, Knowledge, int, Sequence[Case]]] = [
            ("faq.json", real, passes, cases),
            ("synthetic-10k", big, big_passes, sample),
        ]
        for name, knowledge, n_passes, difflib_cases in plans:
            warm_up = [e.title for e in knowledge.entries]
            print(f"{name}: engine ...", file=sys.stderr, flush=True)
            engine_row = measure(
                name, "engine", partial(_engine, knowledge), cases, warm_up, n_passes,
                clear_caches=True,
            )  # fmt: skip
            print(f"{name}: difflib ...", file=sys.stderr, flush=True)
            difflib_row = measure(
                name, "difflib", partial(_difflib, knowledge), difflib_cases, warm_up[:3], 1,
                clear_caches=False,
            )  # fmt: skip
            speed_up = engine_row.per_second / difflib_row.per_second
            rows.append(replace(engine_row, speed_up=speed_up))
            rows.append(difflib_row)
            notes.append(f"engine build on {name}: {engine_row.build_s * 1000:,.0f} ms")
            if args.profile:
                print(f"{name}: profile ...", file=sys.stderr, flush=True)
                profiles[name] = profile(knowledge, cases)

    print(text_table(rows))
    print()
    for line in bars(rows):
        print(line)
    for name, text in profiles.items():
        print(f"\ncProfile of Engine.decide on {name}:\n{text}")
    print(f"\nwritten to {write_report(rows, notes, profiles).relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
