"""Several instances: `python -m bot webhook` processes behind the Bot API stand-in, one on
SQLite, one on PostgreSQL + Redis and three on PostgreSQL + Redis, each configuration fed a
burst of questions posted as Telegram posts them. Method and how to read the output:
benchmarks/README.md.

    .venv/bin/python -m benchmarks.bench_instances               # 2,000 questions, 500 users
    .venv/bin/python -m benchmarks.bench_instances --quick       # 600 questions, 200 users
    .venv/bin/python -m benchmarks.bench_instances --update-docs # and its section of the doc
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.measure import conditions, load_average, platform_line
from benchmarks.revision import interpreter, revision
from bot.cli import EXIT_CONFIG, build_assistant
from bot.engine.knowledge import KnowledgeError
from bot.settings import PROJECT_ROOT, ConfigError, load_settings
from bot.telegram.aiogram_import import import_aiogram

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "instances-latest"  # results/<name>.md and .json
# users in a burst, questions each, bursts, questions one at a time
FULL, QUICK = (500, 4, 3, 100), (200, 3, 1, 30)


@dataclass(frozen=True, slots=True)
class Config:
    key: str  # as given to --configs
    title: str
    instances: int
    shared: bool  # PostgreSQL and Redis, else every setting at its default (SQLite, no Redis)


CONFIGS = (
    Config("sqlite", "1 × SQLite", 1, False),
    Config("shared-1", "1 × PostgreSQL + Redis", 1, True),
    Config("shared-3", "3 × PostgreSQL + Redis", 3, True),
)
KEYS = [config.key for config in CONFIGS]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_instances",
        description="Updates/s, latency and CPU per update of one and several webhook instances.",
    )
    p.add_argument(
        "--quick", action="store_true", help="one burst of 200 users asking 3 questions each"
    )
    p.add_argument("--users", type=int, help="users in a burst (default 500)")
    p.add_argument("--per-user", type=int, help="questions each user asks (default 4)")
    p.add_argument("--rounds", type=int, help="bursts per configuration (default 3)")
    p.add_argument(
        "--sequential", type=int, help="questions asked one at a time first (default 100)"
    )
    p.add_argument("--configs", nargs="+", choices=KEYS, default=KEYS)
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="where the benchmark creates (and drops) its database; env BENCH_POSTGRES_URL",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="the Redis the instances share (keys under a prefix of the run's, deleted after); "
        "env BENCH_REDIS_URL",
    )
    p.add_argument(
        "--python", default=sys.executable, help="interpreter for the bot processes (default: this)"
    )
    p.add_argument("--update-docs", action="store_true", help="rewrite its section of the doc")
    return p


def table(results: Sequence[dict[str, Any]]) -> str:
    """One row per configuration measured."""
    out = [
        "| configuration | updates/s in a burst (median; range) | latency in a burst: p50; p99 "
        "| latency one at a time: p50; p99 | CPU per update, the instances (range) "
        "| CPU per update, PostgreSQL and Redis servers | peak RSS per instance "
        "| stand-in and load generator | what the instances used |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        low, high = r["rate_range"]
        rate = f"{r['rate']:,.0f}" + (f" ({low:,.0f}–{high:,.0f})" if r["rounds"] > 1 else "")
        cpu_low, cpu_high = r["cpu_range_ms"]
        cpu = f"{r['cpu_ms']:.2f} ms" + (
            f" ({cpu_low:.2f}–{cpu_high:.2f})" if r["rounds"] > 1 else ""
        )
        out.append(
            f"| {r['title']} | {rate} | {r['p50_ms']:,.0f}; {r['p99_ms']:,.0f} ms "
            f"| {r['seq_p50_ms']:.1f}; {r['seq_p99_ms']:.1f} ms | {cpu} "
            f"| {r['servers_cpu_ms']:.2f} ms | ≤ {r['hwm_mb']:.0f} MB "
            f"| {r['here_cpu_share']:.0%} of a core | {r['database']}; {r['redis']} |"
        )
    return "\n".join(out)


def notes(figures: dict[str, Any]) -> list[str]:
    plan = figures["plan"]
    updates = plan["users"] * plan["per_user"]
    lines = [
        f"{plan['rounds']} burst(s) per configuration, each of {plan['users']} new users asking "
        f"{plan['per_user']} questions ({updates:,} updates), each question posted when the "
        f"answer to the previous one had arrived; {plan['sequential']} questions one at a time "
        "before them. Latency: from the POST of an update to its answer's sendMessage at the "
        "stand-in",
    ]
    for name, reason in figures.get("skipped", {}).items():
        lines.append(f"not measured: {name}: {reason}")
    for r in figures["results"]:
        extra = []
        if r["refused"]:
            extra.append(f"{r['refused']} POSTs refused and posted again")
        if r["unexpected"]:
            extra.append(f"{r['unexpected']} messages no question waited for")
        if r["migrated"] is False:
            extra.append("this revision has no `python -m bot migrate`")
        if r["instances"] > 1:
            spread = ", ".join(f"{s:.2f}" for s in r["cpu_per_instance_s"])
            extra.append(f"CPU seconds per instance over the bursts: {spread}")
        if extra:
            lines.append(f"{r['title']}: " + "; ".join(extra))
    lines.append(f"run conditions: {figures['conditions']}")
    lines.append(f"interpreter: {figures['interpreter']}")
    return lines


def section(figures: dict[str, Any]) -> str:
    """The markdown of docs/performance.md's several-instances section."""
    where = f"{figures['platform']}, load average {figures['load']:.1f} at the start"
    return (
        "\n".join(
            [
                f"Revision {figures['revision']}, {where}:",
                "",
                table(figures["results"]),
                "",
                *(f"- {line}" for line in notes(figures)[:-2]),
            ]
        ).strip()
        + "\n"
    )


def write(figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = [
        "# Several instances",
        "",
        f"{figures['when']}; revision {figures['revision']}; {figures['interpreter']}.",
        "Produced by `python -m benchmarks.bench_instances`; method in benchmarks/README.md.",
        "",
        table(figures["results"]),
        "",
        *(f"- {line}" for line in notes(figures)),
    ]
    (RESULTS / f"{NAME}.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    (RESULTS / f"{NAME}.json").write_text(
        json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return RESULTS / f"{NAME}.md"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings(_env_file=None)
        assistant = build_assistant(settings)
    except (ConfigError, KnowledgeError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    # The stand-in in this process imports aiogram: as the bot does, whatever the setting.
    import_aiogram(settings.aiogram_deferred_import)

    from benchmarks.botbench import instances
    from benchmarks.botbench.shared import shared_state, unanswered
    from benchmarks.botbench.workloads import text_questions
    from benchmarks.summary import write_instances_section
    from bot.telegram.runtime import new_event_loop

    users, per_user, rounds, sequential = QUICK if args.quick else FULL
    plan = instances.Plan(
        args.users or users,
        args.per_user or per_user,
        args.rounds or rounds,
        args.sequential or sequential,
    )
    questions = text_questions(assistant.knowledge)
    chosen = [c for c in CONFIGS if c.key in args.configs]
    missing = unanswered(args.postgres_url, 5432) or unanswered(args.redis_url, 6379)
    figures: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": revision(),
        "interpreter": interpreter(args.python),
        "conditions": conditions(),
        "platform": platform_line(),
        "load": load_average(),
        "plan": dataclasses.asdict(plan),
        "results": [],
        "skipped": {},
    }

    redis_port = urlsplit(args.redis_url).port or 6379

    async def run_all() -> None:
        for config in chosen:
            count, title = config.instances, config.title
            if not config.shared:
                measured = await instances.measure(
                    args.python, title, count, plan, questions, None, redis_port
                )
            elif missing is not None:
                figures["skipped"][config.title] = f"PostgreSQL or Redis: {missing}"
                continue
            else:
                async with shared_state(args.postgres_url, args.redis_url) as shared:
                    measured = await instances.measure(
                        args.python, title, count, plan, questions, shared, redis_port
                    )
            figures["results"].append(dataclasses.asdict(measured))

    with asyncio.Runner(loop_factory=new_event_loop) as loop:
        loop.run(run_all())
    print(table(figures["results"]))
    print()
    for line in notes(figures):
        print(f"- {line}")
    written = [write(figures)]
    if args.update_docs:
        written.append(write_instances_section())
    for path in written:
        print(f"written to {path.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
