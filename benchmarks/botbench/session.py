"""The Bot API's side of the in-process benchmark: the bot's own session with the socket left
out. Each request's body is built as the bot would post it, and each answer is written as the
Bot API writes it and parsed by the bot's own code."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from typing import Any, cast

from aiogram import Bot
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageReplyMarkup,
    GetMe,
    SendContact,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup

from benchmarks.botbench.workloads import BOT_USER
from bot import texts
from bot.telegram.session import BotApiSession


class BenchSession(BotApiSession):
    """The bot's request path without the socket: the body the bot would post, an answer like
    the Bot API's, parsed. Counts the requests by method, and the presses answered as stale
    buttons (a workload the bot does not recognise)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.stale = 0
        self._ids = itertools.count(1_000_000)

    def _message(self, chat_id: int | str, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "from": BOT_USER,
            **content,
        }

    def _result(self, method: TelegramMethod[Any], sent: dict[str, Any] | None) -> Any:
        if isinstance(method, SendMessage):
            content: dict[str, Any] = {"text": method.text}
            if sent is not None and isinstance(method.reply_markup, InlineKeyboardMarkup):
                # The Bot API's answer carries the inline keyboard back, as it was sent.
                content["reply_markup"] = sent["reply_markup"]
            return self._message(method.chat_id, **content)
        if isinstance(method, SendContact):
            contact = {"phone_number": method.phone_number, "first_name": method.first_name}
            return self._message(method.chat_id, contact=contact)
        if isinstance(method, AnswerCallbackQuery):
            self.stale += method.text == texts.STALE_BUTTON
            return True
        if isinstance(method, EditMessageReplyMarkup | SetMyCommands | DeleteWebhook):
            return True
        if isinstance(method, GetMe):
            return BOT_USER
        raise RuntimeError(f"the benchmark's session does not answer {method.__api_method__}")

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> TelegramType:
        self.calls[method.__api_method__] += 1
        sent = self.request_fields(bot, method)
        if sent is not None:
            self.json_dumps(sent)  # the body the bot would post
        # Written as the Bot API writes its answers (non-ASCII as \u escapes), by the
        # standard library whatever the bot's own encoder: Telegram's side of the exchange.
        content = json.dumps({"ok": True, "result": self._result(method, sent)})
        response = self.read_answer(bot, method, 200, content, sent=sent)
        return cast(TelegramType, response.result)
