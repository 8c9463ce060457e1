"""The whole bot measured the way it runs: in this process on a recording session, and as
`python -m bot run` processes polling the Bot API stand-in on 127.0.0.1. Method, options and
how to read the output: benchmarks/README.md.

    .venv/bin/python -m benchmarks.bench_bot              # full run
    .venv/bin/python -m benchmarks.bench_bot --quick      # fewer updates and runs
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.cli import EXIT_CONFIG, build_assistant
from bot.engine.knowledge import KnowledgeError
from bot.settings import PROJECT_ROOT, ConfigError, load_settings
from bot.telegram.aiogram_import import import_aiogram

PARTS = ("in-process", "floor", "http", "startup")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_bot",
        description="Throughput, latency, CPU, memory and start-up of the Telegram bot.",
    )
    p.add_argument("--quick", action="store_true", help="fewer updates and start-up runs")
    p.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    p.add_argument("--profile", action="store_true", help="cProfile in-process text updates")
    p.add_argument(
        "--all-cores",
        action="store_true",
        help="run the in-process and floor parts unpinned (default: on one core)",
    )
    p.add_argument(
        "--python", default=sys.executable, help="interpreter for the bot processes (default: this)"
    )
    p.add_argument(
        "--deferred-import",
        nargs="+",
        choices=("true", "false"),
        default=["true", "false"],
        help="AIOGRAM_DEFERRED_IMPORT of the bot processes (http, startup); default: both",
    )
    p.add_argument(
        "--results",
        default="bot-latest",
        metavar="NAME",
        help="write benchmarks/results/NAME.md and NAME.json (default: bot-latest)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # As `python -m bot run` starts (bot.cli.main): settings, the assistant, then aiogram, so
    # that every aiogram import of this process, the stand-in's included, follows the setting.
    try:
        settings = load_settings(_env_file=None)
        assistant = build_assistant(settings)
    except (ConfigError, KnowledgeError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    deferred = import_aiogram(settings.aiogram_deferred_import)

    from benchmarks.botbench import report, runner
    from bot.telegram.runtime import new_event_loop

    options = runner.Options(
        parts=args.only or PARTS,
        quick=args.quick,
        profile=args.profile,
        all_cores=args.all_cores,
        python=args.python,
        deferred=[value == "true" for value in dict.fromkeys(args.deferred_import)],
    )
    with asyncio.Runner(loop_factory=new_event_loop) as loop:  # the bot's event loop
        outcome = loop.run(runner.run(assistant, options, deferred))
    table = report.markdown_table(outcome.lines)
    print(table)
    print()
    for note in outcome.notes:
        print(f"- {note}")
    written = report.write_report(table, outcome.notes, outcome.figures, args.results)
    print(f"\nwritten to {written.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
