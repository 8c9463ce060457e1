"""Hostile input, update by update, through the real Dispatcher.

Every case is something a person (or a broken client, or an attacker) can put in front of the
bot: empty and enormous texts, invisible and bidi characters, combining-mark floods, markup
and SQL meant to be interpreted, commands that are not theirs, forged buttons, messages from
channels and other bots, updates the bot has no use for. For each one:

* nothing escapes: the error handler is never reached (no apology, nothing logged at ERROR);
* Telegram would accept every request: the HTML parses as Telegram parses it, with no
  formatting at all (the bot sends plain text, so an entity would be markup the user typed),
  at most 4,096 UTF-16 units, callback data at most 64 bytes, each callback query answered
  exactly once;
* what the user typed comes back, when it does, exactly as typed (escaped, never markup);
* or, for what is not for the bot, nothing is sent at all.

That the engine's work on a huge message is bounded (bot/normalize.py cuts the text to
MAX_QUERY_CHARS before matching) is checked in tests/test_properties.py, by what the engine is
handed, never by a clock.
"""

from __future__ import annotations

import itertools
import logging
import random
import shutil
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import DEFAULT_KNOWLEDGE, Settings
from bot.storage import Storage
from bot.telegram.app import build_dispatcher
from bot.telegram.handlers.common import QUOTED_QUESTION_LIMIT
from bot.telegram.keyboards import FeedbackCb, TopicCb
from bot.telegram.text import quote, shorten
from tests.support.contract import INTENT_IDS
from tests.support.conversation import (
    BOT,
    CALLBACK_ANSWER_LIMIT,
    GROUP,
    LAN,
    TEXT_LIMIT,
    Conversation,
    connect,
    join,
    messages,
    only,
    seen,
    settings,
    too_long_callback_data,
)
from tests.support.fake_telegram import parse_html, utf16_len

MENTION = f"@{BOT.username}"
OTHER_BOT = {"id": 987654, "is_bot": True, "first_name": "Spam Bot", "username": "spam_bot"}
CHANNEL = {"id": -1001234567890, "type": "channel", "title": "Tin tức bóng đá"}
OFF_TOPIC = "Giá vé xem bóng đá bao nhiêu"  # handed off, so the question is quoted back
QUESTION = "CSO là gì?"
RNG_SEED = 20240505  # the "random" cases are the same on every run


# --------------------------------------------------------------------------- the corpus

ZERO_WIDTH_AND_BIDI: list[tuple[str, str]] = [
    (f"U+{code:04X}", chr(code))
    for code in (*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF)
]


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _texts() -> list[tuple[str, str]]:
    """(case id, text) for a private chat: each must get a valid reply."""
    cases: list[tuple[str, str]] = []
    for name, ch in ZERO_WIDTH_AND_BIDI:
        cases += [
            (f"{name} alone", ch),
            (f"{name} between every letter", ch.join(QUESTION)),
            (f"{name} around an off-topic question", f"{ch}{OFF_TOPIC}{ch}"),
        ]
    invisible = "".join(ch for _, ch in ZERO_WIDTH_AND_BIDI)
    cases += [
        ("all the invisible characters", invisible),
        ("a flood of invisible characters", invisible * 300 + QUESTION),
        ("right-to-left override spoofing", f"\u202e{OFF_TOPIC} gnp.exe\u202c"),
        ("bidi isolates left open", "\u2066\u2067\u2068" + OFF_TOPIC),
        # length
        ("4096 letters", "a" * 4096),
        ("4096 characters of a real question", (QUESTION + " ") * 372 + "x" * 4),
        ("4096 characters without a space", "CSO" * 1365 + "?"),
        ("4095 characters and an emoji", "x" * 4095 + "😀"),
        ("2048 emoji, 4096 UTF-16 units", "😀" * 2048),
        (
            "100000 characters of Vietnamese",
            ("Tôi muốn hỏi về công việc của CSO. " * 3000)[:100_000],
        ),
        ("100000 letters without a space", "a" * 100_000),
        ("100000 characters, the question last", "blah " * 19_998 + QUESTION),
        ("100000 emoji", "🔥" * 100_000),
        ("100000 line breaks then a question", "\n" * 100_000 + QUESTION),
        # combining marks
        ("a combining flood on one letter", "a" + "\u0301" * 5000),
        ("a combining flood on every letter", "".join(c + "\u0303" * 40 for c in QUESTION)),
        ("combining marks alone", "\u0301\u0300\u0309" * 300),
        ("zalgo off-topic question", "".join(c + "\u0336\u0337\u035c" for c in OFF_TOPIC)),
        ("combining solidus on <", "<\u0338b>CSO</b\u0338>"),
        ("a combining mark after &", "&\u0301amp; CSO"),
        # NFD Vietnamese
        ("NFD question", _nfd("CSO cần những kỹ năng gì?")),
        ("NFD off-topic question", _nfd(OFF_TOPIC)),
        ("NFD upper case", _nfd("GIÁM ĐỐC KINH DOANH LÀ GÌ?")),
        ("old tone placement", "Hoà hợp giữa CSO và CMO thế nào, khoẻ không?"),
        ("no diacritics", "cmo can nhung ky nang gi"),
        # emoji
        ("one emoji", "😀"),
        ("thumbs up", "👍"),
        ("a flag", "🇻🇳"),
        ("a family with joiners", "👨\u200d👩\u200d👧\u200d👦"),
        ("a keycap", "1\ufe0f\u20e3"),
        ("emoji with skin tones", "👋🏽👋🏿" * 50),
        ("a heart with a variation selector", "❤\ufe0f"),
        # control characters and null bytes
        ("a null byte", "\x00"),
        ("null bytes in a question", "CSO\x00 là\x00 gì?"),
        ("a hundred null bytes", "\x00" * 100),
        ("C0 controls", "".join(chr(c) for c in range(1, 32)) + QUESTION),
        ("DEL and C1 controls", "\x7f\x85\x9b" + OFF_TOPIC),
        ("escape sequences", "\x1b[31mCSO\x1b[0m là gì?"),
        ("carriage returns only", "\r\r\r"),
        ("a line and paragraph separator", "CSO\u2028là\u2029gì?"),
        # SQL and format strings
        ("SQL drop table", "'; DROP TABLE questions; --"),
        ("SQL tautology", "1' OR '1'='1"),
        ("SQL union", "CSO' UNION SELECT text FROM questions --"),
        ("SQL little Bobby", "Robert'); DROP TABLE students;--"),
        ("SQL comment and semicolons", "CSO là gì?; /* */ DELETE FROM votes;"),
        ("str.format fields", "{question} {0} {name!r} {__class__}"),
        ("printf fields", "%s %d %(question)s %n %%"),
        ("a log line forged with a newline", f"{OFF_TOPIC}\nERROR bot: fake"),
        # other text people paste
        ("a URL with markup", "http://evil.example/?q=<script>alert(1)</script>&x=1"),
        ("a tg:// link", "tg://user?id=1 CSO"),
        ("a path", "../../../../etc/passwd"),
        ("JSON", '{"ok": true, "result": {"text": "<b>x</b>"}}'),
        ("Arabic", "ما هو الرئيس التنفيذي للمبيعات؟"),
        ("Chinese", "首席销售官是什么?"),
        ("Thai", "ซีเอสโอคืออะไร"),
        ("mathematical letters", "𝐂𝐒𝐎 𝐥𝐚̀ 𝐠𝐢̀?"),
        ("full-width letters", "ＣＳＯ　là　gì？"),
        ("ligatures that grow when folded", "ﬃ" * 400),
        ("dotted capital I", "İ" * 500),
        ("private-use characters", "\ue000\uf8ff" * 100),
        ("unassigned code points", "\U000e0001\U0010fffd" * 10),
        ("digits only", "0" * 400),
        ("punctuation only", "?!.,;:-–—…" * 50),
        ("a mention of someone else", "@someone CSO là gì?"),
        ("a bare slash", "/"),
        ("two slashes", "//"),
        ("a slash and a space", "/ start"),
        ("a command with non-ASCII letters", "/trợgiúp"),
        ("a command too long to be one", "/" + "a" * 100),
    ]
    return cases


def _markup() -> dict[str, str]:
    """HTML and Markdown a user may type, hoping the bot will render it."""
    return {
        "bold": "<b>bold</b>",
        "a link": '<a href="http://e.example">x</a>',
        "a javascript link": '<a href="javascript:alert(1)">x</a>',
        "a user mention link": '<a href="tg://user?id=1">admin</a>',
        "an ampersand": "Tom & Jerry",
        "an escaped ampersand": "&amp;",
        "an escaped tag": "&lt;b&gt;",
        "a numeric entity": "&#60;b&#62; &#x3C;",
        "an unknown entity": "&nbsp; &copy; &bogus;",
        "a lone <": "a < b",
        "a lone >": "a > b",
        "an unclosed tag": "<b>never closed",
        "a closing tag only": "</b>",
        "crossed tags": "<b><i>x</b></i>",
        "an unsupported tag": "<br><script>alert(1)</script>",
        "a tag with attributes": "<span class=tg-spoiler>x</span>",
        "a broken attribute": '<a href="x>y</a>',
        "pre and code": "<pre><code class='language-python'>print(1)</code></pre>",
        "a custom emoji": '<tg-emoji emoji-id="1">🙂</tg-emoji>',
        "a blockquote": "<blockquote expandable>x</blockquote>",
        "a comment": "<!-- x -->",
        "CDATA": "<![CDATA[x]]>",
        "markdown bold": "*bold* **bold** __u__",
        "markdown link": "[x](http://e)",
        "markdown code": "`code` ```pre```",
        "markdownv2 escapes": r"\_ \* \[ \] \( \) \~ \` \> \# \+ \- \= \| \{ \} \. \!",
        "a spoiler": "||spoiler||",
    }


BLANK = [
    ("a space", " "),
    ("spaces", " " * 4096),
    ("a tab", "\t"),
    ("line breaks", "\n\n\n"),
    ("no-break spaces", "\u00a0\u00a0"),
    ("ideographic space", "\u3000"),
    ("mixed whitespace", " \t\r\n\u2028\u2029\u00a0 "),
]

START_PAYLOADS = [
    ("a payload", "/start ref_123"),
    ("a long payload", "/start " + "A" * 64),
    ("markup in the payload", "/start <b>x</b>&amp;"),
    ("SQL in the payload", "/start '; DROP TABLE questions; --"),
    ("a null byte in the payload", "/start \x00"),
    ("an RTL override in the payload", "/start \u202eabc"),
    ("a path in the payload", "/start ../../etc/passwd"),
    ("a 100000-character payload", "/start " + "x" * 100_000),
    ("the bot's own mention", f"/start@{BOT.username}"),
    ("the bot's own mention and a payload", f"/start@{BOT.username} x"),
]

ADMIN_COMMANDS = [
    "/stats",
    "/unanswered",
    "/assign 1 cso_role",
    "/assign",
    "/assign 999999999999999999999 <b>cso_role</b>",
    "/assign 1; DROP TABLE questions",
    "/reload",
    "/reload ../../etc/passwd",
    f"/stats@{BOT.username}",
]

# Commands this bot does not have, or that are addressed to another bot.
NOT_OURS = [
    ("another bot's command", "/cmd@otherbot"),
    ("/start for another bot", "/start@otherbot"),
    ("/help for another bot", "/help@otherbot"),
    ("an unknown command", "/admin"),
    ("an unknown command with markup", "/x <b>y</b>"),
    ("/close outside the operators' group", "/close"),
]


def _forged_callback_data() -> list[tuple[str, str | None]]:
    """Data no button of this bot carries (or carries no more)."""
    rng = random.Random(RNG_SEED)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789:_-<>&;'\" \x00éđ😀"
    cases: list[tuple[str, str | None]] = []
    for n in range(20):
        length = rng.randint(1, 20)
        junk = "".join(rng.choice(alphabet) for _ in range(length))
        cases.append((f"random {n}", junk))
    for intent in ("cfo_role", "CSO_ROLE", "", " ", "cso_role ", "../cso_role", "<b>", "0", "𝐜𝐬𝐨"):
        cases.append((f"topic {intent!r}", f"t:{intent}"))
    cases += [
        ("a vote sideways", "f:x:sideways"),
        ("a known intent voted sideways", "f:cmo_skills:sideways:0"),
        ("a vote without intent", "f::up:0"),
        ("a vote without vote", "f:cmo_skills::0"),
        ("a vote without question id", "f:cmo_skills:up"),
        ("a vote on the handoff", "f:handoff:up:0"),
        ("a vote on an unknown intent", "f:cfo_role:down:0"),
        ("a vote with a question id that is not a number", "f:cmo_skills:up:x"),
        ("a vote with extra parts", "f:cmo_skills:up:1:2"),
        ("a topic with extra parts", "t:cso_role:extra"),
        ("an unknown prefix", "z:cso_role"),
        ("a prefix alone", "t"),
        ("a separator alone", ":"),
        ("separators only", "::::"),
        ("64 bytes of ASCII", "x" * 64),
        ("64 bytes of two-byte letters", "é" * 32),
        ("64 bytes after a topic prefix", "t:" + "é" * 31),
        ("64 bytes of four-byte emoji", "😀" * 16),
        ("an admin assign button", "a:1"),
        ("an admin intent button", "ai:1:cso_role"),
        ("a rating button", "r:1:5"),
        ("a rating of 99 stars", "r:1:99"),
        ("a close button", "c:1"),
        ("a person button with junk", "p:junk"),
        ("empty", ""),
        ("no data at all", None),
    ]
    return cases


UPDATES: list[tuple[str, dict[str, Any]]] = [
    ("a poll", {"poll": {"id": "p1", "question": "CSO?", "options": [
        {"persistent_id": "o1", "text": "có", "voter_count": 1},
        {"persistent_id": "o2", "text": "<b>không</b>", "voter_count": 0}],
        "total_voter_count": 1, "is_closed": False, "is_anonymous": True, "type": "regular",
        "allows_multiple_answers": False, "allows_revoting": False, "members_only": False}}),
    ("a poll answer", {"poll_answer": {"poll_id": "p1", "option_ids": [0],
        "option_persistent_ids": ["o1"],
        "user": {"id": LAN, "is_bot": False, "first_name": "Lan"}}}),
    ("the bot added to a group", {"my_chat_member": {
        "chat": {"id": GROUP, "type": "supergroup", "title": "Nhóm"},
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}, "date": 0,
        "old_chat_member": {"status": "left", "user": BOT.model_dump(exclude_none=True)},
        "new_chat_member": {"status": "member", "user": BOT.model_dump(exclude_none=True)}}}),
    ("the bot blocked", {"my_chat_member": {
        "chat": {"id": LAN, "type": "private", "first_name": "Lan"},
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}, "date": 0,
        "old_chat_member": {"status": "member", "user": BOT.model_dump(exclude_none=True)},
        "new_chat_member": {"status": "kicked", "until_date": 0,
                            "user": BOT.model_dump(exclude_none=True)}}}),
    ("someone joins a group", {"chat_member": {
        "chat": {"id": GROUP, "type": "supergroup", "title": "Nhóm"},
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}, "date": 0,
        "old_chat_member": {"status": "left", "user": {"id": 5, "is_bot": False,
                                                       "first_name": "<b>x</b>"}},
        "new_chat_member": {"status": "member", "user": {"id": 5, "is_bot": False,
                                                         "first_name": "<b>x</b>"}}}}),
    ("a join request", {"chat_join_request": {
        "chat": {"id": GROUP, "type": "supergroup", "title": "Nhóm"},
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}, "user_chat_id": LAN,
        "date": 0}}),
    ("a reaction", {"message_reaction": {
        "chat": {"id": LAN, "type": "private", "first_name": "Lan"}, "message_id": 1,
        "user": {"id": LAN, "is_bot": False, "first_name": "Lan"}, "date": 0,
        "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}),
    ("a reaction count", {"message_reaction_count": {
        "chat": {"id": GROUP, "type": "supergroup", "title": "Nhóm"}, "message_id": 1,
        "date": 0, "reactions": [{"type": {"type": "emoji", "emoji": "🔥"}, "total_count": 3}]}}),
    ("an inline query", {"inline_query": {"id": "i1", "query": "<b>CSO</b>", "offset": "",
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}}}),
    ("a chosen inline result", {"chosen_inline_result": {"result_id": "r1", "query": "CSO",
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}}}),
    ("a shipping query", {"shipping_query": {"id": "s1", "invoice_payload": "x",
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"},
        "shipping_address": {"country_code": "VN", "state": "", "city": "HCM",
                             "street_line1": "596", "street_line2": "", "post_code": "70000"}}}),
    ("a pre-checkout query", {"pre_checkout_query": {"id": "c1", "currency": "VND",
        "total_amount": 1000, "invoice_payload": "x",
        "from": {"id": LAN, "is_bot": False, "first_name": "Lan"}}}),
    ("a chat boost", {"chat_boost": {"chat": CHANNEL, "boost": {"boost_id": "b1",
        "add_date": 0, "expiration_date": 0,
        "source": {"source": "premium", "user": {"id": LAN, "is_bot": False,
                                                 "first_name": "Lan"}}}}}),
    ("a business connection", {"business_connection": {"id": "bc1", "user_chat_id": LAN,
        "date": 0, "is_enabled": True, "can_reply": True,
        "user": {"id": LAN, "is_bot": False, "first_name": "Lan"}}}),
    ("deleted business messages", {"deleted_business_messages": {
        "business_connection_id": "bc1", "message_ids": [1, 2],
        "chat": {"id": LAN, "type": "private", "first_name": "Lan"}}}),
]  # fmt: skip


def _ids(cases: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in cases]


def _values(cases: list[tuple[str, Any]]) -> list[Any]:
    return [value for _, value in cases]


TEXTS = _texts()
MARKUP = [(name, f"{OFF_TOPIC} {payload}") for name, payload in _markup().items()]
FORGED = _forged_callback_data()


# --------------------------------------------------------------------------- checks


def assert_handled_cleanly(
    calls: list[TelegramMethod[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing reached the error handler, and Telegram would accept every request."""
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []
    for call in calls:
        if isinstance(call, SendMessage):
            plain, entities = parse_html(call.text)  # raises where Telegram would answer 400
            assert plain.strip(), "Telegram refuses an empty message"
            assert utf16_len(plain) <= TEXT_LIMIT
            assert entities == [], f"formatting the bot never sends: {entities}"
            assert plain != texts.ERROR_REPLY
        if isinstance(call, AnswerCallbackQuery) and call.text is not None:
            assert len(call.text) <= CALLBACK_ANSWER_LIMIT
        assert too_long_callback_data(getattr(call, "reply_markup", None)) == []


def assert_quoted_as_typed(calls: list[TelegramMethod[Any]], question: str) -> None:
    """Where the bot quotes the question back (a handoff), it shows exactly what was typed:
    the HTML carries it escaped, so markup arrives as text."""
    expected = shorten(question, QUOTED_QUESTION_LIMIT)
    quoted = texts.HANDOFF_QUESTION.format(question=expected)
    for call in messages(calls):
        if texts.HANDOFF_QUESTION.partition("{")[0] in seen(call):
            assert seen(call).endswith(quoted)
            assert call.text.endswith(quote(quoted))


# One bot for the whole corpus, as in production: one dispatcher, one database, one event
# loop, and every case a new user (their own private chat, follow-up context, flood budget),
# on a recording session of their own. No case looks at what is stored.
pytestmark = pytest.mark.asyncio(loop_scope="module")
USER_IDS = itertools.count(10_000)


@pytest.fixture(scope="module")
def config() -> Settings:
    # The group cases all write in one group, within seconds: far over the group's flood
    # limit (GROUP_FLOOD_*), which is not what they test.
    return settings(group_flood_burst=10_000)


@pytest.fixture(scope="module")
def assistant(config: Settings) -> Assistant:
    return build_assistant(config)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def storage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Storage]:
    db = await Storage.open(tmp_path_factory.mktemp("hostile"), retention_days=90)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(scope="module")
def dispatcher(config: Settings, assistant: Assistant, storage: Storage) -> Dispatcher:
    return build_dispatcher(config, assistant, storage)


@pytest_asyncio.fixture(loop_scope="module")
async def chat(config: Settings, dispatcher: Dispatcher) -> Conversation:
    """A new user, writing to the bot for the first time."""
    return await join(dispatcher, config, user_id=next(USER_IDS))


def group_message(chat: Conversation, text: str, sender: dict[str, Any]) -> dict[str, Any]:
    message = chat.text_message(text, chat_id=GROUP)
    message["from"] = sender
    return message


# --------------------------------------------------------------------------- texts


@pytest.mark.parametrize("text", _values(TEXTS), ids=_ids(TEXTS))
async def test_hostile_text_gets_a_valid_reply(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    calls = await chat.says(text)

    assert messages(calls), "every text in a private chat gets an answer"
    assert_handled_cleanly(calls, caplog)
    assert_quoted_as_typed(calls, text.strip())


@pytest.mark.parametrize("question", _values(MARKUP), ids=_ids(MARKUP))
async def test_markup_typed_by_the_user_arrives_as_text(
    chat: Conversation, caplog: pytest.LogCaptureFixture, question: str
) -> None:
    calls = await chat.says(question)

    reply = messages(calls)[0]
    assert seen(reply).endswith(f"«{question}»")  # shown exactly as typed
    assert reply.text.endswith(quote(f"«{question}»"))  # because it was escaped
    assert_handled_cleanly(calls, caplog)


async def test_a_bold_tag_arrives_escaped(chat: Conversation) -> None:
    calls = await chat.says(f"{OFF_TOPIC} <b>ngay</b> & luôn")

    html = messages(calls)[0].text
    assert "«Giá vé xem bóng đá bao nhiêu &lt;b&gt;ngay&lt;/b&gt; &amp; luôn»" in html


@pytest.mark.parametrize("text", _values(BLANK), ids=_ids(BLANK))
async def test_a_blank_message_gets_an_invitation_to_ask(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    calls = await chat.says(text)

    assert [seen(call) for call in calls] == [texts.EMPTY_QUESTION]
    assert_handled_cleanly(calls, caplog)


async def test_an_empty_text_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    # Telegram never delivers one; a client bug or a forged update could.
    calls = await chat.says("")

    assert calls == []
    assert_handled_cleanly(calls, caplog)


async def test_an_nfd_question_gets_the_same_reply_as_its_nfc_form(chat: Conversation) -> None:
    nfc = await chat.says("CSO cần những kỹ năng gì?")
    nfd = await chat.says(_nfd("CSO cần những kỹ năng gì?"))

    assert [seen(call) for call in messages(nfd)] == [seen(call) for call in messages(nfc)]


# The same, edited in, or in a group: a few of each kind.
SOME_TEXTS = [
    (name, text)
    for name, text in [*TEXTS, *(("markup: " + name, text) for name, text in MARKUP)]
    if name
    in {
        "U+202E between every letter",
        "a flood of invisible characters",
        "4096 letters",
        "100000 characters, the question last",
        "a combining flood on every letter",
        "NFD off-topic question",
        "a family with joiners",
        "null bytes in a question",
        "SQL drop table",
        "str.format fields",
        "markup: bold",
        "markup: an unclosed tag",
        "markup: markdown link",
    }
]


@pytest.mark.parametrize("text", _values(SOME_TEXTS), ids=_ids(SOME_TEXTS))
async def test_hostile_text_edited_in_gets_a_valid_reply(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    calls = await chat.says(text, edited=True)

    assert messages(calls)
    assert_handled_cleanly(calls, caplog)
    assert_quoted_as_typed(calls, text.strip())


@pytest.mark.parametrize("text", _values(SOME_TEXTS), ids=_ids(SOME_TEXTS))
async def test_hostile_text_in_a_group(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    unaddressed = await chat.says(text, chat_id=GROUP)
    addressed = await chat.says(f"{MENTION} {text}", chat_id=GROUP)

    assert unaddressed == []
    assert messages(addressed)
    assert_handled_cleanly(addressed, caplog)


@pytest.mark.parametrize(
    "name",
    ["<b>Lan</b>", "&amp;", "</a>", "\u202eLan", "\u200b", "\x00", "😀" * 32, "{name}", " "],
    ids=["bold", "escaped ampersand", "closing tag", "RTL override", "zero width", "null byte",
         "32 emoji", "format field", "a space"],
)  # fmt: skip
async def test_a_hostile_first_name_is_greeted_as_typed(
    chat: Conversation, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    calls = await chat.says("/start", first_name=name)

    assert seen(messages(calls)[0]).startswith(texts.START_GREETING.format(name=name))
    assert_handled_cleanly(calls, caplog)


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize("text", _values(START_PAYLOADS), ids=_ids(START_PAYLOADS))
async def test_start_with_any_payload_greets_and_offers_topics(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    calls = await chat.says(text)

    [greeting] = messages(calls)
    assert seen(greeting).startswith("Xin chào Lan!")
    assert greeting.reply_markup is not None
    assert_handled_cleanly(calls, caplog)


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_an_admin_command_from_anyone_else_is_an_unknown_command(
    chat: Conversation, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    calls = await chat.says(command)

    assert [seen(call) for call in calls] == [texts.UNKNOWN_COMMAND]
    assert_handled_cleanly(calls, caplog)


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_an_admin_command_in_a_group_gets_nothing_for_anyone_else(
    chat: Conversation, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    calls = await chat.says(command.replace(f"@{BOT.username}", ""), chat_id=GROUP)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


@pytest.mark.parametrize("text", _values(NOT_OURS), ids=_ids(NOT_OURS))
async def test_a_command_the_bot_does_not_have_gets_a_valid_reply_in_private(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    calls = await chat.says(text)

    assert messages(calls)
    assert_handled_cleanly(calls, caplog)
    assert_quoted_as_typed(calls, text)


@pytest.mark.parametrize("text", _values(NOT_OURS), ids=_ids(NOT_OURS))
async def test_a_command_the_bot_does_not_have_gets_nothing_in_a_group(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    calls = await chat.says(text, chat_id=GROUP)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


# --------------------------------------------------------------------------- buttons


def stale_answer_only(calls: list[TelegramMethod[Any]]) -> bool:
    """The bot's only request: one answer to the callback query, "this button has expired"."""
    return [(type(call), getattr(call, "text", None)) for call in calls] == [
        (AnswerCallbackQuery, texts.STALE_BUTTON)
    ]


@pytest.mark.parametrize("data", _values(FORGED), ids=_ids(FORGED))
async def test_a_forged_button_gets_exactly_one_polite_answer(
    chat: Conversation, caplog: pytest.LogCaptureFixture, data: str | None
) -> None:
    start = chat.last_bot_message(await chat.says("/start"))

    calls = await chat.press_data(data, start)

    assert stale_answer_only(calls)
    assert_handled_cleanly(calls, caplog)


# Votes forged under a real answer (its 👍/👎 row still there), with the text each one gets.
FORGED_VOTES = [
    ("a question id beyond SQLite's range", "f:cmo_skills:up:99999999999999999999", None),
    ("a question id of 2**63", f"f:cmo_skills:up:{2**63}", None),
    ("a negative question id", "f:cmo_skills:down:-1", None),
    ("a question id that is not a number", "f:cmo_skills:up:abc", None),
    # A vote counts only on the voter's own question, for the answer they got.
    ("a question id that does not exist", "f:cmo_skills:up:123456", None),
    ("a vote for another intent", "f:cso_role:down:1", None),
]


@pytest.mark.parametrize(
    ("data", "thanks"), [case[1:] for case in FORGED_VOTES], ids=[case[0] for case in FORGED_VOTES]
)
async def test_a_forged_vote_under_a_real_answer_gets_exactly_one_answer(
    chat: Conversation, caplog: pytest.LogCaptureFixture, data: str, thanks: str | None
) -> None:
    answer = chat.last_bot_message(await chat.says("cmo can ky nang gi"))

    calls = await chat.press_data(data, answer)

    [answered] = only(calls, AnswerCallbackQuery)
    assert answered.text == (thanks or texts.STALE_BUTTON)
    assert_handled_cleanly(calls, caplog)


# Real buttons (and a few forged ones) where the bot cannot reach the message any more.
NO_MESSAGE = [
    ("a topic", TopicCb(intent="cso_role").pack()),
    ("the person button", TopicCb(intent="handoff").pack()),
    ("a vote", FeedbackCb(intent="cmo_skills", vote="up").pack()),
    ("a rating", "r:1:5"),
    ("an admin button", "a:1"),
    ("a vote sideways", "f:x:sideways"),
    ("junk", "x" * 64),
    ("no data", None),
]


@pytest.mark.parametrize("data", _values(NO_MESSAGE), ids=_ids(NO_MESSAGE))
@pytest.mark.parametrize("where", ["older than 48 hours", "an inline message"])
async def test_a_button_under_a_message_out_of_reach_gets_exactly_one_polite_answer(
    chat: Conversation, caplog: pytest.LogCaptureFixture, data: str | None, where: str
) -> None:
    message: dict[str, Any] | None = None
    if where == "older than 48 hours":  # Telegram sends an InaccessibleMessage: date 0
        message = {"chat": {"id": chat.user_id, "type": "private"}, "message_id": 7, "date": 0}

    calls = await chat.press_data(data, message)

    assert stale_answer_only(calls)
    assert_handled_cleanly(calls, caplog)


@pytest.mark.parametrize("intent", [*INTENT_IDS, "handoff"])
async def test_every_real_topic_button_is_answered_exactly_once(
    chat: Conversation, caplog: pytest.LogCaptureFixture, intent: str
) -> None:
    start = chat.last_bot_message(await chat.says("/start"))

    calls = await chat.press_data(TopicCb(intent=intent).pack(), start)

    assert len(only(calls, AnswerCallbackQuery)) == 1
    assert messages(calls)
    assert_handled_cleanly(calls, caplog)


async def test_a_vote_pressed_twice_is_answered_both_times(
    chat: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await chat.says("cmo can ky nang gi")

    first = await chat.press("👍", on=answer)
    second = await chat.press("👍", on=answer)  # the old keyboard, still on a slow screen

    assert len(only(first, AnswerCallbackQuery)) == 1
    assert len(only(second, AnswerCallbackQuery)) == 1
    assert_handled_cleanly(first + second, caplog)


# --------------------------------------------------------------------------- not for the bot


CHANNEL_POSTS = [
    ("a question", QUESTION),
    ("a mention", f"{MENTION} {QUESTION}"),
    ("/start", "/start"),
    ("/help for this bot", f"/help@{BOT.username}"),
    ("an admin command", "/stats"),
    ("markup", f"{MENTION} <b>x</b>"),
]


@pytest.mark.parametrize("text", _values(CHANNEL_POSTS), ids=_ids(CHANNEL_POSTS))
@pytest.mark.parametrize("edited", [False, True], ids=["posted", "edited"])
async def test_a_channel_post_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str, edited: bool
) -> None:
    post = {"message_id": 1, "date": 0, "chat": CHANNEL, "sender_chat": CHANNEL, "text": text}
    if edited:
        post["edit_date"] = 1
        calls = await chat.feed(edited_channel_post=post)
    else:
        calls = await chat.feed(channel_post=post)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


BOT_MESSAGES = [
    ("a mention", f"{MENTION} {QUESTION}"),
    ("a bare mention", MENTION),
    ("a command for this bot", f"/help@{BOT.username}"),
    ("/start for this bot", f"/start@{BOT.username}"),
    ("an unknown command for this bot", f"/xyz@{BOT.username}"),
    ("markup and a mention", f"{MENTION} <b>x</b>"),
]


@pytest.mark.parametrize("text", _values(BOT_MESSAGES), ids=_ids(BOT_MESSAGES))
@pytest.mark.parametrize("edited", [False, True], ids=["sent", "edited"])
async def test_another_bot_in_a_group_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture, text: str, edited: bool
) -> None:
    message = group_message(chat, text, OTHER_BOT)
    if edited:
        message["edit_date"] = message["date"]
        calls = await chat.feed(edited_message=message)
    else:
        calls = await chat.feed(message=message)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


async def test_an_anonymous_group_admin_is_a_person_and_gets_an_answer(
    chat: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram shows someone writing as the group itself as the bot @GroupAnonymousBot, with
    the group as `sender_chat`: a person all the same."""
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                 "username": "GroupAnonymousBot"}  # fmt: skip
    message = group_message(chat, f"{MENTION} {QUESTION}", anonymous)
    message["sender_chat"] = message["chat"]

    calls = await chat.feed(message=message)

    assert messages(calls)
    assert_handled_cleanly(calls, caplog)


async def test_another_bot_replying_to_this_one_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    """Two bots answering each other's replies would never stop."""
    ours = chat.last_bot_message(await chat.says(f"{MENTION} {QUESTION}", chat_id=GROUP))
    message = group_message(chat, "CMO là gì?", OTHER_BOT)
    message["reply_to_message"] = ours.model_dump(mode="json", exclude_none=True)

    calls = await chat.feed(message=message)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


async def test_another_bot_sending_a_photo_with_a_mention_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    message = group_message(chat, "", OTHER_BOT)
    del message["text"]
    message["photo"] = [{"file_id": "p", "file_unique_id": "u", "width": 9, "height": 9}]
    message["caption"] = MENTION

    calls = await chat.feed(message=message)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


@pytest.mark.parametrize("update", _values(UPDATES), ids=_ids(UPDATES))
async def test_an_update_the_bot_has_no_use_for_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture, update: dict[str, Any]
) -> None:
    calls = await chat.feed(**update)

    assert calls == []
    assert_handled_cleanly(calls, caplog)


async def test_an_update_type_newer_than_aiogram_gets_nothing(
    chat: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.warns(RuntimeWarning, match="unknown update type"):
        calls = await chat.feed(some_future_update={"id": 1})

    assert calls == []
    assert_handled_cleanly(calls, caplog)


# --------------------------------------------------------------------------- admin commands


ADMIN_ARGUMENTS = [
    ("a number SQLite cannot hold", "/assign 99999999999999999999 cso_role", None),
    ("a superscript digit", "/assign ² cso_role", None),
    ("Arabic-Indic digits", "/assign #٣ cso_role", None),
    ("a negative number", "/assign -1 cso_role", None),
    ("an exponent", "/assign 1e5 cso_role", None),
    ("markup for an intent", "/assign <b> </b>", None),
    ("the largest id it takes", "/assign #123456789012345678 cso_role", 123456789012345678),
]


@pytest.mark.parametrize(
    ("command", "missing"),
    [case[1:] for case in ADMIN_ARGUMENTS],
    ids=[case[0] for case in ADMIN_ARGUMENTS],
)
async def test_an_admin_typing_junk_after_assign_gets_the_usage(
    storage: Storage,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    command: str,
    missing: int | None,
) -> None:
    knowledge = tmp_path / "faq.json"  # /assign writes to the knowledge file: not the real one
    shutil.copy(DEFAULT_KNOWLEDGE, knowledge)
    config = settings(admin_ids=frozenset({LAN}), knowledge_file=knowledge)
    admin = await connect(config, build_assistant(config), storage)

    calls = await admin.says(command)

    [reply] = messages(calls)
    if missing is None:
        assert seen(reply).startswith(texts.ADMIN_ASSIGN_USAGE)
    else:
        assert seen(reply) == texts.ADMIN_ASSIGN_NO_QUESTION.format(id=missing)
    assert_handled_cleanly(calls, caplog)
