"""A conversation with the real Dispatcher, with a recording session standing in for Telegram.

The session keeps every request the bot makes, refuses what the Bot API would refuse (HTML it
cannot parse, text over 4,096 UTF-16 units or empty, callback data over 64 bytes, a callback
query answered twice) and returns what Telegram would. A `Conversation` plays the user: it
writes, edits, presses buttons, or feeds any raw update, and hands back the bot's requests.

Shared by tests/test_handlers.py and tests/test_hostile.py (tests/ has no __init__.py, so
they import it by plain name).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageReplyMarkup,
    GetMe,
    SendContact,
    SendMessage,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.types import Chat, Contact, InlineKeyboardMarkup, Message, Update, User

from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.telegram.app import build_bot, build_dispatcher
from tests.support.fake_telegram import HtmlParseError, parse_html, utf16_len

TOKEN = "123456:TEST-token-value"
BOT = User(id=123456, is_bot=True, first_name="Support Bot", username="cso_cmo_support_bot")
LAN = 111
GROUP = -100500
TEXT_LIMIT = 4096  # UTF-16 units, after entity parsing
CALLBACK_DATA_LIMIT = 64  # bytes
CALLBACK_ANSWER_LIMIT = 200  # characters of an answerCallbackQuery notification


def settings(**values: Any) -> Settings:
    """Settings for a test: the test token, nothing from the environment or `.env`."""
    return Settings(_env_file=None, bot_token=TOKEN, **values)


# --------------------------------------------------------------------------- Telegram stand-in


def too_long_callback_data(markup: object) -> list[str]:
    """The callback data in `markup` that Telegram would refuse (over 64 bytes)."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [
        button.callback_data
        for row in markup.inline_keyboard
        for button in row
        if button.callback_data is not None
        and len(button.callback_data.encode()) > CALLBACK_DATA_LIMIT
    ]


class RecordingSession(BaseSession):
    """Records every request; answers like the Bot API (and refuses what it would refuse)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.answered: set[str] = set()
        self.flood: dict[type[TelegramMethod[Any]], int] = {}
        self.delays: list[float] = []  # seconds to wait before answering the next requests
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        pass

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    def _message(self, chat_id: int | str, **content: Any) -> Message:
        chat_id = int(chat_id)
        chat = Chat(id=chat_id, type="private" if chat_id > 0 else "supergroup")
        return Message(
            message_id=next(self._ids), date=datetime.now(UTC), chat=chat, from_user=BOT, **content
        )

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> Any:
        self.calls.append(method)
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        if self.flood.get(type(method)):
            self.flood[type(method)] -= 1
            raise TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=0)
        if isinstance(method, GetMe):
            return BOT
        if too_long_callback_data(getattr(method, "reply_markup", None)):
            raise TelegramBadRequest(method, "BUTTON_DATA_INVALID")
        if isinstance(method, SendMessage):
            try:
                plain, _ = parse_html(method.text)
            except HtmlParseError as exc:
                raise TelegramBadRequest(method, f"can't parse entities: {exc}") from None
            if not plain.strip():
                raise TelegramBadRequest(method, "message text is empty")
            if utf16_len(plain) > TEXT_LIMIT:
                raise TelegramBadRequest(method, "message is too long")
            markup = inline(method.reply_markup)
            return self._message(method.chat_id, text=plain, reply_markup=markup)
        if isinstance(method, SendContact):
            contact = Contact(phone_number=method.phone_number, first_name=method.first_name)
            return self._message(method.chat_id, contact=contact)
        if isinstance(method, AnswerCallbackQuery):
            if method.callback_query_id in self.answered:
                raise TelegramBadRequest(method, "query is too old or query ID is invalid")
            if method.text is not None and len(method.text) > CALLBACK_ANSWER_LIMIT:
                raise TelegramBadRequest(method, "MESSAGE_TOO_LONG")
            self.answered.add(method.callback_query_id)
            return True
        if isinstance(method, EditMessageReplyMarkup | SetMyCommands | DeleteWebhook | SetWebhook):
            return True
        raise AssertionError(f"unexpected request {method.__api_method__}")


# --------------------------------------------------------------------------- reading the replies


def inline(markup: object) -> InlineKeyboardMarkup | None:
    assert markup is None or isinstance(markup, InlineKeyboardMarkup), markup
    return markup


def single_message(calls: list[TelegramMethod[Any]]) -> SendMessage:
    """The one request the bot made, a message."""
    assert len(calls) == 1, calls
    assert isinstance(calls[0], SendMessage), calls[0]
    return calls[0]


def message_and_card(calls: list[TelegramMethod[Any]]) -> tuple[SendMessage, SendContact]:
    """The bot's two requests: a message, then a contact card."""
    assert len(calls) == 2, calls
    message, card = calls
    assert isinstance(message, SendMessage), message
    assert isinstance(card, SendContact), card
    return message, card


def seen(call: TelegramMethod[Any]) -> str:
    """What the user reads: the text after Telegram has parsed the HTML."""
    assert isinstance(call, SendMessage), call
    return parse_html(call.text)[0]


def labels(markup: Any) -> list[list[str]]:
    if markup is None:
        return []
    assert isinstance(markup, InlineKeyboardMarkup)
    return [[button.text for button in row] for row in markup.inline_keyboard]


def messages(calls: list[TelegramMethod[Any]]) -> list[SendMessage]:
    return [call for call in calls if isinstance(call, SendMessage)]


def only(calls: list[TelegramMethod[Any]], kind: type[Any]) -> list[Any]:
    return [call for call in calls if isinstance(call, kind)]


# --------------------------------------------------------------------------- the user


class Conversation:
    """One user (`user_id`, Lan unless told) writing to the bot: in their private chat, or in a
    group with `chat_id`."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        session: RecordingSession,
        user_id: int = LAN,
        update_ids: Iterator[int] | None = None,
    ) -> None:
        """`update_ids`: shared by conversations with instances of one bot (one Telegram
        numbers the updates of a bot)."""
        self.dp = dp
        self.bot = bot
        self.session = session
        self.user_id = user_id
        self._update_ids = itertools.count(1) if update_ids is None else update_ids
        self._message_ids = itertools.count(1)
        self.bot_messages: list[Message] = []

    async def feed(self, **update: Any) -> list[TelegramMethod[Any]]:
        """Feed one raw update (`message={...}`, `poll={...}`…); the bot's requests for it."""
        before = len(self.session.calls)
        parsed = Update.model_validate(
            {"update_id": next(self._update_ids), **update}, context={"bot": self.bot}
        )
        await self.dp.feed_update(self.bot, parsed)
        return self.session.calls[before:]

    def message(
        self,
        chat_id: int,
        first_name: str,
        content: dict[str, Any],
        reply_to: Message | None = None,
    ) -> dict[str, Any]:
        """A message from the user as Telegram would send it, with `content` (text, photo…)."""
        chat: dict[str, Any] = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id < 0:
            chat["title"] = "Nhóm khởi nghiệp"
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": self.user_id, "is_bot": False, "first_name": first_name},
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to.model_dump(mode="json", exclude_none=True)
        return message

    def text_message(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        first_name: str = "Lan",
        reply_to: Message | None = None,
    ) -> dict[str, Any]:
        """A text message (in the user's private chat unless `chat_id`), with the bot_command
        entity Telegram adds to a leading /command."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.message(
            self.user_id if chat_id is None else chat_id, first_name, content, reply_to
        )

    async def says(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        first_name: str = "Lan",
        reply_to: Message | None = None,
        edited: bool = False,
    ) -> list[TelegramMethod[Any]]:
        message = self.text_message(text, chat_id=chat_id, first_name=first_name, reply_to=reply_to)
        if edited:
            message["edit_date"] = int(time.time())
            return await self.feed(edited_message=message)
        return await self.feed(message=message)

    async def sends(
        self, content: dict[str, Any], chat_id: int | None = None
    ) -> list[TelegramMethod[Any]]:
        chat = self.user_id if chat_id is None else chat_id
        return await self.feed(message=self.message(chat, "Lan", content))

    def last_bot_message(self, calls: list[TelegramMethod[Any]]) -> Message:
        """The message the bot sent last among `calls`, as Telegram would hand it back."""
        sent = messages(calls)[-1]
        plain, _ = parse_html(sent.text)
        chat = Chat(id=int(sent.chat_id), type="private" if int(sent.chat_id) > 0 else "group")
        return Message(
            message_id=next(self._message_ids) + 5000,
            date=datetime.now(UTC),
            chat=chat,
            from_user=BOT,
            text=plain,
            reply_markup=inline(sent.reply_markup),
        )

    async def press(self, label: str, on: list[TelegramMethod[Any]]) -> list[TelegramMethod[Any]]:
        """Press the button labelled `label` under the last message among `on`."""
        message = self.last_bot_message(on)
        markup = message.reply_markup
        assert markup is not None, "that message has no buttons"
        for button in itertools.chain.from_iterable(markup.inline_keyboard):
            if button.text == label:
                assert button.callback_data is not None
                return await self.press_data(button.callback_data, message)
        raise AssertionError(f"no button {label!r} in {labels(markup)}")

    async def press_data(
        self, data: str | None, message: Message | dict[str, Any] | None
    ) -> list[TelegramMethod[Any]]:
        """Press a button carrying `data` under `message` (a dict: as Telegram sends it; None:
        an inline message the bot cannot see)."""
        query: dict[str, Any] = {
            "id": f"q{next(self._update_ids)}",
            "from": {"id": self.user_id, "is_bot": False, "first_name": "Lan"},
            "chat_instance": "42",
        }
        if data is not None:
            query["data"] = data
        if isinstance(message, Message):
            query["message"] = message.model_dump(mode="json", exclude_none=True)
        elif message is not None:
            query["message"] = message
        else:
            query["inline_message_id"] = "inline-1"
        return await self.feed(callback_query=query)


async def connect(config: Settings, assistant: Assistant, storage: Storage) -> Conversation:
    """A conversation with a fresh dispatcher for `assistant`, on a recording session, that
    records into `storage`."""
    return await join(build_dispatcher(config, assistant, storage), config)


async def join(dp: Dispatcher, config: Settings, user_id: int = LAN) -> Conversation:
    """User `user_id` starts talking to the bot of dispatcher `dp`, on a recording session of
    their own. The bot has fetched its own profile first, as polling does (groups need its
    @username)."""
    session = RecordingSession()
    bot = build_bot(config, session=session)
    await bot.me()
    session.calls.clear()
    return Conversation(dp, bot, session, user_id)
