"""Every figure of docs/performance.md in one command: the whole-bot benchmark (both
AIOGRAM_DEFERRED_IMPORT settings), the in-process part again with the import not deferred,
and the scale benchmark, each in a process of its own; then the summary.

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

EAGER = summary.BOT_EAGER.stem


def _run(arguments: Sequence[str], **env: str) -> None:
    command = [sys.executable, "-m", *arguments]
    print(f"\n$ {' '.join(arguments)}", file=sys.stderr, flush=True)
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
        _run(["benchmarks.bench_bot", *quick], AIOGRAM_DEFERRED_IMPORT="true")
        _run(
            [
                "benchmarks.bench_bot",
                "--only",
                "in-process",
                "--results",
                "bot-eager-latest",
                *quick,
            ],
            AIOGRAM_DEFERRED_IMPORT="false",
        )
        _run(["benchmarks.bench_scale", *(["--runs", "1"] if args.quick else [])])
    for path in summary.write(args.update_docs):
        print(f"written to {path.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
