"""How `python -m bot run` and `python -m bot webhook` start and stop when things go wrong:
Telegram refusing or unreachable at start-up, SIGTERM at any moment, a second instance on the
same data, another consumer of the bot's updates. Real processes against FakeTelegram on
127.0.0.1; a service manager sees only the exit code and stderr, and so do these tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.exceptions import TelegramConflictError

from bot import texts
from tests.support.fake_telegram import FakeTelegram, parse_html
from tests.support.processes import (
    STARTUP,
    TOKEN,
    BotProcess,
    bot_env,
    free_port,
    wait_call,
)

EXIT_FAILED = 1
EXIT_CONFIG = 2
# Generous: a failed start must end by itself, but a slow machine imports aiogram slowly.
ENDS_WITHIN = STARTUP
USER = 111
SLOW = 600.0  # seconds a delayed Bot API call would take: longer than any test
ROUTINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) ")


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


def problems(bot: BotProcess) -> list[str]:
    """What stderr says beyond the routine log lines (INFO): what an operator reads as the
    reason the bot stopped."""
    return [
        line
        for line in bot.err.read_text("utf-8", "replace").splitlines()
        if not ROUTINE.match(line)
    ]


async def first_call(fake: FakeTelegram, bot: BotProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    while not fake.calls:
        bot.check_alive()
        assert loop.time() < deadline, bot.output()
        await asyncio.sleep(0.05)


async def answered(fake: FakeTelegram, bot: BotProcess, user: int) -> str:
    """A question from `user`; the text of the one reply the user gets."""
    mark = fake.mark()
    fake.user_text("CSO là gì?", user_id=user)
    reply = await wait_call(
        fake, bot, "sendMessage", lambda call: call.chat_id == user, after=mark, within=15
    )
    await fake.wait_idle(quiet=0.5, timeout=15)
    replies = [c for c in fake.calls[mark:] if c.method == "sendMessage" and c.chat_id == user]
    assert len(replies) == 1, fake.describe_calls(10)
    assert reply.text is not None
    return parse_html(reply.text)[0]


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


# --------------------------------------------------------------------------- Bot API unreachable


async def test_polling_start_retries_until_the_bot_api_can_be_reached(tmp_path: Path) -> None:
    port = free_port()
    bot = BotProcess("run", tmp_path, polling_env(f"http://127.0.0.1:{port}"))
    try:
        # Nothing listens yet: the bot keeps trying, one log line per attempt.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while bot.output().count("retrying in") < 2:
            bot.check_alive()
            assert loop.time() < deadline, bot.output()
            await asyncio.sleep(0.1)

        # Telegram comes back: the bot starts and answers.
        async with FakeTelegram(token=TOKEN, port=port) as fake:
            await wait_call(fake, bot, "getUpdates", within=STARTUP)
            assert (await answered(fake, bot, USER)).startswith("CSO")
            code = await bot.stop()
    finally:
        bot.kill()

    assert code == 0, bot.output()
    assert "Traceback" not in bot.output()


async def test_a_token_telegram_rejects_stops_polling_at_once_with_one_line(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    bot = BotProcess("run", tmp_path, polling_env(fake.url, token="123456:WRONG"))
    try:
        code = await bot.wait_exit(within=ENDS_WITHIN)
    finally:
        bot.kill()

    assert code == EXIT_CONFIG, bot.output()
    assert problems(bot) == [texts.CONFIG_TOKEN_REJECTED]
    assert "retrying in" not in bot.output()
    assert len([call for call in fake.calls if call.status == 401]) == 1


# --------------------------------------------------------------------------- one instance


async def test_a_second_instance_on_the_same_data_dir_refuses_to_start_with_one_line(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = BotProcess("run", tmp_path, polling_env(fake.url))
    try:
        await wait_call(fake, first, "getUpdates", within=STARTUP)
        for mode in ("run", "webhook"):
            workdir = tmp_path / f"second-{mode}"
            workdir.mkdir()
            env = polling_env(fake.url) if mode == "run" else webhook_env(fake.url)
            second = BotProcess(mode, workdir, {**env, "DATA_DIR": str(data)})
            try:
                code = await second.wait_exit(within=ENDS_WITHIN)
            finally:
                second.kill()
            assert code == EXIT_CONFIG, second.output()
            said = problems(second)
            assert len(said) == 1, second.output()
            assert said[0].startswith("Cấu hình không hợp lệ: DATA_DIR: ")
            assert str(data) in said[0]

        # The first one never noticed: each question still gets one answer.
        assert (await answered(fake, first, USER)).startswith("CSO")
        assert [call.method for call in fake.calls].count("setWebhook") == 0
    finally:
        code = await first.stop()
    assert code == 0, first.output()


async def test_the_data_dir_is_free_again_after_a_stop_and_after_a_crash(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    for n, ending in enumerate(("SIGTERM", "SIGKILL", "SIGTERM")):
        workdir = tmp_path / str(n)
        workdir.mkdir()
        bot = BotProcess("run", workdir, {**polling_env(fake.url), "DATA_DIR": data})
        try:
            mark = fake.mark()
            await wait_call(fake, bot, "getUpdates", after=mark, within=STARTUP)
            if ending == "SIGKILL":
                bot.kill()  # a crash: no clean-up runs
            else:
                assert await bot.stop() == 0, bot.output()
        finally:
            bot.kill()


# --------------------------------------------------------------------------- 409 Conflict


async def test_another_poller_of_the_same_bot_ends_polling_with_one_line(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    bot = BotProcess("run", tmp_path, polling_env(fake.url))
    other = fake.make_bot()  # another instance of the bot somewhere, polling too
    try:
        await wait_call(fake, bot, "getUpdates", within=STARTUP)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ENDS_WITHIN
        while bot.proc.poll() is None:
            assert loop.time() < deadline, bot.output()
            with contextlib.suppress(TelegramConflictError):  # the bot polled in between
                await other.get_updates(timeout=1)
        code = bot.proc.returncode
    finally:
        bot.kill()

    assert code == EXIT_CONFIG, bot.output()
    said = problems(bot)
    assert len(said) == 1, bot.output()
    assert said[0].startswith("Cấu hình không hợp lệ: BOT_TOKEN: ")
    assert "terminated by other getUpdates request" in said[0]


async def test_a_webhook_set_elsewhere_ends_polling_with_one_line(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    bot = BotProcess("run", tmp_path, polling_env(fake.url))
    try:
        await wait_call(fake, bot, "getUpdates", within=STARTUP)
        assert await fake.make_bot().set_webhook("https://example.invalid/elsewhere")
        code = await bot.wait_exit(within=ENDS_WITHIN)
    finally:
        bot.kill()

    assert code == EXIT_CONFIG, bot.output()
    said = problems(bot)
    assert len(said) == 1, bot.output()
    assert said[0].startswith("Cấu hình không hợp lệ: BOT_TOKEN: ")
    assert "webhook is active" in said[0]
    assert fake.webhook is not None  # the other instance's webhook is left alone
