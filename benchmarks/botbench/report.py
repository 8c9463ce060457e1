"""The whole-bot benchmark's results: a table of lines with the issue's bars, printed and
written to benchmarks/results/bot-latest.md, and the headline figures as JSON beside it."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.botbench.in_process import BATCH, Floor, InProcess
from benchmarks.botbench.process import Http, Startup
from benchmarks.revision import interpreter, revision
from benchmarks.targets import CPU_BAR_MS, P99_BAR_MS, RSS_BAR_MB, STARTUP_BAR_S

RESULTS = Path(__file__).resolve().parent.parent / "results"
NAME = "bot-latest"  # results/<name>.md and results/<name>.json


@dataclass(frozen=True, slots=True)
class Line:
    part: str
    measure: str
    value: str
    bar: str = ""
    met: bool | None = None


def verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "not met")


def ms(value: float) -> str:
    return f"{value:,.2f} ms" if value < 10 else f"{value:,.0f} ms"


def rate(median: float, spread: tuple[float, float]) -> str:
    return f"{median:,.0f} ({spread[0]:,.0f}–{spread[1]:,.0f})"


def setting(deferred: bool) -> str:
    return f"AIOGRAM_DEFERRED_IMPORT={str(deferred).lower()}"


def lines_in_process(rows: Sequence[InProcess]) -> list[Line]:
    out: list[Line] = []
    for r in rows:
        part = f"in-process, {r.workload} ({r.updates:,} updates)"
        text = r.workload == "text"
        out += [
            Line(
                part,
                "CPU per update, one at a time, every thread (median round; range)",
                f"{ms(r.cpu_ms)} ({r.cpu_range[0]:.2f}–{r.cpu_range[1]:.2f})",
                f"<= {CPU_BAR_MS:g} ms" if text else "",
                r.cpu_ms <= CPU_BAR_MS if text else None,
            ),
            Line(part, "CPU p99 per update", ms(r.cpu_p99_ms)),
            Line(part, "latency p50 per update", ms(r.p50_ms)),
            Line(
                part,
                "latency p99 per update",
                ms(r.p99_ms),
                f"< {P99_BAR_MS:g} ms",
                r.p99_ms < P99_BAR_MS,
            ),
            Line(
                part,
                "updates/s, one at a time (median round; range)",
                rate(r.sequential_rate, r.sequential_range),
            ),
            Line(
                part,
                f"updates/s, concurrent, batches of {BATCH} (median round; range)",
                rate(r.concurrent_rate, r.concurrent_range),
            ),
            Line(part, "Bot API requests per update", f"{r.calls_per_update:.2f}"),
        ]
    return out


def lines_floor(f: Floor) -> list[Line]:
    part = "floor, text (no database, routers or middlewares)"
    return [
        Line(part, "CPU per update: aiogram answering 'ok'", ms(f.aiogram_ms)),
        Line(part, "CPU per update: aiogram + engine + deliver", ms(f.engine_ms)),
    ]


def active(setting_on: bool, in_effect: bool) -> str:
    """The bot's own start-up log line, when it disagrees with the setting (a fallback)."""
    return "" if setting_on == in_effect else " (the bot fell back: types built at import)"


def lines_http(h: Http) -> list[Line]:
    part = f"`python -m bot run` over HTTP, {setting(h.deferred_setting)}"
    part += active(h.deferred_setting, h.deferred_active)
    return [
        Line(part, f"latency p50, one at a time ({h.sequential})", ms(h.seq_p50_ms)),
        Line(part, f"latency p99, one at a time ({h.sequential})", ms(h.seq_p99_ms)),
        Line(part, f"updates/s, burst of {h.burst:,}", f"{h.burst_rate:,.0f}"),
        Line(part, "latency p50 in the burst (queueing)", ms(h.burst_p50_ms)),
        Line(part, "latency p99 in the burst (queueing)", ms(h.burst_p99_ms)),
        Line(part, "bot CPU per update in the burst", ms(h.bot_cpu_ms)),
        Line(part, "stand-in CPU during the burst", f"{h.stand_in_cpu_share:.0%} of a core"),
        Line(
            part,
            "peak RSS after the load (VmHWM)",
            f"{h.hwm_mb:,.0f} MB",
            f"< {RSS_BAR_MB:g} MB",
            h.hwm_mb < RSS_BAR_MB,
        ),
        Line(part, "RSS after the load (VmRSS)", f"{h.rss_mb:,.0f} MB"),
    ]


def startup_figures(runs: Sequence[Startup]) -> dict[str, float]:
    return {
        "answer_s": statistics.median(r.answer_s for r in runs),
        "answer_min_s": min(r.answer_s for r in runs),
        "answer_max_s": max(r.answer_s for r in runs),
        "first_request_s": statistics.median(r.first_request_s for r in runs),
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "hwm_mb": statistics.median(r.hwm_mb for r in runs),
    }


def lines_startup(deferred: bool, runs: Sequence[Startup]) -> list[Line]:
    part = f"start-up, {setting(deferred)}, median of {len(runs)}"
    part += active(deferred, all(r.deferred_active for r in runs))
    f = startup_figures(runs)
    return [
        Line(
            part,
            "spawn → first answer received",
            f"{f['answer_s']:.2f} s ({f['answer_min_s']:.2f}–{f['answer_max_s']:.2f})",
            f"< {STARTUP_BAR_S:g} s",
            f["answer_s"] < STARTUP_BAR_S,
        ),
        Line(part, "spawn → first request (deleteWebhook)", f"{f['first_request_s']:.2f} s"),
        Line(part, "bot CPU time until the answer", f"{f['cpu_s']:.2f} s"),
        Line(part, "peak RSS at the first answer (VmHWM)", f"{f['hwm_mb']:,.0f} MB"),
    ]


HEADER = ("part", "measure", "value", "bar", "verdict")


def markdown_table(lines: Sequence[Line]) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---|---|"]
    out += [f"| {x.part} | {x.measure} | {x.value} | {x.bar} | {verdict(x.met)} |" for x in lines]
    return "\n".join(out)


def write_report(
    table: str, notes: Sequence[str], figures: dict[str, Any], name: str = NAME
) -> Path:
    """The table and notes to results/<name>.md, the figures to results/<name>.json."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Bot benchmark",
        "",
        f"{when}; revision {revision()}; {interpreter()}.",
        "Produced by `python -m benchmarks.bench_bot`; method in benchmarks/README.md.",
        "",
        table,
        "",
        *(f"- {note}" for note in notes),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    table_file = RESULTS / f"{name}.md"
    table_file.write_text("\n".join(parts) + "\n", encoding="utf-8")
    figures = {"when": when, "revision": revision(), **figures}
    (RESULTS / f"{name}.json").write_text(
        json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return table_file
