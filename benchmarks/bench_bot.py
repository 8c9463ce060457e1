"""Throughput, latency, memory and start-up time of the Telegram bot, against the issue's bars.

Run from the project root::

    .venv/bin/python -m benchmarks.bench_bot              # full run (about 2 minutes)
    .venv/bin/python -m benchmarks.bench_bot --quick      # fewer updates and runs: a smoke test
    .venv/bin/python -m benchmarks.bench_bot --only in-process floor startup
    .venv/bin/python -m benchmarks.bench_bot --profile    # plus cProfile of the bot's functions

Five parts:

* ``in-process``: the real Dispatcher (``bot.telegram.app.build_dispatcher``, and the real
  ``Bot`` of ``build_bot``) with a recording session instead of the network, on the bot's event
  loop (``bot.telegram.runtime.new_event_loop``: uvloop's where it is installed). The session does
  everything the bot's own session (``bot.telegram.session.BotApiSession``) does except the
  socket: it builds each request's JSON body with the bot's ``request_fields`` and reads a
  Bot-API-shaped JSON answer with the bot's ``read_answer``; a sent message comes back with
  its inline keyboard, as the Bot API returns it. Each update is the Bot API's JSON text,
  parsed as the bot's session parses ``getUpdates`` (``Update.model_validate_json``), and
  passed to ``Dispatcher.feed_update``, as polling does; logging is configured as in the bot
  (INFO, the redacting filter), written to ``os.devnull``. Three workloads, from 200 users in
  private chats: ``text`` (every phrasing of ``knowledge/faq.json``, the same without
  diacritics, and off-topic questions, shuffled), ``buttons`` (callback queries
  with valid topic ``t:<intent>`` and 👍 ``f:<intent>:up`` data, built with the bot's own
  ``TopicCb``/``FeedbackCb``, under a message that carries those buttons) and ``mix`` (two text
  updates to one press). ``normalize``'s cache is cleared before every timed text update
  (sequential) or batch (concurrent): every question is new to the bot, as most real ones are;
  before the timed updates, every distinct question and press is fed once (the steady state,
  in which the bot has seen the words it knows). Latency: updates fed one after another,
  ``perf_counter_ns`` around validation + feed_update; updates/s (sequential) is their number
  over their summed time. Updates/s (concurrent): batches of 100 updates from 100 different
  users fed with ``asyncio.gather`` (the way polling hands a ``getUpdates`` batch to tasks),
  number over wall time. Each workload runs in 5 alternating rounds of both; the rates are
  the median round's, with the range, since this shared virtual machine's speed drifts.
  One core: the process is pinned to one CPU for this part and the floor (``--all-cores``
  not to), and the bot is one asyncio loop. Flood control is given a huge allowance
  (``FLOOD_RATE``/``FLOOD_BURST``) so that it never drops benchmark traffic; the per-chat
  ordering lock is on, as in the bot.
* ``floor``: the same recording session under two stripped-down dispatchers, one handler
  each and nothing else (no database, routers or middlewares): aiogram answering "ok", and
  aiogram with ``Assistant.ask`` and the bot's ``deliver``. CPU per text update: what the
  throughput bar leaves for everything else.
* ``http``: ``python -m bot run`` as a real process (default settings, no ``.env``, a temporary
  ``DATA_DIR``) long-polling ``tests/fake_telegram.FakeTelegram`` on 127.0.0.1. Each question
  comes from a user of its own. Latency: one question at a time, from ``push_update`` to the
  stand-in receiving the ``sendMessage`` to that chat. Burst: N questions queued at once;
  updates/s is N over the time from the first push to the last first reply, and the latencies
  include the queueing. The bot's CPU time during the burst (``/proc/<pid>/stat``) is reported
  per update, and so is the stand-in's (this process): when the stand-in uses a whole core it,
  not the bot, limits the burst figure.
* ``memory``: ``VmHWM`` (peak RSS) and ``VmRSS`` of that bot process after the load, from
  ``/proc/<pid>/status``.
* ``startup``: a question is queued at a fresh stand-in, then ``python -m bot run`` is spawned
  (``DROP_PENDING_UPDATES=false``); the time until the stand-in receives the answer's
  ``sendMessage``. Median over the runs; the first request (``deleteWebhook``) and the bot's
  CPU time until the answer are shown too.

Bars (reported, not asserted; one core of this machine): >= 1,000 updates/s in-process for text
questions; per-update p99 < 5 ms in-process; RSS of the running bot < 120 MB; start-up to the
first answer < 2 s. The table is printed and written to ``benchmarks/results/bot-latest.md``
(git-ignored). Wall times suffer when other work shares the machine: the load average at the
start is in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import gc
import inspect
import io
import itertools
import json
import logging
import os
import platform
import pstats
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from aiogram import Bot, Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageReplyMarkup,
    GetMe,
    SendContact,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, Update

from benchmarks.revision import interpreter, revision
from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.engine.knowledge import SMALL_TALK, Knowledge
from bot.engine.normalize import clear_normalize_cache
from bot.logs import configure_logging
from bot.settings import PROJECT_ROOT, Settings
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.keyboards import FeedbackCb, TopicCb, Vote
from bot.telegram.runtime import new_event_loop
from bot.telegram.session import BotApiSession

if TYPE_CHECKING:
    from tests.support.fake_telegram import FakeTelegram

RESULTS = Path(__file__).resolve().parent / "results" / "bot-latest.md"
TESTS = PROJECT_ROOT / "tests"
TOKEN = "123456:TEST-bench-token"
BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Support Bot",
    "username": "cso_cmo_support_bot",
}
USERS = 200
FIRST_USER = 10_000
BATCH = 100
SEED = 20240601
PRESS_SHARE = 3  # mix: one press in every three updates
ROUNDS = 5  # in-process: alternating rounds of one-at-a-time and concurrent updates

RATE_BAR = 1000.0  # updates/s, in-process, text questions
P99_BAR_MS = 5.0  # per update, in-process
RSS_BAR_MB = 120.0  # the running bot
STARTUP_BAR_S = 2.0  # spawn -> first answer

STARTUP_LIMIT = 90.0  # seconds a bot process may take to answer before the run fails
REPLY_LIMIT = 30.0

OFF_TOPIC = (
    "Lương của CMO khoảng bao nhiêu một tháng?",
    "Tối nay Việt Nam đá với Thái Lan mấy giờ?",
    "Làm sao để được hoàn tiền đơn hàng?",
    "Thời tiết Hà Nội hôm nay thế nào?",
    "Công thức nấu phở bò ngon",
    "Kế toán trưởng cần bằng cấp gì?",
    "CTO làm những việc gì trong công ty?",
    "Cho mình xin số tài khoản ngân hàng để chuyển khoản",
    "Shop có bán giày thể thao không?",
    "Tỷ số trận MU tối qua là bao nhiêu?",
    "mua iphone trả góp ở đâu",
    "Giá vàng hôm nay bao nhiêu?",
    "Ai là chủ tịch FIFA hiện nay?",
    "Cách viết CV xin việc cho sinh viên mới ra trường",
    "Tôi muốn đặt vé máy bay đi Đà Nẵng",
    "Học tiếng Anh ở trung tâm nào tốt?",
    "Bao giờ có lịch thi đấu V-League mùa sau?",
    "Mã giảm giá tháng này là gì?",
)


# -- the workloads ---------------------------------------------------------------------------


def fold(text: str) -> str:
    """``text`` without diacritics, the way many people type Vietnamese."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def text_questions(knowledge: Knowledge, seed: int = SEED) -> list[str]:
    """Every phrasing of the knowledge file and the off-topic questions, each also without
    diacritics; distinct, shuffled."""
    phrasings = [q for entry in knowledge.entries for q in entry.questions]
    pool = [*phrasings, *OFF_TOPIC]
    questions = list(dict.fromkeys([*pool, *(fold(q) for q in pool)]))
    random.Random(seed).shuffle(questions)
    return questions


def press_data(knowledge: Knowledge) -> list[tuple[str, str | None]]:
    """(callback data, the 👎 partner of a 👍) for every topic and every answer's 👍."""
    presses: list[tuple[str, str | None]] = [
        (TopicCb(intent=e.id).pack(), None) for e in knowledge.entries
    ]
    presses += [
        (
            FeedbackCb(intent=e.id, vote=Vote.UP).pack(),
            FeedbackCb(intent=e.id, vote=Vote.DOWN).pack(),
        )
        for e in knowledge.entries
        if e.id not in SMALL_TALK
    ]
    return presses


class Updates:
    """Raw updates (the JSON of getUpdates) from ``users`` people in private chats."""

    def __init__(self, knowledge: Knowledge, users: int = USERS, seed: int = SEED) -> None:
        self.questions = text_questions(knowledge, seed)
        self.presses = press_data(knowledge)
        random.Random(seed + 1).shuffle(self.presses)
        self.users = [FIRST_USER + n for n in range(users)]
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._texts = itertools.cycle(self.questions)
        self._press = itertools.cycle(self.presses)
        self._user = itertools.cycle(self.users)

    @staticmethod
    def _people(user_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        name = f"Khách {user_id}"
        user = {"id": user_id, "is_bot": False, "first_name": name, "language_code": "vi"}
        chat = {"id": user_id, "type": "private", "first_name": name}
        return user, chat

    def text(self) -> dict[str, Any]:
        user, chat = self._people(next(self._user))
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": next(self._texts),
        }
        return {"update_id": next(self._update_ids), "message": message}

    def press(self) -> dict[str, Any]:
        user_id = next(self._user)
        user, chat = self._people(user_id)
        data, partner = next(self._press)
        row = [{"text": "👍", "callback_data": data}]
        if partner is not None:
            row.append({"text": "👎", "callback_data": partner})
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()) - 60,
            "chat": chat,
            "from": BOT_USER,
            "text": "Câu trả lời trước của bot.",
            "reply_markup": {"inline_keyboard": [row]},
        }
        query = {
            "id": str(next(self._query_ids)),
            "from": user,
            "chat_instance": str(user_id),
            "data": data,
            "message": message,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def workload(self, kind: str, count: int) -> list[str]:
        """`count` updates of `kind`, each as the Bot API's JSON text."""
        if kind == "text":
            made = [self.text() for _ in range(count)]
        elif kind == "buttons":
            made = [self.press() for _ in range(count)]
        elif kind == "mix":
            made = [
                self.press() if n % PRESS_SHARE == PRESS_SHARE - 1 else self.text()
                for n in range(count)
            ]
        else:
            raise ValueError(kind)
        return [json.dumps(update, ensure_ascii=False) for update in made]


def parse_update(raw: str, bot: Bot) -> Update:
    """An update read as the bot reads `getUpdates`: pydantic parses the JSON text in one pass
    (`BotApiSession.read_answer`)."""
    return Update.model_validate_json(raw, context={"bot": bot})


# -- in-process ------------------------------------------------------------------------------


class BenchSession(BotApiSession):
    """The bot's request path without the socket: the body the bot would post, an answer like
    the Bot API's, parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.stale = 0
        self._ids = itertools.count(1_000_000)

    def _message(self, chat_id: int | str, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "from": BOT_USER,
            **content,
        }

    def _result(self, method: TelegramMethod[Any], sent: dict[str, Any] | None) -> Any:
        if isinstance(method, SendMessage):
            content: dict[str, Any] = {"text": method.text}
            if sent is not None and isinstance(method.reply_markup, InlineKeyboardMarkup):
                # The Bot API's answer carries the inline keyboard back, as it was sent.
                content["reply_markup"] = sent["reply_markup"]
            return self._message(method.chat_id, **content)
        if isinstance(method, SendContact):
            contact = {"phone_number": method.phone_number, "first_name": method.first_name}
            return self._message(method.chat_id, contact=contact)
        if isinstance(method, AnswerCallbackQuery):
            self.stale += method.text == texts.STALE_BUTTON
            return True
        if isinstance(method, EditMessageReplyMarkup | SetMyCommands | DeleteWebhook):
            return True
        if isinstance(method, GetMe):
            return BOT_USER
        raise RuntimeError(f"the benchmark's session does not answer {method.__api_method__}")

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> TelegramType:
        self.calls[method.__api_method__] += 1
        sent = self.request_fields(bot, method)
        if sent is not None:
            self.json_dumps(sent)  # the body the bot would post
        # Written as the Bot API writes its answers (non-ASCII as \u escapes), by the
        # standard library whatever the bot's own encoder: Telegram's side of the exchange.
        content = json.dumps({"ok": True, "result": self._result(method, sent)})
        response = self.read_answer(bot, method, 200, content, sent=sent)
        return cast(TelegramType, response.result)


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@dataclass
class Harness:
    bot: Bot
    dp: Dispatcher
    session: BenchSession
    errors: ErrorCount
    close: Callable[[], Awaitable[None]]

    async def feed(self, raw: str) -> None:
        await self.dp.feed_update(self.bot, parse_update(raw, self.bot))


def bench_settings(data_dir: Path) -> Settings:
    """The defaults (not the developer's environment), flood control out of the way."""
    wanted: dict[str, Any] = {
        "bot_token": TOKEN,
        "data_dir": data_dir,
        "flood_rate": 1_000_000.0,
        "flood_burst": 1_000_000,
    }
    return Settings.model_validate({k: v for k, v in wanted.items() if k in Settings.model_fields})


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


@contextlib.asynccontextmanager
async def harness(settings: Settings, assistant: Assistant) -> AsyncIterator[Harness]:
    devnull, errors = bot_logging(settings)
    session = BenchSession()
    bot = build_bot(settings, session=session)
    extra: dict[str, Any] = {}
    storage: Any = None
    if "storage" in inspect.signature(build_dispatcher).parameters:
        from bot.storage import Storage

        storage = await Storage.open(settings.data_dir, retention_days=settings.retention_days)
        extra["storage"] = storage
    dp = build_dispatcher(settings, assistant, **extra)
    # What start_polling passes to the start-up and shutdown hooks.
    workflow = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    await dp.emit_startup(bot=bot, **workflow)

    async def close() -> None:
        await dp.emit_shutdown(bot=bot, **workflow)
        if storage is not None:
            await storage.close()
        logging.getLogger().removeHandler(errors)
        devnull.close()

    try:
        yield Harness(bot, dp, session, errors, close)
    finally:
        await close()


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest rank: the ceil(n * share)-th smallest value."""
    rank = max(1, -(-len(sorted_values) * share // 1))
    return sorted_values[int(rank) - 1]


@dataclass(frozen=True, slots=True)
class InProcess:
    workload: str
    updates: int
    p50_ms: float
    p99_ms: float
    sequential_rate: float  # the median round's
    sequential_range: tuple[float, float]
    concurrent_rate: float
    concurrent_range: tuple[float, float]
    cpu_ms: float
    calls_per_update: float


async def measure_workload(
    h: Harness, updates: Updates, kind: str, count: int, batch: int, rounds: int = ROUNDS
) -> InProcess:
    """``count`` updates one at a time and ``count`` concurrently, in ``rounds`` alternating
    rounds: the machine's noise (a shared, virtualised host) shows as the spread between
    rounds, and the median round is the figure."""
    clear = kind != "buttons"
    per_round = count // rounds
    samples: list[int] = []
    sequential_rates: list[float] = []
    concurrent_rates: list[float] = []
    cpu_total = 0.0
    calls = 0
    for _ in range(rounds):
        sequential = updates.workload(kind, per_round)
        gc.collect()
        calls_before = sum(h.session.calls.values())
        round_samples: list[int] = []
        cpu = time.process_time()
        for raw in sequential:
            if clear:
                clear_normalize_cache()
            started = time.perf_counter_ns()
            await h.feed(raw)
            round_samples.append(time.perf_counter_ns() - started)
        cpu_total += time.process_time() - cpu
        calls += sum(h.session.calls.values()) - calls_before
        samples += round_samples
        sequential_rates.append(per_round / (sum(round_samples) / 1e9))

        concurrent = updates.workload(kind, per_round)
        gc.collect()
        started = time.perf_counter_ns()
        for first in range(0, len(concurrent), batch):
            if clear:
                clear_normalize_cache()
            await asyncio.gather(*(h.feed(raw) for raw in concurrent[first : first + batch]))
        concurrent_rates.append(per_round / ((time.perf_counter_ns() - started) / 1e9))

    ordered = sorted(samples)
    done = per_round * rounds
    return InProcess(
        workload=kind,
        updates=done,
        p50_ms=percentile(ordered, 0.50) / 1e6,
        p99_ms=percentile(ordered, 0.99) / 1e6,
        sequential_rate=statistics.median(sequential_rates),
        sequential_range=(min(sequential_rates), max(sequential_rates)),
        concurrent_rate=statistics.median(concurrent_rates),
        concurrent_range=(min(concurrent_rates), max(concurrent_rates)),
        cpu_ms=cpu_total / done * 1000,
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


@contextlib.contextmanager
def one_core(enabled: bool = True) -> Iterator[str]:
    """Pin this thread, and the threads it starts meanwhile (the database writer), to one
    CPU: the bars are set for one core. Yields a description for the report."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield "all cores"
        return
    allowed = os.sched_getaffinity(0)
    core = max(allowed)
    os.sched_setaffinity(0, {core})
    try:
        yield f"pinned to CPU {core}"
    finally:
        os.sched_setaffinity(0, allowed)


async def warm_up(h: Harness, updates: Updates) -> None:
    """Every distinct question and press once: the bot's steady state, in which the words it
    knows have been seen (the questions stay new: normalize's cache is cleared per update)."""
    for kind, count in (("text", len(updates.questions)), ("buttons", len(updates.presses))):
        for raw in updates.workload(kind, count):
            await h.feed(raw)


async def in_process(
    assistant: Assistant, count: int, profile: bool
) -> tuple[list[InProcess], str | None]:
    results: list[InProcess] = []
    profiled: str | None = None
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        settings = bench_settings(Path(tmp))
        updates = Updates(assistant.knowledge)
        async with harness(settings, assistant) as h:
            print("in-process: warm-up ...", file=sys.stderr, flush=True)
            await warm_up(h, updates)
            for kind in ("text", "buttons", "mix"):
                print(f"in-process: {kind} ...", file=sys.stderr, flush=True)
                results.append(await measure_workload(h, updates, kind, count, BATCH))
            if profile:
                print("in-process: profile ...", file=sys.stderr, flush=True)
                profiled = await profile_text(h, updates, min(count, 500))
            if h.session.stale:
                raise RuntimeError(f"{h.session.stale} presses were answered as stale buttons")
            if h.errors.count:
                raise RuntimeError(f"{h.errors.count} errors were logged while handling updates")
    return results, profiled


async def floor(assistant: Assistant, count: int) -> tuple[float, float]:
    """CPU ms per text update of two stripped-down dispatchers on the same recording session:
    aiogram alone (one handler answering "ok"), and aiogram with the engine (one handler:
    Assistant.ask, then the bot's own `deliver`), without database, routers or middlewares.
    What the throughput bar leaves for everything else."""
    from aiogram import Router
    from aiogram.types import Message

    from bot.telegram.handlers.common import deliver

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
                cpu = time.process_time()
                for raw in updates[warm:]:
                    clear_normalize_cache()
                    await dp.feed_update(h.bot, parse_update(raw, h.bot))
                results.append((time.process_time() - cpu) / count * 1000)
    return results[0], results[1]


def lines_floor(aiogram_only: float, with_engine: float) -> list[Line]:
    part = "floor, text (no database, routers or middlewares)"
    return [
        Line(part, "CPU per update: aiogram answering 'ok'", f"{aiogram_only:.2f} ms"),
        Line(
            part,
            "CPU per update: aiogram + engine + deliver",
            f"{with_engine:.2f} ms (at most {1000 / with_engine:,.0f} updates/s)",
        ),
    ]


# -- the bot as a process --------------------------------------------------------------------


def bot_env(api_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without any bot setting, plus the bot's token and stand-in address."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONUNBUFFERED="1",
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        DATA_DIR=str(data_dir),
        **settings,
    )
    return env


def proc_status(pid: int) -> dict[str, int]:
    """kB figures of /proc/<pid>/status (VmHWM, VmRSS...)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_log(path: Path) -> BinaryIO:
    """The bot's stdout and stderr (a file, never a pipe that could fill up)."""
    return path.open("wb")


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    log: Path
    spawned: float

    @classmethod
    async def spawn(
        cls, python: str, workdir: Path, env: dict[str, str], name: str = "bot"
    ) -> BotProcess:
        log = workdir / f"{name}.log"
        with open_log(log) as out:
            spawned = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                python, "-m", "bot", "run", cwd=workdir, env=env, stdout=out, stderr=out
            )
        return cls(proc, log, spawned)

    def check_alive(self) -> None:
        if self.proc.returncode is not None:
            tail = self.log.read_text("utf-8", "replace")[-2000:]
            raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{tail}")

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


@dataclass
class Http:
    sequential: int
    seq_p50_ms: float
    seq_p99_ms: float
    burst: int
    burst_rate: float
    burst_p50_ms: float
    burst_p99_ms: float
    bot_cpu_ms: float
    stand_in_cpu_share: float
    hwm_mb: float
    rss_mb: float


async def http_load(python: str, questions: Sequence[str], sequential: int, burst: int) -> Http:
    from tests.support.fake_telegram import FakeTelegram

    uids = itertools.count(500_000)
    cycle = itertools.cycle(questions)
    with tempfile.TemporaryDirectory(prefix="bench-bot-http-") as tmp:
        workdir = Path(tmp)
        async with FakeTelegram(token=TOKEN) as fake:
            env = bot_env(fake.url, workdir / "data")
            bot = await BotProcess.spawn(python, workdir, env)
            try:
                await wait_reply(fake, bot, "getUpdates", None, 0, STARTUP_LIMIT)
                print("http: one at a time ...", file=sys.stderr, flush=True)
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

                print(f"http: burst of {burst} ...", file=sys.stderr, flush=True)
                await fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
                gc.collect()
                mark = fake.mark()
                bot_cpu, own_cpu = proc_cpu(bot.proc.pid), self_cpu()
                pushed_at: dict[int, float] = {}
                for _ in range(burst):
                    uid = next(uids)
                    pushed_at[uid] = time.perf_counter()
                    fake.user_text(next(cycle), user_id=uid, first_name="Khách")
                got = await collect_first_replies(fake, bot, set(pushed_at), mark, 120.0)
                bot_cpu, own_cpu = proc_cpu(bot.proc.pid) - bot_cpu, self_cpu() - own_cpu
                await fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
                status = proc_status(bot.proc.pid)
            finally:
                await bot.stop()
    first, last = min(pushed_at.values()), max(got.values())
    burst_ms = sorted((got[uid] - at) * 1000 for uid, at in pushed_at.items())
    seq_ms = sorted(latencies)
    return Http(
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
    answer_s: float
    first_request_s: float
    cpu_s: float


async def startup_once(python: str, question: str) -> Startup:
    from tests.support.fake_telegram import FakeTelegram

    uid = 700_001
    with tempfile.TemporaryDirectory(prefix="bench-bot-start-") as tmp:
        workdir = Path(tmp)
        async with FakeTelegram(token=TOKEN) as fake:
            fake.user_text(question, user_id=uid, first_name="Khách")
            env = bot_env(fake.url, workdir / "data", DROP_PENDING_UPDATES="false")
            bot = await BotProcess.spawn(python, workdir, env)
            try:
                first = await wait_reply(fake, bot, "deleteWebhook", None, 0, STARTUP_LIMIT)
                answered = await wait_reply(fake, bot, "sendMessage", uid, 0, STARTUP_LIMIT)
                cpu = proc_cpu(bot.proc.pid)
            finally:
                await bot.stop()
    return Startup(answered - bot.spawned, first - bot.spawned, cpu)


# -- reporting -------------------------------------------------------------------------------


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


def lines_in_process(rows: Sequence[InProcess]) -> list[Line]:
    out: list[Line] = []
    for r in rows:
        part = f"in-process, {r.workload} ({r.updates:,} updates)"
        text = r.workload == "text"
        rate_bar = f">= {RATE_BAR:,.0f}/s" if text else ""
        out += [
            Line(
                part,
                "updates/s, one at a time (median round; range)",
                rate(r.sequential_rate, r.sequential_range),
                rate_bar,
                r.sequential_rate >= RATE_BAR if text else None,
            ),
            Line(
                part,
                f"updates/s, concurrent, batches of {BATCH} (median round; range)",
                rate(r.concurrent_rate, r.concurrent_range),
                rate_bar,
                r.concurrent_rate >= RATE_BAR if text else None,
            ),
            Line(part, "p50 per update", ms(r.p50_ms)),
            Line(
                part, "p99 per update", ms(r.p99_ms), f"< {P99_BAR_MS:g} ms", r.p99_ms < P99_BAR_MS
            ),
            Line(part, "CPU per update, one at a time (all threads)", ms(r.cpu_ms)),
            Line(part, "Bot API requests per update", f"{r.calls_per_update:.2f}"),
        ]
    return out


def lines_http(h: Http) -> list[Line]:
    part = "HTTP stand-in, `python -m bot run`"
    return [
        Line(part, f"latency p50, one at a time ({h.sequential})", ms(h.seq_p50_ms)),
        Line(part, f"latency p99, one at a time ({h.sequential})", ms(h.seq_p99_ms)),
        Line(part, f"updates/s, burst of {h.burst:,}", f"{h.burst_rate:,.0f}"),
        Line(part, "latency p50 in the burst (queueing)", ms(h.burst_p50_ms)),
        Line(part, "latency p99 in the burst (queueing)", ms(h.burst_p99_ms)),
        Line(part, "bot CPU per update in the burst", ms(h.bot_cpu_ms)),
        Line(part, "stand-in CPU during the burst", f"{h.stand_in_cpu_share:.0%} of a core"),
        Line(
            "bot process after the load",
            "peak RSS (VmHWM)",
            f"{h.hwm_mb:,.0f} MB",
            f"< {RSS_BAR_MB:g} MB",
            h.hwm_mb < RSS_BAR_MB,
        ),
        Line("bot process after the load", "RSS now (VmRSS)", f"{h.rss_mb:,.0f} MB"),
    ]


def lines_startup(runs: Sequence[Startup]) -> list[Line]:
    part = f"start-up, median of {len(runs)}"
    answer = statistics.median(r.answer_s for r in runs)
    spread = f"{min(r.answer_s for r in runs):.2f}–{max(r.answer_s for r in runs):.2f}"
    return [
        Line(
            part,
            "spawn → first answer received",
            f"{answer:.2f} s ({spread})",
            f"< {STARTUP_BAR_S:g} s",
            answer < STARTUP_BAR_S,
        ),
        Line(
            part,
            "spawn → first request (deleteWebhook)",
            f"{statistics.median(r.first_request_s for r in runs):.2f} s",
        ),
        Line(
            part,
            "bot CPU time until the answer",
            f"{statistics.median(r.cpu_s for r in runs):.2f} s",
        ),
    ]


HEADER = ("part", "measure", "value", "bar", "verdict")


def markdown_table(lines: Sequence[Line]) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---|---|"]
    out += [f"| {x.part} | {x.measure} | {x.value} | {x.bar} | {verdict(x.met)} |" for x in lines]
    return "\n".join(out)


def write_report(table: str, notes: Sequence[str]) -> Path:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Bot benchmark",
        "",
        f"{when}; {interpreter()} on {platform.platform()}; revision {revision()}.",
        "Produced by `python -m benchmarks.bench_bot` (see its docstring for the method).",
        "",
        table,
        "",
        *(f"- {note}" for note in notes),
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return RESULTS


# -- main ------------------------------------------------------------------------------------

PARTS = ("in-process", "floor", "http", "startup")


async def run(args: argparse.Namespace) -> tuple[list[Line], list[str]]:
    if str(TESTS) not in sys.path:
        sys.path.append(str(TESTS))  # for fake_telegram, the Bot API stand-in
    quick: bool = args.quick
    parts: Sequence[str] = args.only or PARTS
    count = 400 if quick else 3000
    sequential, burst = (30, 300) if quick else (200, 2000)
    runs = 3 if quick else 5
    python: str = args.python

    assistant = build_assistant(Settings.model_validate({}))
    questions = text_questions(assistant.knowledge)
    lines: list[Line] = []
    notes = [
        f"machine: {os.cpu_count()} cores; load average at the start "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"text workload: {len(questions)} distinct questions ({len(OFF_TOPIC) * 2} off-topic), "
        f"{USERS} users; buttons: {len(press_data(assistant.knowledge))} distinct presses",
    ]
    if "in-process" in parts:
        with one_core(not args.all_cores) as cores:
            rows, profiled = await in_process(assistant, count, profile=args.profile)
        lines += lines_in_process(rows)
        notes.append(f"in-process: {cores}")
        if profiled is not None:
            notes.append(f"cProfile of text updates (the bot's functions):\n\n```\n{profiled}\n```")
    if "floor" in parts:
        print("floor ...", file=sys.stderr, flush=True)
        with one_core(not args.all_cores):
            lines += lines_floor(*await floor(assistant, count))
    if "http" in parts:
        print("http: starting the bot ...", file=sys.stderr, flush=True)
        lines += lines_http(await http_load(python, questions, sequential, burst))
    if "startup" in parts:
        results: list[Startup] = []
        for n in range(runs):
            print(f"startup: run {n + 1} of {runs} ...", file=sys.stderr, flush=True)
            results.append(await startup_once(python, questions[n % len(questions)]))
        lines += lines_startup(results)
    notes.append(f"interpreter: {interpreter()}")
    notes.append(
        f"event loop (in-process, as in the bot): {type(asyncio.get_running_loop()).__module__}"
    )
    if python != sys.executable:
        notes.append(f"bot processes: {interpreter(python)}")
    return lines, notes


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_bot", description=__doc__.split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="fewer updates and start-up runs")
    p.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    p.add_argument("--profile", action="store_true", help="cProfile in-process text updates")
    p.add_argument(
        "--all-cores",
        action="store_true",
        help="run the in-process and floor parts unpinned (default: on one core, as the bars say)",
    )
    p.add_argument(
        "--python", default=sys.executable, help="interpreter for the bot processes (default: this)"
    )
    args = p.parse_args(argv)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:  # the bot's event loop
        lines, notes = runner.run(run(args))
    table = markdown_table(lines)
    print(table)
    print()
    for note in notes:
        print(f"- {note}")
    print(f"\nwritten to {write_report(table, notes).relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
