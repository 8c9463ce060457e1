"""Driving `python -m bot run` as a real process, long-polling the Bot API stand-in
(`tests.support.fake_telegram.FakeTelegram`) on 127.0.0.1: start-up to the first answer,
latency and bursts over HTTP, the process's CPU time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.botbench.workloads import TOKEN
from benchmarks.measure import percentile, proc_cpu, proc_status, self_cpu
from bot.settings import PROJECT_ROOT, Settings
from tests.support.fake_telegram import FakeTelegram

STARTUP_LIMIT = 90.0  # seconds a bot process may take to answer before the run fails
REPLY_LIMIT = 30.0
BURST_LIMIT = 120.0
# The bot's start-up log line (bot.telegram.runner) when aiogram's types are built on first use.
DEFERRED_LOG = "built on first use"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bot_env(api_url: str, data_dir: Path, deferred: bool, **settings: str) -> dict[str, str]:
    """This environment without any bot setting, plus the bot's token, the stand-in's address,
    DATA_DIR and AIOGRAM_DEFERRED_IMPORT: every other setting at its default."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONUNBUFFERED="1",
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        DATA_DIR=str(data_dir),
        AIOGRAM_DEFERRED_IMPORT=str(deferred).lower(),
        **settings,
    )
    return env


@dataclass
class BotProcess:
    """`python -m bot run` (or another mode), started in a directory of its own (no `.env`),
    its stdout and stderr in a file there (never a pipe that could fill up)."""

    proc: asyncio.subprocess.Process
    log: Path
    spawned: float

    @classmethod
    async def spawn(
        cls, python: str, workdir: Path, env: dict[str, str], mode: str = "run"
    ) -> BotProcess:
        log = workdir / "bot.log"
        with log.open("wb") as out:
            spawned = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                python, "-m", "bot", mode, cwd=workdir, env=env, stdout=out, stderr=out
            )
        return cls(proc, log, spawned)

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")

    def check_alive(self) -> None:
        if self.proc.returncode is not None:
            raise RuntimeError(
                f"the bot exited with {self.proc.returncode}:\n{self.output()[-2000:]}"
            )

    def deferred(self) -> bool:
        """Whether the bot said at start-up that aiogram's types are built on first use."""
        return DEFERRED_LOG in self.output()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def wait_reply(
    fake: FakeTelegram, bot: BotProcess, method: str, chat_id: int | None, after: int, within: float
) -> float:
    """perf_counter when the stand-in received ``method`` (to ``chat_id``) at index >= after."""
    deadline = time.perf_counter() + within
    while True:
        bot.check_alive()
        with contextlib.suppress(AssertionError):
            await fake.wait_for(
                method,
                None if chat_id is None else (lambda call: call.chat_id == chat_id),
                timeout=0.5,
                after=after,
            )
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no {method} to {chat_id} within {within} s")


async def collect_first_replies(
    fake: FakeTelegram, bot: BotProcess, wanted: set[int], after: int, within: float
) -> dict[int, float]:
    """perf_counter of the first sendMessage to each chat of ``wanted`` (index >= after)."""
    got: dict[int, float] = {}
    cursor = after
    deadline = time.perf_counter() + within
    now = time.perf_counter()
    while True:
        while cursor < len(fake.calls):
            call = fake.calls[cursor]
            cursor += 1
            if call.method == "sendMessage":
                chat = int(call.chat_id)
                if chat in wanted and chat not in got:
                    got[chat] = now
        if len(got) == len(wanted):
            return got
        bot.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{len(wanted) - len(got)} questions unanswered after {within} s")
        with contextlib.suppress(AssertionError):
            await fake.wait_for("sendMessage", timeout=0.5, after=cursor)
        now = time.perf_counter()


@dataclass(frozen=True, slots=True)
class Http:
    deferred_setting: bool
    deferred_active: bool
    sequential: int
    seq_p50_ms: float
    seq_p99_ms: float
    burst: int
    burst_rate: float
    burst_p50_ms: float
    burst_p99_ms: float
    bot_cpu_ms: float  # the bot's CPU time per update in the burst
    stand_in_cpu_share: float
    hwm_mb: float
    rss_mb: float


async def http_load(
    python: str, questions: Sequence[str], sequential: int, burst: int, deferred: bool
) -> Http:
    """One question at a time, then a burst, each from a user of its own; the bot process's
    memory after both."""
    uids = itertools.count(500_000)
    cycle = itertools.cycle(questions)
    with tempfile.TemporaryDirectory(prefix="bench-bot-http-") as tmp:
        workdir = Path(tmp)
        async with FakeTelegram(token=TOKEN) as fake:
            env = bot_env(fake.url, workdir / "data", deferred)
            bot = await BotProcess.spawn(python, workdir, env)
            try:
                await wait_reply(fake, bot, "getUpdates", None, 0, STARTUP_LIMIT)
                progress("http: one at a time ...")
                for _ in range(10):  # warm-up
                    uid = next(uids)
                    mark = fake.mark()
                    fake.user_text(next(cycle), user_id=uid, first_name="Khách")
                    await wait_reply(fake, bot, "sendMessage", uid, mark, REPLY_LIMIT)
                latencies: list[float] = []
                for _ in range(sequential):
                    uid = next(uids)
                    mark = fake.mark()
                    pushed = time.perf_counter()
                    fake.user_text(next(cycle), user_id=uid, first_name="Khách")
                    received = await wait_reply(fake, bot, "sendMessage", uid, mark, REPLY_LIMIT)
                    latencies.append((received - pushed) * 1000)

                progress(f"http: burst of {burst} ...")
                await fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
                gc.collect()
                mark = fake.mark()
                bot_cpu, own_cpu = proc_cpu(bot.proc.pid), self_cpu()
                pushed_at: dict[int, float] = {}
                for _ in range(burst):
                    uid = next(uids)
                    pushed_at[uid] = time.perf_counter()
                    fake.user_text(next(cycle), user_id=uid, first_name="Khách")
                got = await collect_first_replies(fake, bot, set(pushed_at), mark, BURST_LIMIT)
                bot_cpu, own_cpu = proc_cpu(bot.proc.pid) - bot_cpu, self_cpu() - own_cpu
                await fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
                status = proc_status(bot.proc.pid)
                active = bot.deferred()
            finally:
                await bot.stop()
    first, last = min(pushed_at.values()), max(got.values())
    burst_ms = sorted((got[uid] - at) * 1000 for uid, at in pushed_at.items())
    seq_ms = sorted(latencies)
    return Http(
        deferred_setting=deferred,
        deferred_active=active,
        sequential=sequential,
        seq_p50_ms=percentile(seq_ms, 0.5),
        seq_p99_ms=percentile(seq_ms, 0.99),
        burst=burst,
        burst_rate=burst / (last - first),
        burst_p50_ms=percentile(burst_ms, 0.5),
        burst_p99_ms=percentile(burst_ms, 0.99),
        bot_cpu_ms=bot_cpu / burst * 1000,
        stand_in_cpu_share=own_cpu / (last - first),
        hwm_mb=status["VmHWM"] / 1024,
        rss_mb=status["VmRSS"] / 1024,
    )


@dataclass(frozen=True, slots=True)
class Startup:
    answer_s: float  # spawn -> the stand-in receives the answer
    first_request_s: float  # spawn -> deleteWebhook
    cpu_s: float  # the bot's CPU time until the answer
    hwm_mb: float  # its peak RSS then
    deferred_active: bool


async def startup_once(python: str, question: str, deferred: bool) -> Startup:
    """A question waits at a fresh stand-in; the bot is spawned (DROP_PENDING_UPDATES=false)
    and timed until its answer arrives."""
    uid = 700_001
    with tempfile.TemporaryDirectory(prefix="bench-bot-start-") as tmp:
        workdir = Path(tmp)
        async with FakeTelegram(token=TOKEN) as fake:
            fake.user_text(question, user_id=uid, first_name="Khách")
            env = bot_env(fake.url, workdir / "data", deferred, DROP_PENDING_UPDATES="false")
            bot = await BotProcess.spawn(python, workdir, env)
            try:
                first = await wait_reply(fake, bot, "deleteWebhook", None, 0, STARTUP_LIMIT)
                answered = await wait_reply(fake, bot, "sendMessage", uid, 0, STARTUP_LIMIT)
                cpu = proc_cpu(bot.proc.pid)
                status = proc_status(bot.proc.pid)
                active = bot.deferred()
            finally:
                await bot.stop()
    return Startup(
        answer_s=answered - bot.spawned,
        first_request_s=first - bot.spawned,
        cpu_s=cpu,
        hwm_mb=status["VmHWM"] / 1024,
        deferred_active=active,
    )
