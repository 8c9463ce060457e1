"""How `python -m bot run` and `python -m bot webhook` start and stop when things go wrong:
Telegram refusing or unreachable at start-up, SIGTERM at any moment, a second instance on the
same data, another consumer of the bot's updates. Real processes against FakeTelegram on
127.0.0.1; a service manager sees only the exit code and stderr, and so do these tests."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.processes import (
    STARTUP,
    TOKEN,
    BotProcess,
    bot_env,
    free_port,
    wait_call,
)

EXIT_FAILED = 1
# Generous: a failed start must end by itself, but a slow machine imports aiogram slowly.
ENDS_WITHIN = STARTUP
SLOW = 600.0  # seconds a delayed Bot API call would take: longer than any test


def webhook_env(api_url: str) -> dict[str, str]:
    return bot_env(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        WEBHOOK_URL="https://example.invalid/hook",
        WEBHOOK_SECRET="s3cret-Webhook_token",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(free_port()),
        WEBHOOK_PATH="/hook",
    )


def polling_env(api_url: str, token: str = TOKEN) -> dict[str, str]:
    return bot_env(BOT_TOKEN=token, TELEGRAM_API_URL=api_url)


def closed_port_url() -> str:
    """A Bot API address where nothing listens: every request is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


async def first_call(fake: FakeTelegram, bot: BotProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    while not fake.calls:
        bot.check_alive()
        assert loop.time() < deadline, bot.output()
        await asyncio.sleep(0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram:
        yield telegram


# --------------------------------------------------------------------------- failed starts


async def test_webhook_mode_exits_with_an_error_when_telegram_refuses_the_webhook(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    refusal = "Bad Request: bad webhook: Failed to resolve host: Name or service not known"
    fake.fail_next("setWebhook", 400, refusal)
    bot = BotProcess("webhook", tmp_path, webhook_env(fake.url))
    try:
        code = await bot.wait_exit(within=ENDS_WITHIN)
    finally:
        bot.kill()

    assert code == EXIT_FAILED, bot.output()
    assert refusal in bot.output()
    assert not (tmp_path / "data" / "bot.sqlite3-wal").exists()  # the database was closed


async def test_webhook_mode_exits_with_an_error_when_the_bot_api_is_unreachable(
    tmp_path: Path,
) -> None:
    bot = BotProcess("webhook", tmp_path, webhook_env(closed_port_url()))
    try:
        code = await bot.wait_exit(within=ENDS_WITHIN)
    finally:
        bot.kill()

    assert code == EXIT_FAILED, bot.output()
    assert TOKEN not in bot.output()


async def test_webhook_start_ends_on_sigterm_while_telegram_is_slow_to_answer(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    fake.set_delay("setWebhook", SLOW)
    bot = BotProcess("webhook", tmp_path, webhook_env(fake.url))
    try:
        await wait_call(fake, bot, "setWebhook", within=STARTUP)
        bot.proc.send_signal(signal.SIGTERM)
        code = await bot.wait_exit(within=ENDS_WITHIN)
    finally:
        bot.kill()

    assert code == 0, bot.output()
    assert not (tmp_path / "data" / "bot.sqlite3-wal").exists()


async def test_polling_start_ends_on_sigterm_while_telegram_is_slow_to_answer(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    for method in ("getMe", "deleteWebhook"):  # whichever start-up goes first
        fake.set_delay(method, SLOW)
    bot = BotProcess("run", tmp_path, polling_env(fake.url))
    try:
        await first_call(fake, bot)
        bot.proc.send_signal(signal.SIGTERM)
        code = await bot.wait_exit(within=ENDS_WITHIN)
    finally:
        bot.kill()

    assert code == 0, bot.output()
    assert not (tmp_path / "data" / "bot.sqlite3-wal").exists()
