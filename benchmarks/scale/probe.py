"""One knowledge file measured in a process of its own (so that its memory and caches are its
own): run by `benchmarks.bench_scale` with KNOWLEDGE_FILE set, it builds the assistant as the
bot does (`bot.cli.build_assistant`), asks the questions of a JSONL file, and prints the
figures as one JSON object.

    KNOWLEDGE_FILE=/tmp/faq-2000.json .venv/bin/python -m benchmarks.scale.probe QUESTIONS
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.measure import percentile, proc_status
from bot.cli import EXIT_CONFIG, build_assistant
from bot.engine.evaluation import Case, load_cases
from bot.engine.knowledge import KnowledgeError, load_knowledge
from bot.engine.normalize import clear_normalize_cache
from bot.settings import ConfigError, load_settings

WARM_UP = 50  # entry titles asked before the timed questions


def _cpu_ms(samples: Sequence[int]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "mean_ms": sum(ordered) / len(ordered) / 1e6 if ordered else 0.0,
        "p50_ms": percentile(ordered, 0.5) / 1e6 if ordered else 0.0,
        "p99_ms": percentile(ordered, 0.99) / 1e6 if ordered else 0.0,
    }


def probe(cases: Sequence[Case]) -> dict[str, Any]:
    gc.collect()
    rss_before = proc_status()["VmRSS"]
    settings = load_settings(_env_file=None)
    wall, cpu = time.perf_counter(), time.process_time()
    assistant = build_assistant(settings)
    build_wall, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.collect()
    rss_after = proc_status()["VmRSS"]
    cpu = time.process_time()
    load_knowledge(settings.knowledge_file)
    parse_cpu = time.process_time() - cpu

    knowledge = assistant.knowledge
    for entry in knowledge.entries[:: max(1, len(knowledge.entries) // WARM_UP)]:
        assistant.ask(entry.title)
    gc.collect()
    cpu_in: list[int] = []
    cpu_off: list[int] = []
    wall_all: list[int] = []
    right = handed_off = 0
    for case in cases:
        clear_normalize_cache()  # every question new to the bot, as most real ones are
        started_cpu = time.thread_time_ns()
        started = time.perf_counter_ns()
        reply = assistant.ask(case.q)
        wall_all.append(time.perf_counter_ns() - started)
        spent = time.thread_time_ns() - started_cpu
        decision = reply.decision
        if case.in_scope:
            cpu_in.append(spent)
            right += decision.action == "answer" and decision.intent in case.expect
        else:
            cpu_off.append(spent)
            handed_off += decision.action == "handoff"
    status = proc_status()
    return {
        "file": str(settings.knowledge_file),
        "entries": len(knowledge.entries),
        "phrasings": sum(len(e.questions) for e in knowledge.entries),
        "build_s": build_wall,
        "build_cpu_s": build_cpu,
        "parse_cpu_s": parse_cpu,
        "memory_mb": (rss_after - rss_before) / 1024,
        "rss_mb": rss_after / 1024,
        "hwm_mb": status["VmHWM"] / 1024,
        "in_scope": len(cpu_in),
        "out_of_scope": len(cpu_off),
        "cpu_all": _cpu_ms([*cpu_in, *cpu_off]),
        "cpu_in_scope": _cpu_ms(cpu_in),
        "cpu_out_of_scope": _cpu_ms(cpu_off),
        "wall_p99_ms": percentile(sorted(wall_all), 0.99) / 1e6,
        "answered_correct": right / len(cpu_in) if cpu_in else None,
        "offtopic_handoff": handed_off / len(cpu_off) if cpu_off else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale.probe")
    p.add_argument("questions", type=Path, help="JSONL of q/expect/kind lines")
    args = p.parse_args(argv)
    try:
        figures = probe(load_cases(args.questions))
    except (ConfigError, KnowledgeError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
