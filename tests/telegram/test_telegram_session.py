"""The bot's Bot API session sends, as JSON, exactly the fields aiogram's own session would
send as a form, for every kind of request the bot makes (and a few it might); uploads go as
multipart, aiogram's way."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import AiogramError
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    CreateForumTopic,
    EditMessageReplyMarkup,
    GetUpdates,
    Response,
    SendChatAction,
    SendContact,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from aiohttp import FormData

from bot.cli import build_assistant
from bot.settings import Settings
from bot.telegram.keyboards import reply_keyboard, topics_keyboard
from bot.telegram.session import BotApiSession
from tests.support.fake_telegram import FakeTelegram

TOKEN = "123456:TEST"


def answer_with_buttons() -> SendMessage:
    assistant = build_assistant(Settings.model_validate({"bot_token": TOKEN}))
    reply = assistant.choose("cso_skills")
    markup = reply_keyboard(reply, feedback=True, question_id=42)
    return SendMessage(
        chat_id=-100123,
        text="<b>Kỹ năng</b> &amp; vai trò",
        reply_markup=markup,
        reply_parameters=ReplyParameters(message_id=7, allow_sending_without_reply=True),
    )


def file(name: str) -> BufferedInputFile:
    return BufferedInputFile(b"id,question\n1,ky nang cso\n", filename=name)


METHODS: dict[str, TelegramMethod[Any]] = {
    "answer with related topics and 👍/👎, quoting": answer_with_buttons(),
    "start menu": SendMessage(
        chat_id=1,
        text="Xin chào",
        reply_markup=topics_keyboard([("contact", "Liên hệ"), ("help", "Hướng dẫn")]),
    ),
    "a text saying null": SendMessage(
        chat_id=1,
        text="null",
        reply_markup=topics_keyboard([("contact", "Liên hệ"), ("help", "Hướng dẫn")]),
    ),
    "explicit parse mode and link preview": SendMessage(
        chat_id=1,
        text="*x*",
        parse_mode=ParseMode.MARKDOWN_V2,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    ),
    "contact card": SendContact(chat_id=1, phone_number="0912 345 678", first_name="Hỗ trợ"),
    "keyboard removed": EditMessageReplyMarkup(chat_id=1, message_id=5, reply_markup=None),
    "button answered": AnswerCallbackQuery(callback_query_id="99", text="Cảm ơn bạn!"),
    "commands": SetMyCommands(commands=[BotCommand(command="start", description="Bắt đầu")]),
    "chat action (an enum)": SendChatAction(chat_id=1, action=ChatAction.TYPING),
    "forum topic": CreateForumTopic(chat_id=-100123, name="Khách 111"),
    "ban until (a date)": BanChatMember(
        chat_id=-100123, user_id=5, until_date=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    ),
    "document (a file)": SendDocument(chat_id=1, document=file("export.csv"), caption="CSV"),
    "album (files inside a list)": SendMediaGroup(
        chat_id=1,
        media=[InputMediaPhoto(media=file("a.jpg")), InputMediaPhoto(media=file("b.jpg"))],
    ),
}


def form_fields(form: FormData) -> list[tuple[str, str | None, Any]]:
    """(name, file name, value) per field; files by name only."""
    out = []
    for options, _headers, value in form._fields:
        filename = options.get("filename")
        out.append((options["name"], filename, None if filename else value))
    return out


def as_form(body: str) -> list[tuple[str, str | None, Any]]:
    """A JSON body's fields as a form carries them: strings as they are, the rest as JSON."""
    return [
        (name, None, value if isinstance(value, str) else json.dumps(value))
        for name, value in json.loads(body).items()
    ]


DEFAULTS: dict[str, DefaultBotProperties] = {
    "HTML (the bot's)": DefaultBotProperties(parse_mode=ParseMode.HTML),
    "none": DefaultBotProperties(),
    "every kind": DefaultBotProperties(
        parse_mode=ParseMode.MARKDOWN_V2,
        link_preview=LinkPreviewOptions(is_disabled=True, prefer_small_media=True),
        protect_content=True,
        disable_notification=True,
        allow_sending_without_reply=True,
    ),
}


@pytest.mark.parametrize("defaults", DEFAULTS.values(), ids=DEFAULTS.keys())
@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
async def test_the_request_carries_what_aiograms_form_would(
    method: TelegramMethod[Any], defaults: DefaultBotProperties
) -> None:
    ours, theirs = BotApiSession(), AiohttpSession()
    bot = Bot(TOKEN, session=ours, default=defaults)
    try:
        expected = form_fields(theirs.build_form_data(bot, method))
        fields = ours.request_fields(bot, method)
    finally:
        await bot.session.close()
        await theirs.close()
    uploads = any(filename for _, filename, _ in expected)
    if uploads:
        assert fields is None  # multipart, aiogram's way
    else:
        assert fields is not None
        assert as_form(ours.json_dumps(fields)) == expected


async def test_replies_reach_the_bot_api_as_json_and_uploads_as_multipart() -> None:
    async with FakeTelegram() as fake:
        session = BotApiSession(api=TelegramAPIServer.from_base(fake.url))
        bot = Bot(fake.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
        try:
            answer = answer_with_buttons()
            sent = await bot(answer)
            await bot(METHODS["document (a file)"])
        finally:
            await session.close()
    message, document = fake.calls[-2:]
    assert message.method == "sendMessage"
    assert message.params["text"] == answer.text
    assert message.params["parse_mode"] == "HTML"
    assert answer.reply_markup is not None
    assert message.params["reply_markup"] == answer.reply_markup.model_dump(exclude_none=True)
    assert message.params["reply_parameters"] == {
        "message_id": 7,
        "allow_sending_without_reply": True,
        "quote_parse_mode": "HTML",  # the bot's default, as aiogram fills it in
    }
    assert sent.text == "Kỹ năng & vai trò"
    assert sent.reply_markup is answer.reply_markup  # the stand-in echoes it, as Telegram does
    assert document.method == "sendDocument"
    assert document.params["caption"] == "CSV"
    assert document.files["document"].filename == "export.csv"


async def test_bodies_are_utf8_json_that_reads_back_as_sent() -> None:
    session = BotApiSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    try:
        fields = session.request_fields(bot, answer_with_buttons())
    finally:
        await session.close()
    assert fields is not None
    body = session.json_dumps(fields)
    assert json.loads(body) == fields
    assert "Kỹ năng" in body  # the letters themselves, not \u escapes
    # Telegram writes its answers with escapes; they read back the same.
    assert session.json_loads(json.dumps(fields)) == fields


def test_what_orjson_refuses_is_written_and_read_as_the_standard_library_does() -> None:
    session = BotApiSession()
    for value in ({"text": "a\ud800b"}, {"chat_id": 2**70}):  # a lone surrogate; past 64 bits
        assert session.json_dumps(value) == json.dumps(value)
    for text in ('{"text": "a\\udc00b"}', '{"x": NaN}'):
        assert repr(session.json_loads(text)) == repr(json.loads(text))


# --------------------------------------------------------------------------- answers

MESSAGE = {
    "message_id": 10,
    "date": 1_700_000_000,
    "chat": {"id": -100123, "type": "supergroup", "title": "Hỗ trợ", "is_forum": True},
    "from": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "cso_cmo_bot"},
    "message_thread_id": 3,
    "text": "Kỹ năng & vai trò",
    "entities": [{"type": "bold", "offset": 0, "length": 7}],
    "reply_to_message": {
        "message_id": 9,
        "date": 1_699_999_999,
        "chat": {"id": -100123, "type": "supergroup"},
        "from": {"id": 7, "is_bot": False, "first_name": "Lan", "language_code": "vi"},
        "text": "ky nang cso",
    },
    "reply_markup": {
        "inline_keyboard": [
            [{"text": "👍", "callback_data": "f:cso_skills:up:42"}],
            [{"text": "Gọi", "url": "https://example.com"}],
        ]
    },
}
ANSWERS: dict[str, tuple[TelegramMethod[Any], Any]] = {
    "a message with a keyboard, replying": (SendMessage(chat_id=-100123, text="x"), MESSAGE),
    "True": (AnswerCallbackQuery(callback_query_id="1"), True),
    "a list of messages": (METHODS["album (files inside a list)"], [MESSAGE, MESSAGE]),
    "a forum topic": (
        CreateForumTopic(chat_id=-100123, name="Khách"),
        {"message_thread_id": 3, "name": "Khách", "icon_color": 7322096},
    ),
    "updates": (
        GetUpdates(offset=5),
        [
            {"update_id": 5, "message": MESSAGE},
            {
                "update_id": 6,
                "callback_query": {
                    "id": "77",
                    "from": {"id": 7, "is_bot": False, "first_name": "Lan"},
                    "chat_instance": "-1",
                    "data": "t:cmo_skills",
                    "message": MESSAGE,
                },
            },
            {"update_id": 7, "edited_message": {**MESSAGE, "edit_date": 1_700_000_100}},
        ],
    ),
}


async def readings(
    method: TelegramMethod[Any], content: str
) -> tuple[Response[Any], Response[Any], Bot]:
    """The bot's reading of a 200 answer `content` to `method` (as sent: its fields given),
    aiogram's, and the bot they are bound to."""
    ours, theirs = BotApiSession(), AiohttpSession()
    bot = Bot(TOKEN, session=ours)
    try:
        sent = ours.request_fields(bot, method)
        read = ours.read_answer(bot, method, 200, content, sent=sent)
        return read, theirs.check_response(bot, method, 200, content), bot
    finally:
        await ours.close()
        await theirs.close()


@pytest.mark.parametrize(("method", "result"), ANSWERS.values(), ids=ANSWERS.keys())
async def test_a_successful_answer_is_read_as_aiogram_reads_it(
    method: TelegramMethod[Any], result: Any
) -> None:
    content = json.dumps({"ok": True, "result": result}, ensure_ascii=False)
    read, expected, bot = await readings(method, content)
    assert read == expected
    if isinstance(read.result, Message):
        assert read.result.bot is bot  # bound, so `.answer()` works on it
        assert read.result.reply_to_message is not None
        assert read.result.reply_to_message.bot is bot


async def test_a_batch_of_updates_only_the_standard_library_reads_is_still_read() -> None:
    # Telegram sends valid UTF-8, but were a lone surrogate escape ever in a getUpdates answer,
    # polling must not find the batch unreadable: it would ask for it again and again.
    update = {
        "update_id": 5,
        "message": {**MESSAGE, "text": "a\ud800b", "chat": {"id": 1, "type": "private"}},
    }
    content = json.dumps({"ok": True, "result": [update]})
    read, expected, _ = await readings(GetUpdates(), content)
    assert read == expected
    assert read.result is not None
    message = read.result[0].message
    assert message is not None
    assert message.text == "a\ud800b"


FAILURES: dict[str, tuple[int, str]] = {
    "bad request": (400, '{"ok": false, "error_code": 400, "description": "Bad Request: x"}'),
    "blocked": (403, '{"ok": false, "error_code": 403, "description": "Forbidden: blocked"}'),
    "flood control": (
        429,
        '{"ok": false, "error_code": 429, "description": "Too Many Requests",'
        ' "parameters": {"retry_after": 3}}',
    ),
    "server error": (502, '{"ok": false, "error_code": 502, "description": "Bad Gateway"}'),
    "not ok, though 200": (200, '{"ok": false, "description": "odd"}'),
    "not JSON": (200, "<html>502 Bad Gateway</html>"),
    "not the expected object": (200, '{"ok": true, "result": {"message_id": "ten"}}'),
    "not the expected type": (200, '{"ok": true, "result": [1, 2]}'),
}


async def failures(
    method: TelegramMethod[Any], status: int, content: str
) -> tuple[BaseException, BaseException]:
    """What aiogram's own check raises for an answer, and what the bot's session raises."""
    ours, theirs = BotApiSession(), AiohttpSession()
    bot = Bot(TOKEN, session=ours)
    try:
        with pytest.raises(AiogramError) as expected:
            theirs.check_response(bot, method, status, content)
        with pytest.raises(type(expected.value)) as raised:
            ours.read_answer(bot, method, status, content, sent=ours.request_fields(bot, method))
    finally:
        await ours.close()
        await theirs.close()
    return expected.value, raised.value


@pytest.mark.parametrize("with_keyboard", [False, True], ids=["plain", "keyboard sent"])
@pytest.mark.parametrize(("status", "content"), FAILURES.values(), ids=FAILURES.keys())
async def test_a_failed_answer_raises_what_aiogram_raises(
    status: int, content: str, with_keyboard: bool
) -> None:
    method = answer_with_buttons() if with_keyboard else SendMessage(chat_id=1, text="x")
    expected, raised = await failures(method, status, content)
    assert str(raised) == str(expected)
    assert getattr(raised, "retry_after", None) == getattr(expected, "retry_after", None)


def sent_message(reply_markup: Any) -> str:
    """The Bot API's answer to a sendMessage: the message, with the inline keyboard it carries."""
    message = {**MESSAGE, "text": "Kỹ năng & vai trò", "reply_markup": reply_markup}
    return json.dumps({"ok": True, "result": message}, ensure_ascii=False)


def keyboard_sent(method: SendMessage) -> Any:
    """The method's keyboard as a JSON body carries it."""
    assert method.reply_markup is not None
    return json.loads(json.dumps(method.reply_markup.model_dump(exclude_none=True)))


async def test_the_keyboard_that_comes_back_as_sent_is_the_one_sent() -> None:
    method = answer_with_buttons()
    read, expected, bot = await readings(method, sent_message(keyboard_sent(method)))
    message, theirs = read.result, expected.result
    assert message is not None
    assert theirs is not None
    assert message.reply_markup is method.reply_markup  # not validated a second time
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    assert message.reply_markup.bot is bot
    assert message.bot is bot
    assert message.model_dump() == theirs.model_dump()


async def test_a_keyboard_that_comes_back_changed_is_read_from_the_answer() -> None:
    method = answer_with_buttons()
    changed = keyboard_sent(method)
    changed["inline_keyboard"][0][0]["text"] = "Nút khác"
    read, expected, _ = await readings(method, sent_message(changed))
    assert read == expected
    message = read.result
    assert message is not None
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    assert message.reply_markup.inline_keyboard[0][0].text == "Nút khác"
