"""Every figure of docs/performance.md in one command, each benchmark in a process of its own:

1. the in-process part of the whole-bot benchmark, 3 runs with each AIOGRAM_DEFERRED_IMPORT
   setting, the settings alternated (the setting is the process's: aiogram is imported once);
2. its floor, http and startup parts, the bot processes started with each setting;
3. the scale benchmark;
4. the several-instances benchmark (webhook instances on SQLite, and on PostgreSQL + Redis);

then the summary, benchmarks/results/performance-latest.md.

    .venv/bin/python -m benchmarks                  # writes benchmarks/results/*
    .venv/bin/python -m benchmarks --update-docs    # and the figures in docs/performance.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from benchmarks import summary
from bot.settings import PROJECT_ROOT

IN_PROCESS_RUNS = 3


def _run(arguments: Sequence[str], **env: str) -> None:
    command = [sys.executable, "-m", *arguments]
    shown = " ".join(f"{k}={v}" for k, v in env.items())
    print(f"\n$ {shown} python -m {' '.join(arguments)}", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=PROJECT_ROOT, env={**os.environ, **env}, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks behind docs/performance.md and summarise them.",
    )
    p.add_argument("--quick", action="store_true", help="fewer updates, runs and processes")
    p.add_argument("--update-docs", action="store_true", help="rewrite the figures in the doc")
    p.add_argument(
        "--summary-only", action="store_true", help="only compose the summary from the results"
    )
    args = p.parse_args(argv)
    quick = ["--quick"] if args.quick else []
    if not args.summary_only:
        for stale in summary.RESULTS.glob(summary.IN_PROCESS.format(setting="*", run="*") + ".*"):
            stale.unlink()
        for run in range(1, (1 if args.quick else IN_PROCESS_RUNS) + 1):
            for setting in summary.SETTINGS:
                name = summary.IN_PROCESS.format(setting=setting, run=run)
                _run(
                    ["benchmarks.bench_bot", "--only", "in-process", "--results", name, *quick],
                    AIOGRAM_DEFERRED_IMPORT=setting,
                )
        _run(
            ["benchmarks.bench_bot", "--only", "floor", "http", "startup", *quick],
            AIOGRAM_DEFERRED_IMPORT="true",
        )
        _run(["benchmarks.bench_scale", *(["--runs", "1"] if args.quick else [])])
        _run(["benchmarks.bench_instances", *quick])
    for path in summary.write(args.update_docs):
        print(f"written to {path.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
