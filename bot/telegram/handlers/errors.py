"""The last line of defence: an exception in a handler is logged, the user in a private chat
gets an apology, and polling carries on."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent

from bot import texts
from bot.telegram.handlers.common import GROUP_CHATS
from bot.telegram.text import quote

logger = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    exc = event.exception
    if isinstance(exc, TelegramForbiddenError):  # the user blocked the bot: nothing to do
        logger.warning("update %s: %s", event.update.update_id, exc.message)
        return True
    logger.error(
        "update %s failed: %s: %s",
        event.update.update_id,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    message = event.update.message or event.update.edited_message
    if message is not None and message.chat.type not in GROUP_CHATS:
        try:
            await bot.send_message(message.chat.id, quote(texts.ERROR_REPLY))
        except TelegramAPIError as again:
            logger.warning("could not apologise in chat %s: %s", message.chat.id, again)
    return True
