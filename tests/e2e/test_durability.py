"""No record lost: a burst of questions all land in the database, and after `kill -9` in the
middle of a burst every question the bot had answered is there."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import DATABASE_NAME
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import live_bot, until
from tests.support.processes import STARTUP, TOKEN, BotProcess, bot_env, wait_call

PHRASINGS = (
    "CSO là gì",
    "cmo lam gi",
    "CSO và CMO khác nhau thế nào",
    "doanh nghiệp nhỏ có cần CMO không",
    "kỹ năng của CSO",
    "số điện thoại hỗ trợ",
    "thời tiết hôm nay thế nào",
)


def question(user: int, n: int) -> str:
    """A question no other user or turn asks with the same words."""
    return f"{PHRASINGS[(user + n) % len(PHRASINGS)]} (khách {user}, câu {n})"


def stored_questions(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / DATABASE_NAME) as db:
        return [text for (text,) in db.execute("SELECT text FROM questions")]


async def test_a_thousand_questions_from_fifty_users_at_once_all_land_in_the_database(
    tmp_path: Path,
) -> None:
    assistant: Assistant = build_assistant(Settings(_env_file=None))
    asked = [question(user, n) for user in range(1, 51) for n in range(20)]
    async with live_bot(assistant, tmp_path, flood_burst=50) as live:
        for user in range(1, 51):
            for n in range(20):
                live.fake.user_text(question(user, n), user_id=1000 + user)
        await until(lambda: len(live.fake.sent_messages()) >= len(asked), within=120)

    stored = stored_questions(tmp_path)
    assert len(stored) == 1000
    assert sorted(stored) == sorted(asked)


async def test_after_kill_9_every_answered_question_is_in_the_database(tmp_path: Path) -> None:
    async with FakeTelegram(token=TOKEN) as fake:
        bot = BotProcess(
            "run", tmp_path, bot_env(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=fake.url, FLOOD_BURST="50")
        )
        try:
            await wait_call(fake, bot, "getUpdates", within=STARTUP)
            users = range(5000, 5600)
            for user in users:
                fake.user_text(question(user, 0), user_id=user)
            await until(lambda: len(fake.sent_messages()) >= 150, within=60)
        finally:
            bot.proc.kill()  # SIGKILL: no shutdown handler runs
            bot.proc.wait()
        answered = {int(call.chat_id) for call in fake.sent_messages()}

    assert 150 <= len(answered) < len(users), "the kill should land in the middle of the burst"
    stored = set(stored_questions(tmp_path / "data"))
    missing = [question(user, 0) for user in sorted(answered) if question(user, 0) not in stored]
    assert missing == []
    await asyncio.sleep(0)
