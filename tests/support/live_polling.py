"""The production bot polling FakeTelegram, inside the test's event loop.

`live_bot(...)` builds the bot exactly as `python -m bot run` does (`bot.telegram.app.build_bot`,
with its 429 retry; `build_dispatcher`, with flood control, chat ordering and the shutdown hooks;
the database in the test's DATA_DIR, closed once the dispatcher has stopped) and runs
`poll`, the production polling loop, against a FakeTelegram on 127.0.0.1. Only two
things differ from production, both through poll's parameters: a short backoff after a failed
getUpdates (aiogram's is 1 s growing to 5 s) and no signal handlers (pytest owns the process).
The test plays the users through `live.fake` and reads what they are shown.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Dispatcher
from aiogram.utils.backoff import BackoffConfig

from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.middlewares import InFlight
from bot.telegram.polling import poll
from tests.support.fake_telegram import Call, FakeTelegram, parse_html

TOKEN = "123456:TEST"
FAST_BACKOFF = BackoffConfig(min_delay=0.05, max_delay=0.2, factor=1.5, jitter=0.01)


@dataclass
class LiveBot:
    fake: FakeTelegram
    dp: Dispatcher
    settings: Settings

    @property
    def in_flight(self) -> InFlight:
        in_flight: InFlight = self.dp["in_flight"]
        return in_flight


@asynccontextmanager
async def live_bot(assistant: Assistant, data_dir: Path, **settings: Any) -> AsyncIterator[LiveBot]:
    """The bot polling a fresh FakeTelegram until the block ends (then it stops the way
    SIGTERM stops it: replies in flight finished, session closed)."""
    async with FakeTelegram(token=TOKEN) as fake:
        config = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_url=fake.url,
            data_dir=data_dir,
            **settings,
        )
        storage = await Storage.open(data_dir, retention_days=config.retention_days)
        try:
            bot = build_bot(config)
            dp = build_dispatcher(config, assistant, storage)
            polling = asyncio.create_task(poll(bot, dp, backoff=FAST_BACKOFF, handle_signals=False))
            try:
                await until(lambda: polling.done() or any_call(fake, "getUpdates"), within=10)
                if polling.done():
                    await polling  # start-up failed: raise its error here
                yield LiveBot(fake, dp, config)
            finally:
                if not polling.done():
                    await dp.stop_polling()
                await polling
        finally:
            await storage.close()  # after the dispatcher has stopped, as run_polling does


# --------------------------------------------------------------------------- reading


def any_call(fake: FakeTelegram, method: str) -> bool:
    return any(call.method == method for call in fake.calls)


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `condition()` holds (AssertionError after `within` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {within} s")
        await asyncio.sleep(0.01)


async def settled(fake: FakeTelegram, sends: int, within: float = 10.0) -> None:
    """Wait until `sends` sendMessage calls have had their answer (whatever it was), then until
    the bot is quiet, so that one more would be seen too. (Quiet alone is not enough: a
    handler may be writing to the database, not talking to Telegram, for a while.)"""
    await until(lambda: answered(fake, "sendMessage") >= sends, within=within)
    await fake.wait_idle(timeout=within)


def answered(fake: FakeTelegram, method: str) -> int:
    return sum(1 for call in fake.calls if call.method == method and call.status is not None)


def seen(call: Call) -> str:
    """The text as the user reads it (Telegram parses the HTML)."""
    assert call.text is not None, call
    return parse_html(call.text)[0]


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.chat_id == chat_id


def shown(fake: FakeTelegram, chat_id: int) -> list[str]:
    """Every message the chat received, in order, as the user reads it."""
    return [seen(call) for call in fake.sent_messages(chat_id)]


def replies_per_chat(fake: FakeTelegram) -> Counter[int]:
    """How many messages each chat received (refused and dropped sends do not count)."""
    return Counter(int(call.chat_id) for call in fake.sent_messages())


def taken_update_ids(fake: FakeTelegram) -> list[int]:
    """The update ids of every getUpdates answer the bot received, in order."""
    return [
        int(update["update_id"])
        for call in fake.calls
        if call.method == "getUpdates" and call.ok and isinstance(call.result, list)
        for update in call.result
    ]


def check_offsets(fake: FakeTelegram) -> None:
    """Every getUpdates carries the offset just past the last update the bot has received
    (none before the first): an update is neither skipped nor asked for twice."""
    received = 0
    for index, call in enumerate(fake.calls):
        if call.method != "getUpdates":
            continue
        offset = int(call.params.get("offset") or 0)
        expected = received + 1 if received else 0
        assert offset == expected, f"getUpdates #{index} offset {offset}, expected {expected}"
        if call.ok and isinstance(call.result, list) and call.result:
            received = int(call.result[-1]["update_id"])
