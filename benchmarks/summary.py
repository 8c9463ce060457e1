"""The figures of docs/performance.md, composed from the results the benchmarks wrote
(benchmarks/results/*.json), and written into that document between its markers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.bench_scale import FIGURES as SCALE_FIGURES
from benchmarks.bench_scale import scale_table
from bot.settings import PROJECT_ROOT

RESULTS = Path(__file__).resolve().parent / "results"
BOT = RESULTS / "bot-latest.json"
BOT_EAGER = RESULTS / "bot-eager-latest.json"  # in-process with AIOGRAM_DEFERRED_IMPORT=false
SUMMARY = RESULTS / "performance-latest.md"
DOC = PROJECT_ROOT / "docs" / "performance.md"
BEGIN = "<!-- figures: begin (written by python -m benchmarks --update-docs) -->"
END = "<!-- figures: end -->"


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:,.0f} ms"


def _cell(figures: dict[str, Any] | None, *keys: str, fmt: str = "{}") -> str:
    """A nested figure formatted, or a dash when that part was not measured."""
    value: Any = figures
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return "–"
        value = value[key]
    return fmt.format(value)


def bot_table(bot: dict[str, Any], eager: dict[str, Any] | None) -> str:
    """One row per figure; a column per AIOGRAM_DEFERRED_IMPORT setting (the in-process
    figures of `false` come from the separate in-process run, `eager`)."""
    ip, ip_eager = bot.get("in_process"), (eager or {}).get("in_process")
    start, http = bot.get("startup", {}), bot.get("http", {})

    def both(block: dict[str, Any], *keys: str, fmt: str) -> tuple[str, str]:
        return _cell(block, "true", *keys, fmt=fmt), _cell(block, "false", *keys, fmt=fmt)

    def p99s(block: dict[str, Any] | None) -> str:
        if not block:
            return "–"
        return "; ".join(_ms(block[k]["p99_ms"]) for k in ("text", "buttons", "mix") if k in block)

    def latency(setting: str) -> str:
        p50 = _cell(http, setting, "seq_p50_ms", fmt="{:.1f}")
        return p50 + "; " + _cell(http, setting, "seq_p99_ms", fmt="{:.1f} ms")

    questions = _cell(http, "true", "sequential")
    burst = _cell(http, "true", "burst", fmt="{:,}")
    cpu = "{:.2f} ms"
    rows = [
        (
            "CPU per text update, in-process, one core",
            (_cell(ip, "text", "cpu_ms", fmt=cpu), _cell(ip_eager, "text", "cpu_ms", fmt=cpu)),
            "≤ 1.5 ms",
        ),
        (
            "latency p99 per update, in-process: text; buttons; mix",
            (p99s(ip), p99s(ip_eager)),
            "< 5 ms",
        ),
        (
            "start-up of `python -m bot run` to its first answer (median)",
            both(start, "answer_s", fmt="{:.2f} s"),
            "< 2 s",
        ),
        ("CPU time of that start-up", both(start, "cpu_s", fmt="{:.2f} s"), ""),
        ("peak RSS at the first answer", both(start, "hwm_mb", fmt="{:.0f} MB"), ""),
        (
            f"peak RSS after {questions} questions one at a time and a burst of {burst}",
            both(http, "hwm_mb", fmt="{:.0f} MB"),
            "< 120 MB",
        ),
        (
            "over HTTP, one question at a time: latency p50; p99",
            (latency("true"), latency("false")),
            "",
        ),
        (
            "over HTTP, in the burst: the bot's CPU per question",
            both(http, "bot_cpu_ms", fmt=cpu),
            "",
        ),
    ]
    out = [
        "| figure | AIOGRAM_DEFERRED_IMPORT=true (default) | =false | target |",
        "|---|---:|---:|---|",
    ]
    out += [f"| {name} | {on} | {off} | {bar} |" for name, (on, off), bar in rows]
    return "\n".join(out)


def deferred_sentence(bot: dict[str, Any], eager: dict[str, Any] | None) -> str | None:
    """What the deferred import buys and costs, from the two columns; None when one is
    missing."""
    try:
        on, off = bot["startup"]["true"], bot["startup"]["false"]
        rss_on, rss_off = bot["http"]["true"]["hwm_mb"], bot["http"]["false"]["hwm_mb"]
    except KeyError:
        return None
    sentence = (
        f"The deferred import (AIOGRAM_DEFERRED_IMPORT=true) brings the start-up to the first "
        f"answer from {off['answer_s']:.2f} s to {on['answer_s']:.2f} s (CPU "
        f"{off['cpu_s']:.2f} s to {on['cpu_s']:.2f} s) and the peak RSS under load from "
        f"{rss_off:.0f} MB to {rss_on:.0f} MB"
    )
    try:
        cpu_on = bot["in_process"]["text"]["cpu_ms"]
        cpu_off = (eager or {})["in_process"]["text"]["cpu_ms"]
    except KeyError:
        return sentence + "."
    return (
        sentence + f"; a text update costs {cpu_on:.2f} ms of CPU with it and {cpu_off:.2f} ms "
        f"without ({(cpu_on / cpu_off - 1) * 100:+.0f} %)."
    )


def compose() -> str:
    """The markdown between the document's markers, from the latest results."""
    bot, eager, scale = _read(BOT), _read(BOT_EAGER), _read(SCALE_FIGURES)
    parts: list[str] = []
    if bot is not None:
        parts += [
            f"Revision {bot['revision']}, {bot.get('platform', bot['conditions'])}:",
            "",
            bot_table(bot, eager),
        ]
        sentence = deferred_sentence(bot, eager)
        if sentence is not None:
            parts += ["", sentence]
        if "headroom" in bot:
            parts += ["", f"Headroom: {bot['headroom']}."]
    if scale is not None:
        parts += [
            "",
            f"Scale, revision {scale['revision']}, {scale.get('platform', scale['conditions'])}:",
            "",
            scale_table(scale["results"], scale["in_share"]),
            "",
            *(f"- {line}" for line in scale["bars"]),
        ]
    return "\n".join(parts).strip() + "\n"


def write(update_docs: bool) -> list[Path]:
    """SUMMARY always; DOC's marked section too when `update_docs`."""
    text = compose()
    SUMMARY.write_text(text, encoding="utf-8")
    written = [SUMMARY]
    if update_docs:
        doc = DOC.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
        if not pattern.search(doc):
            raise RuntimeError(f"{DOC} has no {BEGIN} ... {END} section")
        DOC.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", doc), encoding="utf-8")
        written.append(DOC)
    return written
