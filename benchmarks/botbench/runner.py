"""The whole-bot benchmark's run: which parts, in which order, with how many updates; the
lines of the report and the figures for docs/performance.md."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.botbench import report
from benchmarks.botbench.in_process import floor, in_process, progress
from benchmarks.botbench.process import Http, Startup, http_load, startup_once
from benchmarks.botbench.workloads import OFF_TOPIC, USERS, press_data, text_questions
from benchmarks.measure import conditions, load_average, one_core, platform_line
from benchmarks.revision import interpreter
from benchmarks.targets import headroom
from bot.engine.assistant import Assistant


@dataclass(frozen=True, slots=True)
class Options:
    parts: Sequence[str]  # of benchmarks.bench_bot.PARTS
    quick: bool = False
    profile: bool = False
    all_cores: bool = False
    python: str = ""
    deferred: Sequence[bool] = (True, False)  # AIOGRAM_DEFERRED_IMPORT of the bot processes


@dataclass
class Outcome:
    lines: list[report.Line]
    notes: list[str]
    figures: dict[str, Any]


async def run(assistant: Assistant, options: Options, deferred_here: bool) -> Outcome:
    """Every part of `options.parts`; `deferred_here`: whether this process imported aiogram
    with its types built on first use (the in-process and floor parts run in it)."""
    count = 400 if options.quick else 3000
    sequential, burst = (30, 300) if options.quick else (200, 2000)
    runs = 3 if options.quick else 5
    questions = text_questions(assistant.knowledge)
    out = Outcome(
        [], [], {"conditions": conditions(), "platform": platform_line(), "load": load_average()}
    )
    out.notes += [
        f"run conditions: {conditions()}",
        f"text workload: {len(questions)} distinct questions ({len(OFF_TOPIC) * 2} off-topic), "
        f"{USERS} users; buttons: {len(press_data(assistant.knowledge))} distinct presses",
    ]
    if "in-process" in options.parts:
        with one_core(not options.all_cores) as cores:
            rows, profiled = await in_process(assistant, count, profile=options.profile)
        out.lines += report.lines_in_process(rows)
        out.notes.append(
            f"in-process: {cores}; event loop {type(asyncio.get_running_loop()).__module__}; "
            f"{report.setting(deferred_here)} in this process"
        )
        out.figures["in_process"] = {r.workload: dataclasses.asdict(r) for r in rows}
        out.figures["in_process_deferred"] = deferred_here
        text = next(r for r in rows if r.workload == "text")
        out.notes.append("headroom: " + headroom(text.cpu_ms))
        out.figures["headroom"] = headroom(text.cpu_ms)
        if profiled is not None:
            out.notes.append(
                f"cProfile of text updates (the bot's functions):\n\n```\n{profiled}\n```"
            )
    if "floor" in options.parts:
        progress("floor ...")
        with one_core(not options.all_cores):
            measured = await floor(assistant, count)
        out.lines += report.lines_floor(measured)
        out.figures["floor"] = dataclasses.asdict(measured)
    if "http" in options.parts:
        out.figures["http"] = {}
        for deferred in options.deferred:
            progress(f"http: starting the bot, {report.setting(deferred)} ...")
            h: Http = await http_load(options.python, questions, sequential, burst, deferred)
            out.lines += report.lines_http(h)
            out.figures["http"][str(deferred).lower()] = dataclasses.asdict(h)
    if "startup" in options.parts:
        out.figures["startup"] = {}
        # Alternated, so that a slow spell of the machine weighs on both settings alike.
        results: dict[bool, list[Startup]] = {d: [] for d in options.deferred}
        for n in range(runs):
            for deferred in options.deferred:
                progress(f"startup: {report.setting(deferred)}, run {n + 1} of {runs} ...")
                question = questions[n % len(questions)]
                results[deferred].append(await startup_once(options.python, question, deferred))
        for deferred, measured_runs in results.items():
            out.lines += report.lines_startup(deferred, measured_runs)
            started: dict[str, Any] = {**report.startup_figures(measured_runs)}
            started["deferred_active"] = all(r.deferred_active for r in measured_runs)
            out.figures["startup"][str(deferred).lower()] = started
    out.notes.append(f"interpreter: {interpreter()}")
    if options.python != sys.executable:
        out.notes.append(f"bot processes: {interpreter(options.python)}")
    return out
