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
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    CreateForumTopic,
    EditMessageReplyMarkup,
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
    InputMediaPhoto,
    LinkPreviewOptions,
    ReplyParameters,
)
from aiohttp import FormData
from fake_telegram import FakeTelegram

from bot.cli import build_assistant
from bot.keyboards import reply_keyboard, topics_keyboard
from bot.settings import Settings
from bot.telegram_session import BotApiSession

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
    "start menu": SendMessage(chat_id=1, text="Xin chào", reply_markup=topics_keyboard()),
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


@pytest.mark.parametrize("parse_mode", ["HTML", None])
@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
async def test_the_request_carries_what_aiograms_form_would(
    method: TelegramMethod[Any], parse_mode: str | None
) -> None:
    ours, theirs = BotApiSession(), AiohttpSession()
    bot = Bot(TOKEN, session=ours, default=DefaultBotProperties(parse_mode=parse_mode))
    try:
        expected = form_fields(theirs.build_form_data(bot, method))
        body = ours.request_body(bot, method)
    finally:
        await bot.session.close()
        await theirs.close()
    uploads = any(filename for _, filename, _ in expected)
    if uploads:
        assert body is None  # multipart, aiogram's way
    else:
        assert body is not None
        assert as_form(body) == expected


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
    assert document.method == "sendDocument"
    assert document.params["caption"] == "CSV"
    assert document.files["document"].filename == "export.csv"
