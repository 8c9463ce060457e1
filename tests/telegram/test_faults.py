"""When Telegram misbehaves: the real bot polling the Bot API stand-in, which refuses, fails,
hangs up or slows down on purpose. Users must still get every answer, once."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram.types import TelegramObject
from aiohttp import ClientSession, web

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.middlewares import MAX_RUNNING_UPDATES
from bot.telegram.polling import MAX_CONCURRENT_UPDATES, open_storage
from bot.telegram.webhook import build_webhook_app
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import (
    LiveBot,
    check_offsets,
    live_bot,
    replies_per_chat,
    seen,
    settled,
    shown,
    taken_update_ids,
    to,
)
from tests.support.storage_faults import writes_fail

LAN, MINH, HOA, BLOCKED = 111, 222, 333, 444
ADMIN = 555
TOKEN = "123456:TEST"
SECRET = "webhook-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


@pytest_asyncio.fixture
async def live(assistant: Assistant, tmp_path: Path) -> AsyncIterator[LiveBot]:
    async with live_bot(assistant, tmp_path) as bot:
        yield bot


def answer_to(assistant: Assistant, question: str) -> str:
    return assistant.ask(question).text


# --------------------------------------------------------------------------- sending


async def test_a_reply_refused_with_429_is_sent_again_after_the_wait_and_arrives_once(
    live: LiveBot, assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    fake = live.fake
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)

    fake.user_text("CSO là gì?", user_id=LAN)
    await settled(fake, sends=2)

    attempts = [call for call in fake.calls if call.method == "sendMessage"]
    assert [call.status for call in attempts] == [429, 200]
    assert attempts[0].params == attempts[1].params  # the same message, sent again
    [reply] = shown(fake, LAN)
    assert reply.startswith(answer_to(assistant, "CSO là gì?"))
    assert "sendMessage: flood control, retrying in 1 s" in caplog.text


async def test_a_user_who_blocked_the_bot_is_a_warning_and_the_others_are_still_served(
    live: LiveBot, assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    fake = live.fake
    fake.forbid_chat(BLOCKED)

    fake.user_text("CSO là gì?", user_id=BLOCKED)
    fake.user_text("CMO là gì?", user_id=LAN)
    await settled(fake, sends=2)

    refused = [call for call in fake.calls if to(BLOCKED)(call)]
    assert [call.status for call in refused] == [403]  # tried once, no apology after
    [reply] = shown(fake, LAN)
    assert reply.startswith(answer_to(assistant, "CMO là gì?"))
    blocked = [r for r in caplog.records if "blocked by the user" in r.getMessage()]
    assert [r.levelname for r in blocked] == ["WARNING"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


# --------------------------------------------------------------------------- receiving


async def test_polling_gets_over_a_502_and_a_dropped_connection_and_takes_every_update_once(
    live: LiveBot, assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    fake = live.fake
    first = fake.user_text("CSO là gì?", user_id=LAN)
    await fake.wait_for("sendMessage", to(LAN))

    # The next getUpdates fail: a 502 from Telegram's front end, then a connection closed
    # without an answer. Minh writes just before, Hoa and Lan while polling is failing.
    fake.fail_next("getUpdates", 502, "Bad Gateway")
    fake.drop_next("getUpdates")
    fake.user_text("CMO là gì?", user_id=MINH)
    await fake.wait_for("getUpdates", lambda call: call.status == 502)
    fake.user_text("cmo can ky nang gi", user_id=HOA)
    fake.user_text("CSO và CMO khác nhau thế nào?", user_id=LAN)
    await settled(fake, sends=4)

    polls = [call for call in fake.calls if call.method == "getUpdates"]
    assert any(call.status == 502 for call in polls)
    assert any(call.dropped for call in polls)
    assert taken_update_ids(fake) == list(range(first, first + 4))  # each once, in order
    check_offsets(fake)
    assert replies_per_chat(fake) == {LAN: 2, MINH: 1, HOA: 1}
    assert shown(fake, LAN)[1].startswith(answer_to(assistant, "CSO và CMO khác nhau thế nào?"))
    assert shown(fake, MINH)[0].startswith(answer_to(assistant, "CMO là gì?"))
    assert shown(fake, HOA)[0].startswith(answer_to(assistant, "cmo can ky nang gi"))
    assert "Failed to fetch updates" in caplog.text


async def test_a_slow_api_never_has_more_updates_in_hand_than_the_limit(
    live: LiveBot, assistant: Assistant
) -> None:
    fake, in_flight = live.fake, live.in_flight
    peak = running = peak_running = 0

    async def measure(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        nonlocal peak
        peak = max(peak, len(in_flight.tasks))
        return await handler(event, data)

    async def measure_running(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        nonlocal running, peak_running
        running += 1
        peak_running = max(peak_running, running)
        try:
            return await handler(event, data)
        finally:
            running -= 1

    live.dp.update.outer_middleware(measure)
    live.dp.message.outer_middleware(measure_running)  # inside ChatOrder's processing slot
    fake.set_delay("sendMessage", 0.3)

    # A crowd: a hundred people ask at once while every send takes 0.3 s.
    crowd = range(10_000, 10_100)
    for user in crowd:
        fake.user_text("CSO là gì?", user_id=user)
    await settled(fake, sends=len(crowd), within=30)

    assert peak <= MAX_CONCURRENT_UPDATES
    assert peak_running == MAX_RUNNING_UPDATES
    assert replies_per_chat(fake) == dict.fromkeys(crowd, 1)
    expected = answer_to(assistant, "CSO là gì?")
    assert all(seen(call).startswith(expected) for call in fake.sent_messages())
    check_offsets(fake)


async def test_the_flood_notice_to_a_user_who_blocked_the_bot_is_only_a_warning(
    live: LiveBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake = live.fake
    fake.forbid_chat(BLOCKED)

    for _ in range(live.settings.flood_burst + 2):
        fake.user_text("CSO là gì?", user_id=BLOCKED)
    await settled(fake, sends=live.settings.flood_burst + 1)  # the answers and the notice

    refused = [call for call in fake.calls if to(BLOCKED)(call)]
    assert all(call.status == 403 for call in refused)
    assert [seen(call) for call in refused].count(texts.FLOOD_NOTICE) == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


async def test_a_slow_api_behind_a_webhook_turns_the_excess_away_for_telegram_to_resend(
    assistant: Assistant, tmp_path: Path
) -> None:
    async with FakeTelegram(token=TOKEN) as fake:
        config = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_url=fake.url,
            data_dir=tmp_path,
            webhook_url="https://example.invalid/hook",
            flood_burst=1000,
        )
        bot = build_bot(config)
        storage = await open_storage(config)
        app = build_webhook_app(config, build_dispatcher(config, assistant, storage), bot, SECRET)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}{config.webhook_path}"
        try:
            # A Bot API too slow to answer until all are posted: the contact card that comes
            # with this answer goes through it (the answer itself, in the webhook response).
            fake.hold("sendContact")
            crowd = list(range(20_000, 20_000 + MAX_CONCURRENT_UPDATES + 36))
            updates = {
                user: fake.make_update(
                    "message", fake.text_message("số điện thoại công ty là gì?", user_id=user)
                )
                for user in crowd
            }
            # More updates at once than the bot takes, as Telegram would post them with many
            # connections. Each is acknowledged once answered: the ones taken wait for the Bot
            # API, the excess is turned away at once.
            posts = {
                asyncio.create_task(fake.post_webhook(url, updates[user], SECRET)): user
                for user in crowd
            }
            refused = await first_finished(posts, len(crowd) - MAX_CONCURRENT_UPDATES)
            assert {post.result() for post in refused} == {503}
            turned_away = [posts[post] for post in refused]

            # The Bot API answers: every update taken is answered, then acknowledged.
            fake.release("sendContact")
            taken = [post for post in posts if post not in refused]
            assert set(await asyncio.gather(*taken)) == {200}
            await settled(fake, sends=MAX_CONCURRENT_UPDATES, within=30)
            # Telegram delivers the rest again later; now they go in.
            for user in turned_away:
                assert await fake.post_webhook(url, updates[user], SECRET) == 200
            await settled(fake, sends=len(crowd), within=30)
        finally:
            await runner.cleanup()
            await storage.close()

    assert replies_per_chat(fake) == dict.fromkeys(crowd, 1)


async def first_finished(tasks: Iterable[asyncio.Task[int]], count: int) -> set[asyncio.Task[int]]:
    """The first `count` of `tasks` to finish (waiting for them)."""
    pending = set(tasks)
    finished: set[asyncio.Task[int]] = set()
    while len(finished) < count:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finished |= done
    return finished


# --------------------------------------------------------------------------- the database


async def questions_written(storage: Storage, count: int, within: float = 10.0) -> None:
    """Wait until the database holds `count` questions."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (await storage.stats()).questions_total != count:
        if loop.time() > deadline:
            raise AssertionError(f"not {count} questions after {within} s")
        await asyncio.sleep(0.01)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_database_that_cannot_be_written_still_lets_every_question_be_answered(
    assistant: Assistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    asked = [
        (LAN, "CSO là gì?"),
        (MINH, "CMO là gì?"),
        (HOA, "cmo can ky nang gi"),
        (LAN, "CSO và CMO khác nhau thế nào?"),
    ]
    async with live_bot(assistant, tmp_path, admin_ids=frozenset({ADMIN})) as live:
        fake = live.fake
        storage: Storage = live.dp["db"]
        writes_fail(storage)

        for user, question in asked:
            fake.user_text(question, user_id=user)
        await settled(fake, sends=len(asked))

        for user in (LAN, MINH, HOA):
            questions = [q for u, q in asked if u == user]
            replies = shown(fake, user)
            assert len(replies) == len(questions)
            for reply, question in zip(replies, questions, strict=True):
                assert reply.startswith(answer_to(assistant, question))
        # One line for the fault, not one a message.
        [error] = errors(caplog)
        assert "attempt to write a readonly database" in error

        # The admins see it in /stats.
        fake.user_text("/stats", user_id=ADMIN)
        await settled(fake, sends=len(asked) + 1)
        [report] = shown(fake, ADMIN)
        first = report.splitlines()[0]
        assert first.startswith(texts.STATS_DATABASE_FAILING.split("{")[0])
        assert "attempt to write a readonly database" in first

        # The database works again: the questions kept meanwhile are written, and one line
        # says so.
        writes_fail(storage, False)
        fake.user_text("Cảm ơn nhé", user_id=HOA)
        await settled(fake, sends=len(asked) + 2)
        await questions_written(storage, len(asked) + 1)
        assert storage.write_fault is None
        assert len(errors(caplog)) == 1
        back = [r for r in caplog.records if "writes work again" in r.getMessage()]
        assert [r.levelname for r in back] == ["WARNING"]


async def test_the_webhooks_health_shows_a_database_that_cannot_be_written(
    assistant: Assistant, tmp_path: Path
) -> None:
    async with FakeTelegram(token=TOKEN) as fake:
        config = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_url=fake.url,
            data_dir=tmp_path,
            webhook_url="https://example.invalid/hook",
        )
        bot = build_bot(config)
        storage = await open_storage(config)
        app = build_webhook_app(config, build_dispatcher(config, assistant, storage), bot, SECRET)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"

        async def health() -> tuple[int, str]:
            async with ClientSession() as http, http.get(f"{url}/health") as response:
                return response.status, await response.text()

        async def ask(question: str, user: int, sends: int) -> None:
            update = fake.make_update("message", fake.text_message(question, user_id=user))
            assert await fake.post_webhook(f"{url}{config.webhook_path}", update, SECRET) == 200
            await settled(fake, sends=sends)

        try:
            assert await health() == (200, "ok")
            writes_fail(storage)
            await ask("CSO là gì?", LAN, sends=1)
            assert shown(fake, LAN)[0].startswith(answer_to(assistant, "CSO là gì?"))

            status, text = await health()
            # Still 200: the bot answers, and a balancer taking it out would silence that.
            assert status == 200
            lines = text.splitlines()
            assert lines[0] == "degraded"
            assert lines[1].startswith("database: failing since ")
            assert "attempt to write a readonly database" in lines[1]

            writes_fail(storage, False)
            await ask("CMO là gì?", MINH, sends=2)
            await questions_written(storage, 2)
            assert await health() == (200, "ok")
        finally:
            await runner.cleanup()
            await storage.close()
