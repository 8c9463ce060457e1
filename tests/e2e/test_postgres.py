"""The bot on PostgreSQL, as an operator runs it: `python -m bot migrate`, then `python -m bot
run` with DATABASE_URL; killed with SIGKILL in the middle of a burst, every question it had
answered is in the database."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from bot.storage import HEAD
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import until
from tests.support.processes import STARTUP, TOKEN, BotProcess, bot_env, wait_call


def question(user: int) -> str:
    return f"CSO là gì (khách {user})"


async def test_after_kill_9_every_answered_question_is_in_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    migrate = BotProcess("migrate", tmp_path, bot_env(DATABASE_URL=postgres_url))
    assert await migrate.wait_exit() == 0, migrate.err.read_text()
    assert HEAD in migrate.out.read_text("utf-8")

    async with FakeTelegram(token=TOKEN) as fake:
        env = bot_env(
            BOT_TOKEN=TOKEN, TELEGRAM_API_URL=fake.url, FLOOD_BURST="50", DATABASE_URL=postgres_url
        )
        bot = BotProcess("run", tmp_path, env)
        try:
            await wait_call(fake, bot, "getUpdates", within=STARTUP)
            users = range(5000, 5600)
            for user in users:
                fake.user_text(question(user), user_id=user)
            await until(lambda: len(fake.sent_messages()) >= 150, within=60)
        finally:
            bot.proc.kill()  # SIGKILL: no shutdown handler runs
            bot.proc.wait()
        answered = {int(call.chat_id) for call in fake.sent_messages()}

    assert 150 <= len(answered) < len(users), "the kill should land in the middle of the burst"
    db = await asyncpg.connect(postgres_url)
    try:
        stored = {row["text"] for row in await db.fetch("SELECT text FROM questions")}
    finally:
        await db.close()
    missing = [question(user) for user in sorted(answered) if question(user) not in stored]
    assert missing == []
    assert not (tmp_path / "data" / "bot.sqlite3").exists()  # nothing went to SQLite
