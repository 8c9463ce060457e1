"""The engine benchmark's table, bars and report file (benchmarks/results/engine-latest.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from benchmarks.enginebench.runner import Row
from benchmarks.measure import conditions
from benchmarks.revision import interpreter, revision

RESULTS = Path(__file__).resolve().parent.parent / "results" / "engine-latest.md"
P99_BAR_US = 1000.0
SPEED_UP_BAR = 20.0

HEADER = (
    "file",
    "matcher",
    "n",
    "p50 µs CPU",
    "p99 µs CPU",
    "questions/s",
    "speed-up vs difflib",
    "ok",
)


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
        f"{when}; revision {revision()}; {interpreter()}; {conditions()}.",
        "Produced by `python -m benchmarks.bench_engine`; method in benchmarks/README.md.",
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
