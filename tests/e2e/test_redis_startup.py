"""`python -m bot run|webhook` with REDIS_URL set and no Redis answering there: the start
stops with one line naming REDIS_URL (never its value, which may hold a password) and exit
code 2, like every other bad setting. Real processes against FakeTelegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.processes import STARTUP, TOKEN, BotProcess, bot_env, free_port

EXIT_CONFIG = 2
PASSWORD = "redis-Secret-42"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram:
        yield telegram


@pytest.mark.parametrize("mode", ["run", "webhook"])
async def test_an_unreachable_redis_stops_the_start_with_one_line_naming_redis_url(
    fake: FakeTelegram, tmp_path: Path, mode: str
) -> None:
    redis_url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    env = bot_env(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=fake.url,
        REDIS_URL=redis_url,
        WEBHOOK_URL="https://example.invalid/hook",
        WEBHOOK_SECRET="shared-by-the-instances",  # required with REDIS_URL
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(free_port()),
    )
    bot = BotProcess(mode, tmp_path, env)
    try:
        code = await bot.wait_exit(within=STARTUP)
    finally:
        bot.kill()

    assert code == EXIT_CONFIG, bot.output()
    stderr = bot.err.read_text("utf-8")
    lines = [line for line in stderr.splitlines() if "REDIS_URL" in line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Cấu hình không hợp lệ: REDIS_URL:")
    assert PASSWORD not in bot.output()
    assert TOKEN not in bot.output()
