"""The bot as a real process, talking to a Telegram stand-in on 127.0.0.1.

`python -m bot run` (long polling) and `python -m bot webhook` are started the way a user
starts them, from an empty directory (no .env), with BOT_TOKEN and TELEGRAM_API_URL pointing
at FakeTelegram. A test then acts as a Telegram user and checks what the user is shown.
Nothing leaves the machine: the webhook URL is example.invalid and setWebhook goes to the fake.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram.exceptions import TelegramUnauthorizedError
from aiohttp import ClientError, ClientSession

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.telegram.polling import run_polling
from bot.telegram.runtime import new_event_loop
from tests.support.fake_telegram import Call, FakeTelegram, parse_html
from tests.support.processes import STARTUP, TOKEN, BotProcess, bot_env, free_port, wait_call

LAN = 111
NEWCOMER = 333
GROUP = -100777
UNCLEAR = ("kỹ năng", "vai trò", "trách nhiệm", "vai tro", "hợp tác", "làm gì", "CSO CMO")
WEBHOOK_SECRET = "s3cret-Webhook_token"

# One event loop for the module, so that both bot processes start together (each spends
# seconds importing aiogram) while the tests run one after the other.
pytestmark = pytest.mark.asyncio(loop_scope="module")


# --------------------------------------------------------------------------- helpers


def seen(call: Call) -> str:
    """The text as the user reads it (Telegram parses the HTML)."""
    assert call.text is not None, call
    return parse_html(call.text)[0]


def keyboard(call: Call) -> list[list[dict[str, Any]]]:
    markup = call.params.get("reply_markup") or {}
    rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
    return rows


def labels(call: Call) -> list[list[str]]:
    return [[button["text"] for button in row] for row in keyboard(call)]


def data_of(call: Call, label: str) -> str:
    for row in keyboard(call):
        for button in row:
            if button["text"] == label:
                return str(button["callback_data"])
    raise AssertionError(f"no button {label!r} in {labels(call)}")


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.chat_id == chat_id


@dataclass
class Running:
    fake: FakeTelegram
    bot: BotProcess
    port: int = 0


@dataclass
class Bots:
    polling: Running
    webhook: Running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bots(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bots]:
    """`python -m bot run` and `python -m bot webhook`, each with its own FakeTelegram,
    started at once from empty directories (no .env)."""
    async with FakeTelegram(token=TOKEN) as poll_fake, FakeTelegram(token=TOKEN) as hook_fake:
        polling = BotProcess(
            "run",
            tmp_path_factory.mktemp("run"),
            # The scripted user acts at machine speed (a dozen steps in a second), which
            # flood control would rightly slow down; its own tests are in test_flood.py.
            bot_env(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=poll_fake.url, FLOOD_BURST="100"),
        )
        port = free_port()
        webhook_env = bot_env(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=hook_fake.url,
            WEBHOOK_URL="https://example.invalid/hook",
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
            WEBHOOK_PATH="/hook",
        )
        webhook = BotProcess("webhook", tmp_path_factory.mktemp("webhook"), webhook_env)
        try:
            yield Bots(Running(poll_fake, polling), Running(hook_fake, webhook, port))
        finally:
            for process in (polling, webhook):
                if process.proc.poll() is None:
                    process.proc.kill()
                    process.proc.wait()


@pytest_asyncio.fixture(loop_scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram:
        yield telegram


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


# --------------------------------------------------------------------------- long polling


async def test_a_whole_conversation_by_long_polling(bots: Bots, assistant: Assistant) -> None:
    fake, bot = bots.polling.fake, bots.polling.bot
    try:
        await wait_call(fake, bot, "getUpdates", within=STARTUP)

        # Start-up: no webhook left behind, and the command menu in Vietnamese.
        methods = [call.method for call in fake.calls]
        assert methods.index("deleteWebhook") < methods.index("getUpdates")
        assert fake.my_commands() == [
            {"command": name, "description": text} for name, text in texts.COMMANDS
        ]

        # /start: greeting, what the bot does, the topics.
        mark = fake.mark()
        fake.user_text("/start", user_id=LAN, first_name="Lan")
        start = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
        assert seen(start).startswith("Xin chào Lan! 👋")
        assert seen(start).endswith(texts.START_TOPICS)
        assert [label for row in labels(start) for label in row] == [
            label for _, label in assistant.knowledge.menu_items()
        ]

        # A topic press answers that topic.
        mark = fake.mark()
        fake.press(data_of(start, "CMO"), user_id=LAN)
        await wait_call(fake, bot, "answerCallbackQuery", after=mark)
        topic = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
        assert seen(topic).startswith(assistant.choose("cmo_role").text)

        # A question typed without diacritics.
        mark = fake.mark()
        fake.user_text("cmo can ky nang gi", user_id=LAN)
        answer = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
        assert seen(answer).startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")
        assert seen(answer).endswith(texts.FEEDBACK_QUESTION)
        assert labels(answer)[-1] == ["👍", "👎"]

        # 👍: thanks, and the feedback row goes away (the related topics stay).
        mark = fake.mark()
        fake.press(data_of(answer, "👍"), user_id=LAN)
        thanks = await wait_call(fake, bot, "answerCallbackQuery", after=mark)
        assert thanks.params.get("text") == texts.FEEDBACK_THANKS_UP
        edit = await wait_call(fake, bot, "editMessageReplyMarkup", after=mark)
        edited = fake.message(LAN, int(edit.params["message_id"]))
        assert edited is not None
        rows = edited.get("reply_markup", {}).get("inline_keyboard", [])
        assert rows
        assert all(b["text"] not in ("👍", "👎") for row in rows for b in row)

        # A newcomer's unclear question (no earlier topic to follow up on): titles to
        # choose from, and a press answers the choice.
        question = next(q for q in UNCLEAR if assistant.ask(q).decision.action == "suggest")
        intent = assistant.ask(question).decision.suggestions[0]
        mark = fake.mark()
        fake.user_text(question, user_id=NEWCOMER, first_name="Minh")
        suggestion = await wait_call(fake, bot, "sendMessage", to(NEWCOMER), after=mark)
        assert seen(suggestion) == texts.SUGGEST_INTRO
        assert labels(suggestion)[-1] == [texts.SUGGEST_NONE]
        mark = fake.mark()
        title = assistant.knowledge.entry(intent).title
        fake.press(data_of(suggestion, title), user_id=NEWCOMER, first_name="Minh")
        chosen = await wait_call(fake, bot, "sendMessage", to(NEWCOMER), after=mark)
        assert seen(chosen).startswith(assistant.choose(intent).text)

        # Off topic: handed to a person, with the phone number and a contact card.
        mark = fake.mark()
        fake.user_text("Tối nay đội nào đá bóng?", user_id=LAN)
        handoff = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
        assert seen(handoff).startswith(texts.HANDOFF_INTRO)
        assert "028 3817 2459" in seen(handoff)
        card = await wait_call(fake, bot, "sendContact", to(LAN), after=mark)
        assert card.params["phone_number"] == "02838172459"
        assert card.params["first_name"] == texts.CONTACT_CARD_NAME

        # A sticker: a polite request for text.
        mark = fake.mark()
        fake.user_sticker(user_id=LAN)
        sticker_reply = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
        assert seen(sticker_reply) == texts.NON_TEXT

        # A group: silent unless the bot is mentioned.
        mark = fake.mark()
        fake.user_text("CSO là gì?", user_id=222, chat_id=GROUP, chat_type="supergroup")
        fake.user_text(
            "@cso_cmo_support_bot CSO là gì?", user_id=222, chat_id=GROUP, chat_type="supergroup"
        )
        group_reply = await wait_call(fake, bot, "sendMessage", to(GROUP), after=mark)
        assert seen(group_reply).startswith(assistant.ask("CSO là gì?").text)
        await fake.wait_idle(quiet=0.3)
        assert len([c for c in fake.calls[mark:] if c.method == "sendMessage"]) == 1

        # Every request was accepted (each callback answered once, valid HTML, sizes).
        refused = [c for c in fake.calls if c.status not in (None, 200)]
        assert refused == []

        # SIGTERM while a reply is on its way: the reply is finished, then the bot exits.
        fake.set_delay("sendMessage", 0.5)
        mark = fake.mark()
        fake.user_text("CSO là gì?", user_id=LAN)
        in_flight = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
    finally:
        code = await bot.stop()
    assert code == 0, bot.output()
    assert in_flight.status == 200
    assert not in_flight.dropped
    assert TOKEN not in bot.output()


def long_poll_open(fake: FakeTelegram) -> bool:
    """Whether a getUpdates call is still waiting for its answer."""
    return any(
        call.method == "getUpdates" and call.status is None and not call.error
        for call in fake.calls
    )


async def test_sigterm_lets_every_reply_in_flight_arrive_and_takes_nothing_more(
    tmp_path: Path, assistant: Assistant
) -> None:
    questions = {
        LAN: "CSO là gì?",
        NEWCOMER: "CMO là gì?",
        444: "cmo can ky nang gi",
        555: "khi nao can cmo",
    }
    async with FakeTelegram(token=TOKEN) as fake:
        bot = BotProcess("run", tmp_path, bot_env(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=fake.url))
        try:
            await wait_call(fake, bot, "getUpdates", within=STARTUP)

            # Four people ask at once; every reply takes a second to reach Telegram.
            fake.set_delay("sendMessage", 1.0)
            mark = fake.mark()
            for user, question in questions.items():
                fake.user_text(question, user_id=user)
            for user in questions:
                await wait_call(fake, bot, "sendMessage", to(user), after=mark)

            # SIGTERM while all four replies are on their way.
            bot.proc.send_signal(signal.SIGTERM)

            # Polling lets go of its long poll; someone writing now is for the next run.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while long_poll_open(fake):
                assert loop.time() < deadline, fake.describe_calls(5)
                await asyncio.sleep(0.02)
            late = fake.user_text("CSO và CMO khác nhau thế nào?", user_id=666)
        finally:
            code = await bot.stop()

    assert code == 0, bot.output()
    replies = [call for call in fake.calls[mark:] if call.method == "sendMessage"]
    assert sorted(call.chat_id for call in replies) == sorted(questions)
    for reply in replies:
        assert reply.status == 200, reply
        assert seen(reply).startswith(assistant.ask(questions[reply.chat_id]).text)
    assert "waiting for 4 update(s) still being handled" in bot.output()
    assert "Traceback" not in bot.output()
    # The late message was never taken: it waits at Telegram, and the offset the bot confirmed
    # on its way out covers exactly the four it answered, so a restart repeats none of them.
    assert [update["update_id"] for update in fake.pending_updates] == [late]
    last_poll = [call for call in fake.calls if call.method == "getUpdates"][-1]
    assert last_poll.params["offset"] == late
    # The database was closed properly: its write-ahead log was folded in and removed, and
    # the four questions are in it.
    data = tmp_path / "data"
    assert not (data / "bot.sqlite3-wal").exists()
    with sqlite3.connect(data / "bot.sqlite3") as db:
        stored = sorted(text for (text,) in db.execute("SELECT text FROM questions"))
    assert stored == sorted(questions.values())


async def test_a_token_telegram_refuses_stops_the_start(
    fake: FakeTelegram, assistant: Assistant, tmp_path: Path
) -> None:
    fake.fail_next("deleteWebhook", 401, "Unauthorized")
    settings = Settings(
        _env_file=None, bot_token=TOKEN, telegram_api_url=fake.url, data_dir=tmp_path
    )

    with pytest.raises(TelegramUnauthorizedError):
        await run_polling(settings, assistant)


# --------------------------------------------------------------------------- webhook


async def wait_healthy(bot: BotProcess, url: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    async with ClientSession() as http:
        while True:
            bot.check_alive()
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        assert await response.text() == "ok"
                        return
            except ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"no /health within {STARTUP}s:\n{bot.output()}")
            await asyncio.sleep(0.1)


async def test_the_webhook_server_takes_updates_only_with_the_secret(
    bots: Bots, assistant: Assistant
) -> None:
    fake, bot, port = bots.webhook.fake, bots.webhook.bot, bots.webhook.port
    secret = WEBHOOK_SECRET
    hook = f"http://127.0.0.1:{port}/hook"
    try:
        await wait_healthy(bot, f"http://127.0.0.1:{port}/health")

        registered = await wait_call(fake, bot, "setWebhook")
        assert registered.params["url"] == "https://example.invalid/hook"
        assert registered.params["secret_token"] == secret
        assert "message" in registered.params["allowed_updates"]
        assert "callback_query" in registered.params["allowed_updates"]
        # Each connection holds an update until it is answered: as many as Telegram allows.
        assert registered.params["max_connections"] == 100

        # Telegram's request, with the secret: answered through the Bot API.
        mark = fake.mark()
        update = fake.make_update("message", fake.text_message("CSO là gì?", user_id=LAN))
        assert await fake.post_webhook(hook, update, secret=secret) == 200
        reply = await wait_call(fake, bot, "sendMessage", to(LAN), after=mark)
        assert seen(reply).startswith(assistant.ask("CSO là gì?").text)

        # Anyone else: 401, and nothing is sent.
        mark = fake.mark()
        forged = fake.make_update("message", fake.text_message("/start", user_id=LAN))
        assert await fake.post_webhook(hook, forged) == 401
        assert await fake.post_webhook(hook, forged, secret="wrong-secret") == 401
        await fake.wait_idle(quiet=0.3)
        assert [c.method for c in fake.calls[mark:]] == []
    finally:
        code = await bot.stop()
    assert code == 0, bot.output()
    assert TOKEN not in bot.output()
    assert secret not in bot.output()


# --------------------------------------------------------------------------- configuration


async def test_a_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    env = bot_env(BOT_TOKEN=TOKEN, ANSWER_THRESHOLD="abc")

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    stdout, stderr = out.decode(), err.decode()

    assert process.returncode == 2
    assert stderr.count("\n") == 1
    assert "ANSWER_THRESHOLD" in stderr
    assert TOKEN not in stdout + stderr


async def test_the_bot_runs_on_uvloops_event_loop() -> None:
    loop = new_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


async def test_without_uvloop_the_bot_runs_on_asyncios_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it cannot be installed
    loop = new_event_loop()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
