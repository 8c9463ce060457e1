"""Driving the bot in this process: the real Bot and Dispatcher (`bot.telegram.app`) on the
recording session, fed updates as polling feeds them, timed per update."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message

from benchmarks.botbench.session import BenchSession
from benchmarks.botbench.workloads import KINDS, TOKEN, Updates, parse_update
from benchmarks.measure import percentile
from bot.engine.assistant import Assistant
from bot.engine.normalize import clear_normalize_cache
from bot.logs import configure_logging
from bot.settings import PROJECT_ROOT, Settings, load_settings
from bot.storage import Storage
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.handlers.common import deliver

BATCH = 100  # concurrent updates: one getUpdates batch handed to tasks
ROUNDS = 5  # alternating rounds of one-at-a-time and concurrent updates


def bench_settings(data_dir: Path) -> Settings:
    """The bot's settings as `python -m bot run` loads them, from the environment (not a
    `.env` file: a deployment's, which may name an operators' group), with the benchmark's
    token, a temporary DATA_DIR, and flood control out of the way of benchmark traffic."""
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        data_dir=data_dir,
        flood_rate=1_000_000.0,
        flood_burst=1_000_000,
    )


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def bot_logging(settings: Settings) -> tuple[TextIO, ErrorCount]:
    """The bot's logging (level, format, redacting filter), written to os.devnull, plus a
    handler counting errors."""
    configure_logging(settings)
    devnull = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115 (closed by the caller)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    return devnull, errors


@dataclass
class Harness:
    bot: Bot
    dp: Dispatcher
    session: BenchSession
    errors: ErrorCount
    close: Callable[[], Awaitable[None]]

    async def feed(self, raw: str) -> None:
        await self.dp.feed_update(self.bot, parse_update(raw, self.bot))


@contextlib.asynccontextmanager
async def harness(settings: Settings, assistant: Assistant) -> AsyncIterator[Harness]:
    """The bot as `bot.telegram.polling.run_polling` builds it (storage, `build_bot`,
    `build_dispatcher`, the start-up hooks), on the recording session."""
    devnull, errors = bot_logging(settings)
    storage = await Storage.open(settings.data_dir, retention_days=settings.retention_days)
    session = BenchSession()
    bot = build_bot(settings, session=session)
    dp = build_dispatcher(settings, assistant, storage)
    # What start_polling passes to the start-up and shutdown hooks.
    workflow = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    await dp.emit_startup(bot=bot, **workflow)

    async def close() -> None:
        await dp.emit_shutdown(bot=bot, **workflow)
        await storage.close()
        logging.getLogger().removeHandler(errors)
        devnull.close()

    try:
        yield Harness(bot, dp, session, errors, close)
    finally:
        await close()


@dataclass(frozen=True, slots=True)
class InProcess:
    workload: str
    updates: int
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # CPU time per update one at a time, every thread: the median round's mean
    cpu_range: tuple[float, float]  # the rounds' lowest and highest
    cpu_p99_ms: float
    sequential_rate: float  # the median round's
    sequential_range: tuple[float, float]
    concurrent_rate: float
    concurrent_range: tuple[float, float]
    calls_per_update: float


async def measure_workload(
    h: Harness, updates: Updates, kind: str, count: int, batch: int = BATCH, rounds: int = ROUNDS
) -> InProcess:
    """``count`` updates one at a time and ``count`` concurrently, in ``rounds`` alternating
    rounds: the machine's noise shows as the spread between rounds, and the median round is
    the figure. One at a time, each update's wall time (perf_counter) and CPU time
    (process_time, every thread: the database writer's too) are taken; the CPU figure is the
    median round's mean."""
    clear = kind != "buttons"
    per_round = count // rounds
    wall: list[int] = []
    cpu: list[int] = []
    cpu_rounds: list[float] = []
    sequential_rates: list[float] = []
    concurrent_rates: list[float] = []
    calls = 0
    for _ in range(rounds):
        sequential = updates.workload(kind, per_round)
        gc.collect()
        calls_before = sum(h.session.calls.values())
        round_wall: list[int] = []
        round_cpu = 0
        for raw in sequential:
            if clear:
                clear_normalize_cache()
            cpu_started = time.process_time_ns()
            started = time.perf_counter_ns()
            await h.feed(raw)
            round_wall.append(time.perf_counter_ns() - started)
            cpu.append(time.process_time_ns() - cpu_started)
            round_cpu += cpu[-1]
        cpu_rounds.append(round_cpu / per_round / 1e6)
        calls += sum(h.session.calls.values()) - calls_before
        wall += round_wall
        sequential_rates.append(per_round / (sum(round_wall) / 1e9))

        concurrent = updates.workload(kind, per_round)
        gc.collect()
        started = time.perf_counter_ns()
        for first in range(0, len(concurrent), batch):
            if clear:
                clear_normalize_cache()
            await asyncio.gather(*(h.feed(raw) for raw in concurrent[first : first + batch]))
        concurrent_rates.append(per_round / ((time.perf_counter_ns() - started) / 1e9))

    wall.sort()
    done = len(cpu)
    return InProcess(
        workload=kind,
        updates=done,
        p50_ms=percentile(wall, 0.50) / 1e6,
        p99_ms=percentile(wall, 0.99) / 1e6,
        cpu_ms=statistics.median(cpu_rounds),
        cpu_range=(min(cpu_rounds), max(cpu_rounds)),
        cpu_p99_ms=percentile(sorted(cpu), 0.99) / 1e6,
        sequential_rate=statistics.median(sequential_rates),
        sequential_range=(min(sequential_rates), max(sequential_rates)),
        concurrent_rate=statistics.median(concurrent_rates),
        concurrent_range=(min(concurrent_rates), max(concurrent_rates)),
        calls_per_update=calls / done,
    )


async def profile_text(h: Harness, updates: Updates, count: int, top: int = 25) -> str:
    """cProfile of text updates fed one at a time: the project's functions by cumulative time."""
    profiler = cProfile.Profile()
    for raw in updates.workload("text", count):
        clear_normalize_cache()
        profiler.enable()
        await h.feed(raw)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(str(PROJECT_ROOT / "bot"), top)
    return out.getvalue().strip()


async def warm_up(h: Harness, updates: Updates) -> None:
    """Every distinct question and press once: the bot's steady state, in which the words it
    knows have been seen (the questions stay new: normalize's cache is cleared per update)."""
    for kind, count in (("text", len(updates.questions)), ("buttons", len(updates.presses))):
        for raw in updates.workload(kind, count):
            await h.feed(raw)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def in_process(
    assistant: Assistant, count: int, profile: bool
) -> tuple[list[InProcess], str | None]:
    """Every workload of KINDS after the warm-up; a cProfile of text updates if asked."""
    results: list[InProcess] = []
    profiled: str | None = None
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        settings = bench_settings(Path(tmp))
        updates = Updates(assistant.knowledge)
        async with harness(settings, assistant) as h:
            progress("in-process: warm-up ...")
            await warm_up(h, updates)
            for kind in KINDS:
                progress(f"in-process: {kind} ...")
                results.append(await measure_workload(h, updates, kind, count))
            if profile:
                progress("in-process: profile ...")
                profiled = await profile_text(h, updates, min(count, 500))
            if h.session.stale:
                raise RuntimeError(f"{h.session.stale} presses were answered as stale buttons")
            if h.errors.count:
                raise RuntimeError(f"{h.errors.count} errors were logged while handling updates")
    return results, profiled


@dataclass(frozen=True, slots=True)
class Floor:
    aiogram_ms: float
    engine_ms: float


async def floor(assistant: Assistant, count: int) -> Floor:
    """CPU ms per text update of two stripped-down dispatchers on the same recording session:
    aiogram alone (one handler answering "ok"), and aiogram with the engine (one handler:
    Assistant.ask, then the bot's own `deliver`), without database, routers or middlewares:
    what the bot's own layers add is the difference to the full bot's figure."""

    async def answer_ok(message: Message) -> None:
        await message.answer("ok")

    async def answer_engine(message: Message) -> None:
        reply = assistant.ask(message.text or "")
        await deliver(message, reply, assistant.knowledge.contact)

    results: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        settings = bench_settings(Path(tmp))
        async with harness(settings, assistant) as h:
            for handler in (answer_ok, answer_engine):
                dp = Dispatcher()
                router = Router()
                router.message.register(handler)
                dp.include_router(router)
                source = Updates(assistant.knowledge)
                warm = len(source.questions)  # every question once, as in the in-process part
                updates = source.workload("text", warm + count)
                for raw in updates[:warm]:
                    await dp.feed_update(h.bot, parse_update(raw, h.bot))
                gc.collect()
                cpu = time.process_time()
                for raw in updates[warm:]:
                    clear_normalize_cache()
                    await dp.feed_update(h.bot, parse_update(raw, h.bot))
                results.append((time.process_time() - cpu) / count * 1000)
    return Floor(*results)
