"""Timing a matcher's `decide` over labelled questions, and profiling the engine."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.enginebench.difflib_matcher import DifflibMatcher
from benchmarks.measure import percentile
from bot.engine.evaluation import Case, Outcome
from bot.engine.knowledge import Knowledge
from bot.engine.matcher import Decision, Engine
from bot.engine.normalize import clear_normalize_cache

Decide = Callable[[str], Decision]


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


def measure(
    file: str,
    matcher: str,
    make: Callable[[], Decide],
    cases: Sequence[Case],
    warm_up: Sequence[str],
    passes: int,
    clear_caches: bool,
) -> Row:
    """`make()` builds a matcher `passes` times; each is warmed up on `warm_up`, then asked
    every case, timed in CPU time of this thread (the matcher is single-threaded, and CPU
    time hardly moves when other processes share the machine). `ok`: the first pass's share
    of cases decided as their label wants."""
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
            started = time.thread_time_ns()
            decision = decide(case.q)
            samples.append(time.thread_time_ns() - started)
            if number == 0:
                decisions.append(decision)
    samples.sort()
    ok = sum(Outcome(c, d).ok for c, d in zip(cases, decisions, strict=True)) / len(cases)
    return Row(
        file=file,
        matcher=matcher,
        questions=len(samples),
        p50_us=percentile(samples, 0.50) / 1000,
        p99_us=percentile(samples, 0.99) / 1000,
        per_second=len(samples) / (sum(samples) / 1e9),
        ok=ok,
        build_s=build_ns / passes / 1e9,
    )


def engine_decide(knowledge: Knowledge) -> Decide:
    return Engine(knowledge).decide


def difflib_decide(knowledge: Knowledge) -> Decide:
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
