"""Latency and throughput of `Engine.decide` on the shipped knowledge file and on a generated
one of 10,000 phrasings, side by side with a difflib baseline. Method and how to read the
output: benchmarks/README.md.

    .venv/bin/python -m benchmarks.bench_engine              # full run
    .venv/bin/python -m benchmarks.bench_engine --quick      # fewer repeats
    .venv/bin/python -m benchmarks.bench_engine --profile    # plus cProfile of Engine.decide
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from benchmarks.enginebench.report import bars, text_table, write_report
from benchmarks.enginebench.runner import Row, difflib_decide, engine_decide, measure, profile
from benchmarks.enginebench.synthetic import SEED, SYNTHETIC_TOTAL, synthetic_knowledge
from bot.engine.evaluation import Case, load_cases
from bot.engine.knowledge import Knowledge, load_knowledge
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT

EVAL_FILE = PROJECT_ROOT / "tests" / "data" / "eval.jsonl"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_engine",
        description="Latency and throughput of Engine.decide beside a difflib baseline.",
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
                name, "engine", partial(engine_decide, knowledge), cases, warm_up, n_passes,
                clear_caches=True,
            )  # fmt: skip
            print(f"{name}: difflib ...", file=sys.stderr, flush=True)
            difflib_row = measure(
                name, "difflib", partial(difflib_decide, knowledge), difflib_cases, warm_up[:3], 1,
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
