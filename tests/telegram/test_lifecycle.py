"""The start of polling and what ends it, in process against FakeTelegram: reaching the Bot
API (retried, except a refused token) and a 409 Conflict from getUpdates (the end). The same
cases as real processes, with exit codes and stderr, are in tests/e2e/test_lifecycle.py."""

from __future__ import annotations

import logging

import pytest
from aiogram.exceptions import TelegramUnauthorizedError

from bot.telegram.polling import reach
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import FAST_BACKOFF, TOKEN


def attempts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]


async def test_reaching_the_bot_api_is_retried_with_a_line_per_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.fail_next("getMe", 502, "Bad Gateway")
        fake.drop_next("getMe")  # the connection closed without an answer
        fake.fail_next("getMe", 429, "Too Many Requests: retry after 1", retry_after=1)
        bot = fake.make_bot()  # aiogram's own session: the 429 comes to reach() as it is
        with caplog.at_level(logging.WARNING, logger="bot"):
            await reach(bot, FAST_BACKOFF)

        assert [call.method for call in fake.calls].count("getMe") == 4
        assert (await bot.me()).username == fake.username  # kept: polling does not ask again
        assert [call.method for call in fake.calls].count("getMe") == 4
    lines = attempts(caplog)
    assert len(lines) == 3
    assert [line.split("(attempt ")[1][0] for line in lines] == ["1", "2", "3"]
    assert all("retrying in" in line for line in lines)
    assert TOKEN not in caplog.text


async def test_a_refused_token_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeTelegram(token=TOKEN) as fake:
        bot = fake.make_bot(token="123456:WRONG")
        with (
            caplog.at_level(logging.WARNING, logger="bot"),
            pytest.raises(TelegramUnauthorizedError),
        ):
            await reach(bot, FAST_BACKOFF)

        assert [call.method for call in fake.calls] == ["getMe"]
    assert attempts(caplog) == []
