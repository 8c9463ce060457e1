"""How the engine scales with the size of the knowledge file: synthetic files of 20, 200 and
2,000 entries (benchmarks.scale.generator) beside the shipped one, each loaded and asked in a
process of its own. Method and how to read the output: benchmarks/README.md.

    .venv/bin/python -m benchmarks.bench_scale             # 20, 200 and 2,000 entries
    .venv/bin/python -m benchmarks.bench_scale --sizes 5000 --runs 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import conditions, load_average, platform_line
from benchmarks.revision import interpreter, revision
from benchmarks.scale import generator
from benchmarks.targets import LOAD_BAR_S, RATIO_BAR
from bot.cli import DEFAULT_EVAL
from bot.engine.evaluation import HANDOFF, load_cases
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT, Settings

RESULTS = Path(__file__).resolve().parent / "results"
TABLE = RESULTS / "scale-latest.md"
FIGURES = RESULTS / "scale-latest.json"
SIZES = (20, 200, 2000)
BAR_SIZE = 2000  # the file the bars are set for
SHIPPED = "shipped"


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    knowledge: Path
    questions: Path


def _env(knowledge: Path) -> dict[str, str]:
    """This environment without any bot setting but KNOWLEDGE_FILE."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(PYTHONPATH=str(PROJECT_ROOT), KNOWLEDGE_FILE=str(knowledge))
    return env


def probe(python: str, plan: Plan) -> dict[str, Any]:
    """The probe's figures, or {"error": its message} when the file does not load."""
    done = subprocess.run(
        [python, "-m", "benchmarks.scale.probe", str(plan.questions)],
        env=_env(plan.knowledge),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        return {"error": lines[-1]}
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def median_run(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (machine noise), nested dicts included."""
    first = runs[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = median_run([r[key] for r in runs])
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
        else:
            out[key] = value
    return out


def question_mix(cases_file: Path) -> float:
    """The share of in-scope questions in the shipped file's evaluation set: each file's cost
    per question is weighed with it, so that files asked different mixes compare."""
    cases = load_cases(cases_file)
    return sum(c.in_scope for c in cases) / len(cases)


def cost(figures: dict[str, Any], in_share: float) -> float:
    """Mean CPU ms per question, in-scope and out-of-scope weighed as in the shipped set."""
    inside = figures["cpu_in_scope"]["mean_ms"]
    outside = figures["cpu_out_of_scope"]["mean_ms"]
    return float(in_share * inside + (1 - in_share) * outside)


def write_questions(generated: generator.Generated, out: Path, in_scope: int) -> None:
    """`in_scope` held-out questions spread evenly over the entries (all if fewer), then the
    out-of-scope questions of the shipped evaluation set (off-topic for any file)."""
    held = generated.questions
    step = max(1, len(held) // in_scope)
    chosen = held[::step][:in_scope]
    lines = [
        json.dumps({"q": q, "expect": [intent], "kind": "held_out"}, ensure_ascii=False)
        for q, intent in chosen
    ]
    lines += [
        json.dumps({"q": c.q, "expect": [HANDOFF], "kind": c.kind}, ensure_ascii=False)
        for c in load_cases(DEFAULT_EVAL)
        if not c.in_scope
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def row(name: str, figures: dict[str, Any], baseline: float | None, in_share: float) -> str:
    if "error" in figures:
        return f"| {name} | does not load: {figures['error']} |" + " |" * 9
    per_question = cost(figures, in_share)
    ratio = "1×" if baseline is None else f"{per_question / baseline:.1f}×"
    correct = figures["answered_correct"]
    handoff = figures["offtopic_handoff"]
    return (
        f"| {name} | {figures['entries']:,} | {figures['phrasings']:,} "
        f"| {figures['build_s']:.2f} s ({figures['build_cpu_s']:.2f} s CPU) "
        f"| {figures['memory_mb']:,.1f} MB "
        f"| {per_question:.3f} ms | {figures['cpu_all']['p99_ms']:.2f} ms "
        f"| {figures['wall_p99_ms']:.2f} ms | {ratio} "
        f"| {'' if correct is None else f'{correct:.0%}'} "
        f"| {'' if handoff is None else f'{handoff:.0%}'} |"
    )


HEADER = (
    "| file | entries | phrasings | load and build | memory | CPU per question | CPU p99 "
    "| wall p99 | × shipped | answered right | off-topic handed off |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def scale_table(results: dict[str, dict[str, Any]], in_share: float) -> str:
    """The shipped file's row, then one per synthetic file, as in docs/performance.md."""
    base = results[SHIPPED]
    baseline = None if "error" in base else cost(base, in_share)
    rows = [
        row(
            "knowledge/faq.json" if name == SHIPPED else f"synthetic, {int(name):,} entries",
            figures,
            None if name == SHIPPED else baseline,
            in_share,
        )
        for name, figures in results.items()
    ]
    return "\n".join([HEADER, *rows])


def bars(results: dict[str, dict[str, Any]], in_share: float) -> list[str]:
    big = results.get(str(BAR_SIZE))
    base = results.get(SHIPPED)
    if big is None or base is None:
        return []
    if "error" in big or "error" in base:
        return [f"bars not measured: {big.get('error') or base.get('error')}"]
    ratio = cost(big, in_share) / cost(base, in_share)
    return [
        f"{BAR_SIZE:,} entries load and build in < {LOAD_BAR_S:g} s: {big['build_cpu_s']:.2f} s "
        f"of CPU, {big['build_s']:.2f} s of wall time "
        f"({'met' if big['build_cpu_s'] < LOAD_BAR_S else 'not met'}, judged on CPU time)",
        f"{BAR_SIZE:,} entries cost <= {RATIO_BAR:g}× the shipped file's per question: "
        f"{ratio:.1f}× ({'met' if ratio <= RATIO_BAR else 'not met'})",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_scale",
        description="Load time, memory and cost per question of large knowledge files.",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="entries per file")
    p.add_argument("--runs", type=int, default=3, help="processes per file; medians reported")
    p.add_argument("--in-scope", type=int, default=317, help="held-out questions per file")
    p.add_argument("--seed", type=int, default=generator.SEED)
    p.add_argument("--keep", type=Path, help="write the generated files here (else temporary)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the probes")
    args = p.parse_args(argv)

    in_share = question_mix(DEFAULT_EVAL)
    load_start = load_average()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        plans = [Plan(SHIPPED, DEFAULT_KNOWLEDGE, DEFAULT_EVAL)]
        for size in args.sizes:
            knowledge = folder / f"scale-{size}.json"
            generated = generator.generate(size, args.seed)
            generator.write(generated, knowledge)
            questions = folder / f"scale-{size}.asked.jsonl"
            write_questions(generated, questions, args.in_scope)
            plans.append(Plan(str(size), knowledge, questions))
        runs: dict[str, list[dict[str, Any]]] = {plan.name: [] for plan in plans}
        for n in range(args.runs):  # alternated: a slow spell weighs on every file alike
            for plan in plans:
                print(f"{plan.name}: run {n + 1} of {args.runs} ...", file=sys.stderr, flush=True)
                runs[plan.name].append(probe(args.python, plan))
    for name, measured in runs.items():
        failed = [r for r in measured if "error" in r]
        results[name] = failed[0] if failed else median_run(measured)

    table = scale_table(results, in_share)
    verdicts = bars(results, in_share)
    notes = [
        f"run conditions: {conditions()}; {interpreter(args.python)}",
        f"{args.runs} process(es) per file, medians; seed {args.seed}; questions per synthetic "
        f"file: up to {args.in_scope} held-out phrasings and the shipped set's out-of-scope ones",
        f"CPU per question weighs in-scope and out-of-scope questions {in_share:.0%} : "
        f"{1 - in_share:.0%}, as in tests/data/eval.jsonl",
        *verdicts,
    ]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "# Scale benchmark",
            "",
            f"{when}; revision {revision()}.",
            "Produced by `python -m benchmarks.bench_scale`; method in benchmarks/README.md.",
            "",
            table,
            "",
            *(f"- {note}" for note in notes),
        ]
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text + "\n", encoding="utf-8")
    FIGURES.write_text(
        json.dumps(
            {
                "when": when,
                "revision": revision(),
                "conditions": conditions(),
                "platform": platform_line(),
                "load": load_start,
                "in_share": in_share,
                "results": results,
                "bars": verdicts,
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwritten to {TABLE.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
