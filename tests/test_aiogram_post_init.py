"""bot.aiogram_post_init: aiogram objects get their bot in one call, exactly as before.

conftest.py has already run import_aiogram(), as `python -m bot run` does, so the one-call
post-init is what these tests see.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.context_controller import BotContextController
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    Update,
)
from pydantic import PrivateAttr

import bot.aiogram_post_init as post_init

TOKEN = "123456:TEST-post-init"
UPDATE: dict[str, Any] = {
    "update_id": 7,
    "callback_query": {
        "id": "42",
        "from": {"id": 111, "is_bot": False, "first_name": "Lan"},
        "chat_instance": "1",
        "data": "t:cso_role",
        "message": {
            "message_id": 9,
            "date": 1700000000,
            "chat": {"id": 111, "type": "private"},
            "from": {"id": 123456, "is_bot": True, "first_name": "Bot"},
            "text": "Câu trả lời",
            "reply_markup": {
                "inline_keyboard": [[{"text": "Vai trò CSO", "callback_data": "t:cso_role"}]]
            },
        },
    },
}


@pytest.fixture
def telegram_bot() -> Bot:
    return Bot(TOKEN)


def test_every_telegram_object_and_method_takes_the_one_call() -> None:
    for cls in (Update, Message, CallbackQuery, InlineKeyboardMarkup, SendMessage):
        assert cls.model_post_init is post_init._post_init


def test_a_validated_update_carries_the_bot_down_to_its_buttons(telegram_bot: Bot) -> None:
    update = Update.model_validate(UPDATE, context={"bot": telegram_bot})
    query = update.callback_query
    assert query is not None
    assert isinstance(query.message, Message)
    markup = query.message.reply_markup
    assert markup is not None
    carried = [update, query, query.from_user, query.message, query.message.chat, markup]
    carried.append(markup.inline_keyboard[0][0])
    assert all(item.bot is telegram_bot for item in carried)


def test_without_a_bot_in_the_context_objects_have_none(telegram_bot: Bot) -> None:
    update = Update.model_validate(UPDATE)
    assert update.bot is None
    assert update.callback_query is not None
    assert update.callback_query.bot is None
    button = InlineKeyboardButton(text="👍", callback_data="f:cso_role:up:1")
    assert button.bot is None
    assert button.as_(telegram_bot).bot is telegram_bot


def test_a_method_built_by_a_shortcut_is_bound_to_its_bot(telegram_bot: Bot) -> None:
    message = Update.model_validate(UPDATE, context={"bot": telegram_bot}).callback_query
    assert message is not None
    assert isinstance(message.message, Message)
    method = message.message.answer("Chào bạn")
    assert isinstance(method, SendMessage)
    assert method.bot is telegram_bot
    assert method.text == "Chào bạn"


def test_copies_keep_their_bot(telegram_bot: Bot) -> None:
    update = Update.model_validate(UPDATE, context={"bot": telegram_bot})
    assert update.model_copy().bot is telegram_bot
    assert update.model_copy(update={"update_id": 8}).bot is telegram_bot


def test_classes_with_a_post_init_or_private_attributes_of_their_own_keep_pydantic_s() -> None:
    calls: list[str] = []

    class WithPostInit(TelegramObject):
        name: str

        def model_post_init(self, context: Any, /) -> None:
            super().model_post_init(context)
            calls.append(self.name)

    class WithMorePrivate(TelegramObject):
        _seen: int = PrivateAttr(default=3)

    post_init.flatten_post_init()
    assert WithPostInit.model_post_init is not post_init._post_init
    assert WithMorePrivate.model_post_init is not post_init._post_init
    marker = object()
    own = WithPostInit.model_validate({"name": "x"}, context={"bot": marker})
    assert calls == ["x"]
    assert own.bot is marker
    more = WithMorePrivate.model_validate({}, context={"bot": marker})
    assert more._seen == 3
    assert more.bot is marker


def test_a_failing_probe_puts_pydantic_s_chains_back(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fresh(TelegramObject):  # a class the one-call post-init has not reached yet
        text: str

    chain = Fresh.model_post_init

    def broken(update_type: Any) -> None:
        raise RuntimeError("aiogram changed")

    monkeypatch.setattr(post_init, "_probe", broken)
    assert post_init.flatten_post_init() == 0
    assert Fresh.model_post_init is chain
    assert Message.model_post_init is post_init._post_init  # replaced earlier, left as it was
    marker = object()
    assert Fresh.model_validate({"text": "a"}, context={"bot": marker}).bot is marker


def test_only_subclasses_of_the_bot_context_controller_are_touched() -> None:
    assert BotContextController.model_post_init is not post_init._post_init
