"""The start of polling and what ends it, in process against FakeTelegram: reaching the Bot
API (retried, except a refused token), a 409 Conflict from getUpdates (the end), and the
DATA_DIR lock. The same cases as real processes, with exit codes and stderr, are in
tests/e2e/test_lifecycle.py."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import pytest
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError

from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import StorageError
from bot.storage.lock import DataDirBusy, data_dir_lock
from bot.telegram.polling import UpdatesConflict, reach
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import FAST_BACKOFF, TOKEN, live_bot, until


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


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


async def test_a_conflict_from_get_updates_ends_polling_without_fighting(
    assistant: Assistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fakes: list[FakeTelegram] = []
    other_poll = {"timeout": 1}

    async def another_instance_polls() -> None:
        async with live_bot(assistant, tmp_path) as live:
            fakes.append(live.fake)
            # Telegram ends the bot's long poll with 409 when someone else polls.
            with contextlib.suppress(TelegramConflictError):
                await live.fake.make_bot().get_updates(timeout=other_poll["timeout"])
            await until(lambda: any(c.status == 409 for c in live.fake.calls), within=10)

    with pytest.raises(UpdatesConflict, match="terminated by other getUpdates request"):
        await another_instance_polls()

    calls = fakes[0].calls
    conflict = next(i for i, call in enumerate(calls) if call.status == 409)
    after = [c.params for c in calls[conflict + 1 :] if c.method == "getUpdates"]
    assert after in ([], [other_poll])  # neither polling again nor confirming an offset
    assert not any("Failed to fetch updates" in r.getMessage() for r in caplog.records)


def test_a_second_lock_on_a_data_dir_is_refused_until_the_first_is_released(
    tmp_path: Path,
) -> None:
    with data_dir_lock(tmp_path):
        with pytest.raises(DataDirBusy) as busy, data_dir_lock(tmp_path):
            pass
        assert busy.value.holder == str(os.getpid())
        assert busy.value.data_dir == tmp_path
    with data_dir_lock(tmp_path):
        pass


def test_a_data_dir_that_cannot_hold_the_lock_is_a_storage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(StorageError), data_dir_lock(not_a_dir):
        pass
