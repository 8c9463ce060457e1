"""The figures of docs/performance.md, composed from the results the benchmarks wrote
(benchmarks/results/*.json), and written into that document between its markers.

In-process figures come from `inprocess-<setting>-<n>.json` (one `bench_bot --only in-process`
run each, the two AIOGRAM_DEFERRED_IMPORT settings alternated): each figure is the median over
the runs of a setting. The process figures come from `bot-latest.json`, the scale ones from
`scale-latest.json`, the several-instances ones (a section of their own) from
`instances-latest.json`."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from benchmarks.bench_instances import NAME as INSTANCES_NAME
from benchmarks.bench_instances import section as instances_section
from benchmarks.bench_scale import FIGURES as SCALE_FIGURES
from benchmarks.bench_scale import scale_table
from benchmarks.targets import CPU_BAR_MS, P99_BAR_MS, RSS_BAR_MB, STARTUP_BAR_S, headroom
from bot.settings import PROJECT_ROOT

RESULTS = Path(__file__).resolve().parent / "results"
BOT = RESULTS / "bot-latest.json"
IN_PROCESS = "inprocess-{setting}-{run}"  # results/<this>.json, one per in-process run
SUMMARY = RESULTS / "performance-latest.md"
DOC = PROJECT_ROOT / "docs" / "performance.md"
BEGIN = "<!-- figures: begin (written by python -m benchmarks --update-docs) -->"
END = "<!-- figures: end -->"
INSTANCES = RESULTS / f"{INSTANCES_NAME}.json"
INSTANCES_BEGIN = "<!-- instances: begin (written by python -m benchmarks --update-docs) -->"
INSTANCES_END = "<!-- instances: end -->"
SETTINGS = ("true", "false")
WORKLOADS = ("text", "buttons", "mix")


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def in_process_runs(setting: str) -> list[dict[str, Any]]:
    """The in_process blocks of the runs with AIOGRAM_DEFERRED_IMPORT=`setting`."""
    pattern = IN_PROCESS.format(setting=setting, run="*") + ".json"
    runs = (_read(path) for path in sorted(RESULTS.glob(pattern)))
    return [run["in_process"] for run in runs if run is not None and "in_process" in run]


def in_process(setting: str) -> dict[str, dict[str, float]] | None:
    """Per workload, the median over the runs of its CPU and latency figures."""
    runs = in_process_runs(setting)
    if not runs:
        return None
    out: dict[str, dict[str, float]] = {}
    for workload in WORKLOADS:
        blocks = [run[workload] for run in runs if workload in run]
        if blocks:
            out[workload] = {
                key: statistics.median(b[key] for b in blocks)
                for key in ("cpu_ms", "cpu_p99_ms", "p50_ms", "p99_ms")
            }
            out[workload]["runs"] = len(blocks)
            out[workload]["cpu_min_ms"] = min(b["cpu_ms"] for b in blocks)
            out[workload]["cpu_max_ms"] = max(b["cpu_ms"] for b in blocks)
    return out


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


def bot_table(ip: dict[str, dict[str, dict[str, float]] | None], bot: dict[str, Any]) -> str:
    """One row per figure, a column per AIOGRAM_DEFERRED_IMPORT setting. `ip`: in_process()
    of each setting."""
    start, http = bot.get("startup", {}), bot.get("http", {})

    def both(block: dict[str, Any], *keys: str, fmt: str) -> tuple[str, str]:
        on, off = (_cell(block, setting, *keys, fmt=fmt) for setting in SETTINGS)
        return on, off

    def cpu(setting: str) -> str:
        text = (ip[setting] or {}).get("text")
        if text is None:
            return "–"
        spread = f"{text['cpu_min_ms']:.2f}–{text['cpu_max_ms']:.2f}"
        return f"{text['cpu_ms']:.2f} ms ({spread})" if text["runs"] > 1 else _ms(text["cpu_ms"])

    def per_workload(setting: str, key: str) -> str:
        block = ip[setting]
        if not block:
            return "–"
        return "; ".join(_ms(block[w][key]) for w in WORKLOADS if w in block)

    def latency(setting: str) -> str:
        p50 = _cell(http, setting, "seq_p50_ms", fmt="{:.1f}")
        return p50 + "; " + _cell(http, setting, "seq_p99_ms", fmt="{:.1f} ms")

    runs = max((w["runs"] for b in ip.values() if b for w in b.values()), default=0)
    questions = _cell(http, "true", "sequential")
    burst = _cell(http, "true", "burst", fmt="{:,}")
    rows = [
        (
            "CPU per text update, in-process, one core"
            + (f" (median of {runs} runs; range)" if runs > 1 else ""),
            (cpu("true"), cpu("false")),
            f"≤ {CPU_BAR_MS:g} ms",
        ),
        (
            "latency p99 per update, in-process: text; buttons; mix",
            (per_workload("true", "p99_ms"), per_workload("false", "p99_ms")),
            f"< {P99_BAR_MS:g} ms",
        ),
        (
            "CPU p99 per update, in-process: text; buttons; mix",
            (per_workload("true", "cpu_p99_ms"), per_workload("false", "cpu_p99_ms")),
            "",
        ),
        (
            "start-up of `python -m bot run` to its first answer (median)",
            both(start, "answer_s", fmt="{:.2f} s"),
            f"< {STARTUP_BAR_S:g} s",
        ),
        ("CPU time of that start-up", both(start, "cpu_s", fmt="{:.2f} s"), ""),
        ("peak RSS at the first answer", both(start, "hwm_mb", fmt="{:.0f} MB"), ""),
        (
            f"peak RSS after {questions} questions one at a time and a burst of {burst}",
            both(http, "hwm_mb", fmt="{:.0f} MB"),
            f"< {RSS_BAR_MB:g} MB",
        ),
        (
            "over HTTP, one question at a time: latency p50; p99",
            (latency("true"), latency("false")),
            "",
        ),
        (
            "over HTTP, in the burst: the bot's CPU per question",
            both(http, "bot_cpu_ms", fmt="{:.2f} ms"),
            "",
        ),
    ]
    out = [
        "| figure | AIOGRAM_DEFERRED_IMPORT=true (default) | =false | target |",
        "|---|---:|---:|---|",
    ]
    out += [f"| {name} | {on} | {off} | {bar} |" for name, (on, off), bar in rows]
    return "\n".join(out)


def deferred_sentence(
    ip: dict[str, dict[str, dict[str, float]] | None], bot: dict[str, Any]
) -> str | None:
    """What the deferred import buys and costs, from the two columns; None when the process
    figures of one setting are missing."""
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
    text_on, text_off = ((ip[s] or {}).get("text") for s in SETTINGS)
    if text_on is None or text_off is None:
        return sentence + "."
    cpu_on, cpu_off = text_on["cpu_ms"], text_off["cpu_ms"]
    return (
        sentence + f"; a text update costs {cpu_on:.2f} ms of CPU with it and {cpu_off:.2f} ms "
        f"without ({(cpu_on / cpu_off - 1) * 100:+.0f} %)."
    )


def loads(*results: dict[str, Any] | None) -> str:
    """The range of the 1-minute load averages at the start of the runs, when they say."""
    found = [r["load"] for r in results if r is not None and "load" in r]
    if not found:
        return ""
    low, high = min(found), max(found)
    span = f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}–{high:.1f}"
    return f", load average {span} at the start of the runs"


def compose() -> str:
    """The markdown between the document's markers, from the latest results."""
    bot, scale = _read(BOT) or {}, _read(SCALE_FIGURES)
    ip = {setting: in_process(setting) for setting in SETTINGS}
    parts: list[str] = []
    if bot or any(ip.values()):
        pattern = IN_PROCESS.format(setting="*", run="*") + ".json"
        runs = [_read(path) for path in sorted(RESULTS.glob(pattern))]
        where = bot.get("platform", "") + loads(bot, *runs)
        parts += [f"Revision {bot.get('revision', '?')}, {where}:", "", bot_table(ip, bot)]
        sentence = deferred_sentence(ip, bot)
        if sentence is not None:
            parts += ["", sentence]
        text = (ip["true"] or {}).get("text")
        if text is not None:
            parts += ["", f"Headroom: {headroom(text['cpu_ms'])}."]
    if scale is not None:
        parts += [
            "",
            f"Scale, revision {scale['revision']}, {scale.get('platform', '')}{loads(scale)}:",
            "",
            scale_table(scale["results"], scale["in_share"]),
            "",
            *(f"- {line}" for line in scale["bars"]),
        ]
    return "\n".join(parts).strip() + "\n"


def replace_section(doc: str, begin: str, end: str, text: str) -> str:
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(doc):
        raise RuntimeError(f"{DOC} has no {begin} ... {end} section")
    return pattern.sub(lambda _: f"{begin}\n{text}{end}", doc)


def write_instances_section() -> Path:
    """DOC's several-instances section, from the latest instances results."""
    figures = _read(INSTANCES)
    if figures is None:
        raise RuntimeError(f"no {INSTANCES.name}: run python -m benchmarks.bench_instances")
    doc = DOC.read_text(encoding="utf-8")
    text = instances_section(figures)
    DOC.write_text(replace_section(doc, INSTANCES_BEGIN, INSTANCES_END, text), encoding="utf-8")
    return DOC


def write(update_docs: bool) -> list[Path]:
    """SUMMARY always; DOC's marked sections too when `update_docs`, each only from results
    that exist (a part not run leaves its figures in the document as they were)."""
    text = compose()
    instances = _read(INSTANCES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    parts = [text] if text.strip() else []
    if instances is not None:
        parts.append("Several instances:\n\n" + instances_section(instances))
    SUMMARY.write_text("\n".join(parts), encoding="utf-8")
    written = [SUMMARY]
    if update_docs:
        doc = DOC.read_text(encoding="utf-8")
        if _read(BOT) is not None or _read(SCALE_FIGURES) is not None:
            doc = replace_section(doc, BEGIN, END, text)
        if instances is not None:
            doc = replace_section(doc, INSTANCES_BEGIN, INSTANCES_END, instances_section(instances))
        DOC.write_text(doc, encoding="utf-8")
        written.append(DOC)
    return written
