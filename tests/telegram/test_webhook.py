"""Webhook mode: Telegram's update is acknowledged once it has been answered, and an update
delivered again is never answered twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiogram import Dispatcher
from aiogram.types import Message
from aiohttp import ClientSession, web
from redis.asyncio import Redis

from bot import texts
from bot.cli import build_assistant
from bot.cluster.updates import MemoryLedger, UpdateLedger
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.upgrade import migrate_database
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.polling import open_storage
from bot.telegram.runner import serve
from bot.telegram.webhook import build_webhook_app
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import seen, settled, shown, until
from tests.support.processes import free_port
from tests.support.tcp_proxy import TcpProxy

LAN = 111
TOKEN = "123456:TEST"
SECRET = "webhook-secret"


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


class Webhook:
    """The bot's webhook server in this process, on 127.0.0.1."""

    def __init__(self, fake: FakeTelegram, config: Settings, storage: Storage, url: str) -> None:
        self.fake = fake
        self.config = config
        self.storage = storage
        self.base = url
        self.hook = f"{url}{config.webhook_path}"

    async def post(self, update: dict[str, Any]) -> int:
        return await self.fake.post_webhook(self.hook, update, SECRET)

    async def health(self) -> tuple[int, str]:
        async with ClientSession() as http, http.get(f"{self.base}/health") as response:
            return response.status, await response.text()


@asynccontextmanager
async def webhook(
    fake: FakeTelegram,
    tmp_path: Path,
    assistant: Assistant,
    dp: Callable[[Settings, Storage], Dispatcher] | None = None,
    redis: Redis | None = None,
    middlewares: Sequence[Any] = (),
    database_url: str | None = None,
    ledger: UpdateLedger | None = None,
) -> AsyncIterator[Webhook]:
    config = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.url,
        data_dir=tmp_path,
        webhook_url="https://example.invalid/hook",
        database_url=database_url,
    )
    storage = await open_storage(config)
    dispatcher = build_dispatcher(config, assistant, storage) if dp is None else dp(config, storage)
    app = build_webhook_app(
        config, dispatcher, build_bot(config), SECRET, ledger=ledger, redis=redis
    )
    app.middlewares.extend(middlewares)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Webhook(fake, config, storage, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
        await storage.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


def question(fake: FakeTelegram, text: str, user: int = LAN) -> dict[str, Any]:
    return fake.make_update("message", fake.text_message(text, user_id=user))


async def test_the_answer_goes_in_the_response_once_the_question_is_stored(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    async with webhook(fake, tmp_path, assistant) as bot:
        assert await bot.post(question(fake, "CSO là gì?")) == 200
        # The answer came back with the acknowledgement, and the question was stored before.
        assert (await bot.storage.stats()).questions_total == 1
        [answer] = fake.sent_messages(LAN)
        assert answer.webhook_reply
    assert shown(fake, LAN)[0].startswith(assistant.ask("CSO là gì?").text)


async def test_the_contact_card_comes_before_the_answer_in_the_response(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    async with webhook(fake, tmp_path, assistant) as bot:
        assert await bot.post(question(fake, "số điện thoại công ty là gì?")) == 200

    calls = [c for c in fake.calls if c.method in ("sendMessage", "sendContact")]
    assert [(c.method, c.webhook_reply) for c in calls] == [
        ("sendContact", False),  # through the Bot API, first
        ("sendMessage", True),  # the answer, with the acknowledgement
    ]


class DiesBeforeItsAnswerArrives(MemoryLedger):
    """Each update handled as if its instance died before Telegram got the response: never
    done, so the redelivery is handled again."""

    async def done(self, update_id: int) -> None:
        await self.release(update_id)


async def test_an_update_handled_again_sends_its_contact_card_only_once(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    ledger = DiesBeforeItsAnswerArrives()
    async with webhook(fake, tmp_path, assistant, ledger=ledger) as bot:
        update = question(fake, "số điện thoại công ty là gì?")
        assert await bot.post(update) == 200
        assert await bot.post(update) == 200  # Telegram's redelivery

        assert len([c for c in fake.calls if c.method == "sendContact"]) == 1
        assert (await bot.storage.stats()).questions_total == 1  # stored once too


async def test_an_update_delivered_again_is_acknowledged_and_not_answered_twice(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    async with webhook(fake, tmp_path, assistant) as bot:
        update = question(fake, "CSO là gì?")
        assert await bot.post(update) == 200
        # Telegram did not get that answer (a timeout, a broken connection): it delivers again.
        assert await bot.post(update) == 200
        await settled(fake, sends=1)

        assert len(fake.sent_messages(LAN)) == 1
        assert (await bot.storage.stats()).questions_total == 1


def answering_when(go: asyncio.Event, started: asyncio.Event) -> Callable[..., Dispatcher]:
    """A dispatcher whose answer waits for `go`."""

    def build(config: Settings, storage: Storage) -> Dispatcher:
        dp = Dispatcher()

        @dp.message()
        async def slow(message: Message) -> Any:
            started.set()
            await go.wait()
            return message.answer("đã trả lời")

        return dp

    return build


async def test_an_update_delivered_again_while_being_answered_is_sent_back_for_later(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    go, started = asyncio.Event(), asyncio.Event()
    async with webhook(fake, tmp_path, assistant, dp=answering_when(go, started)) as bot:
        update = question(fake, "CSO là gì?")
        first = asyncio.create_task(bot.post(update))
        await started.wait()

        assert await bot.post(update) == 409  # not acknowledged: Telegram tries again later
        go.set()
        assert await first == 200
        assert await bot.post(update) == 200  # later: it was answered
        await settled(fake, sends=1)

    assert shown(fake, LAN) == ["đã trả lời"]


def failing_in(config: Settings, storage: Storage, assistant: Assistant) -> Dispatcher:
    """The bot's dispatcher, whose first update fails on its way to the handlers."""
    dp = build_dispatcher(config, assistant, storage)
    failures = [RuntimeError("something broke")]

    async def fail_once(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        if failures:
            raise failures.pop()
        return await handler(event, data)

    dp.update.outer_middleware(fail_once)
    return dp


async def test_a_failure_the_error_handler_dealt_with_is_acknowledged(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    async with webhook(
        fake, tmp_path, assistant, dp=lambda config, storage: failing_in(config, storage, assistant)
    ) as bot:
        update = question(fake, "CSO là gì?")

        # The user was told something went wrong: delivering it again would only repeat that.
        assert await bot.post(update) == 200
        assert await bot.post(update) == 200
        await settled(fake, sends=1)

    assert shown(fake, LAN) == [texts.ERROR_REPLY]


def failing_once(config: Settings, storage: Storage) -> Dispatcher:
    """A dispatcher whose first update fails with no error handler to deal with it."""
    dp = Dispatcher()
    failures = [RuntimeError("the handler broke")]

    @dp.message()
    async def on_message(message: Message) -> Any:
        if failures:
            raise failures.pop()
        return message.answer("đã trả lời")

    return dp


async def test_an_update_that_failed_unhandled_is_delivered_again_and_answered_once(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    async with webhook(fake, tmp_path, assistant, dp=failing_once) as bot:
        update = question(fake, "alo")

        assert await bot.post(update) == 500  # Telegram keeps it and delivers it again
        assert await bot.post(update) == 200
        await settled(fake, sends=1)
        assert await bot.post(update) == 200
        await fake.wait_idle()

    assert [seen(call) for call in fake.sent_messages(LAN)] == ["đã trả lời"]
    assert [call.webhook_reply for call in fake.sent_messages(LAN)] == [True]


async def test_an_answer_lost_on_its_way_to_telegram_is_given_to_the_redelivery(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant
) -> None:
    entered, go_on = asyncio.Event(), asyncio.Event()
    requests: list[web.Request] = []

    def slow(config: Settings, storage: Storage) -> Dispatcher:
        dp = Dispatcher()

        @dp.message()
        async def on_message(message: Message) -> Any:
            entered.set()
            await go_on.wait()
            return message.answer("đã trả lời")  # in the webhook's response

        return dp

    @web.middleware
    async def remember_request(request: web.Request, handler: Any) -> web.StreamResponse:
        requests.append(request)
        response: web.StreamResponse = await handler(request)
        return response

    async with webhook(fake, tmp_path, assistant, dp=slow, middlewares=[remember_request]) as bot:
        update = question(fake, "alo")
        first = asyncio.create_task(bot.post(update))
        await entered.wait()
        first.cancel()  # Telegram's connection breaks before the answer
        transport = requests[0].transport
        await until(lambda: transport is None or transport.is_closing())
        go_on.set()

        # The answer never reached Telegram, so it was not sent: the redelivery sends it.
        assert await bot.post(update) == 200
        await settled(fake, sends=1)
        assert await bot.post(update) == 200  # and that one was acknowledged
        await fake.wait_idle()

    assert [seen(call) for call in fake.sent_messages(LAN)] == ["đã trả lời"]


async def test_health_reports_redis(
    fake: FakeTelegram,
    tmp_path: Path,
    assistant: Assistant,
    redis_service: tuple[str, str],
) -> None:
    url, _ = redis_service
    redis = Redis.from_url(url)
    try:
        async with webhook(fake, tmp_path, assistant, redis=redis) as bot:
            assert await bot.health() == (200, "ok")
    finally:
        await redis.aclose()

    gone = Redis.from_url(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    try:
        async with webhook(fake, tmp_path / "2", assistant, redis=gone) as bot:
            status, text = await bot.health()
    finally:
        await gone.aclose()
    # Still 200: the bot answers without Redis (each instance on its own state).
    assert status == 200
    assert text.splitlines() == ["degraded", "redis: not answering (ConnectionError)"]


async def test_health_reports_a_database_that_cannot_be_reached(
    fake: FakeTelegram, tmp_path: Path, assistant: Assistant, postgres_url: str
) -> None:
    await migrate_database(postgres_url)
    server = urlsplit(postgres_url)
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 5432)
    await proxy.start()
    # A password in the URL (the server trusts anyone here) must never reach /health.
    relayed = urlsplit(proxy.url_for(postgres_url))
    url = relayed._replace(netloc=f"postgres:hunter2@127.0.0.1:{relayed.port}").geturl()
    async with webhook(fake, tmp_path, assistant, database_url=url) as bot:
        assert await bot.health() == (200, "ok")
        await proxy.cut()
        status, text = await bot.health()
        await proxy.start()
        assert await bot.health() == (200, "ok")
    await proxy.cut()

    assert status == 200  # answers still go out; the questions are kept meanwhile
    first, database, *_ = text.splitlines()
    assert first == "degraded"
    assert database.startswith("database postgresql://postgres:***@127.0.0.1:")
    assert "hunter2" not in text


def test_instances_sharing_redis_without_a_shared_webhook_secret_is_a_config_error(
    assistant: Assistant, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Settings(
        _env_file=None,
        bot_token=TOKEN,
        webhook_url="https://example.invalid/hook",
        redis_url="redis://:hunter2@127.0.0.1:6379/0",
    )

    code = serve(config, assistant, webhook=True)

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "WEBHOOK_SECRET" in err
    assert "hunter2" not in err
