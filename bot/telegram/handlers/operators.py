"""The operators' forum group: replies written in a customer's topic go to the customer,
`/close` (or the button under the card) hands the customer back to the bot."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.enums import ContentType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message

from bot import texts
from bot.support.handoff import HandoffDesk
from bot.telegram.handlers.common import When, send_text
from bot.telegram.handlers.media import NON_TEXT
from bot.telegram.keyboards import CloseCb

# What an operator can send a customer: text and the common media (no service messages).
RELAYABLE: frozenset[ContentType] = NON_TEXT | {ContentType.TEXT}


class OperatorChat(Filter):
    """Updates from the operators' group (only when live handoff is on)."""

    async def __call__(self, event: Message | CallbackQuery, desk: HandoffDesk | None) -> bool:
        message = event.message if isinstance(event, CallbackQuery) else event
        return (
            desk is not None
            and isinstance(message, Message)
            and message.chat.id == desk.operator_chat_id
        )


def topic_of(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


async def on_close(message: Message, bot: Bot, desk: HandoffDesk) -> None:
    topic = topic_of(message)
    chat_id = await desk.customer_of(topic) if topic is not None else None
    if chat_id is None:
        await send_text(message, texts.OPERATOR_UNKNOWN_TOPIC)
        return
    if await desk.close(bot, chat_id) is None:
        await send_text(message, texts.OPERATOR_NOT_OPEN)


async def on_reply(message: Message, bot: Bot, desk: HandoffDesk) -> None:
    topic = topic_of(message)
    if topic is None:
        return  # the group's General topic: the operators' own
    # `sender_chat`: written as a chat. The group itself is an admin posting anonymously (with
    # Telegram's GroupAnonymousBot as `from`): an operator. Any other is a channel identity.
    as_chat = message.sender_chat
    if as_chat is None and (message.from_user is None or message.from_user.is_bot):
        return  # another bot: not for a customer
    chat_id = await desk.customer_of(topic)
    if chat_id is None:
        return  # a topic the bot did not open
    if as_chat is not None and as_chat.id != message.chat.id:
        # A group may let anyone post as their channel: only people and the group's own admins
        # speak to customers.
        name = as_chat.title or as_chat.full_name
        await desk.not_relayed(chat_id, texts.OPERATOR_NOT_RELAYED_AS_CHANNEL.format(name=name))
        return
    await desk.from_operator(bot, chat_id, message)


async def on_edit(message: Message, bot: Bot, desk: HandoffDesk) -> None:
    """An operator corrected a message: the customer's copy is corrected too."""
    if topic_of(message) is not None:
        await desk.operator_edited(bot, message)


async def on_close_button(
    callback: CallbackQuery, callback_data: CloseCb, bot: Bot, desk: HandoffDesk
) -> None:
    closed = await desk.close_handoff(bot, callback_data.h)
    await callback.answer(texts.OPERATOR_CLOSED if closed else texts.OPERATOR_NOT_OPEN)
    if isinstance(callback.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # already removed: nothing to do
            await callback.message.edit_reply_markup(reply_markup=None)


async def on_other(_: Message) -> None:
    """Anything else in the operators' group (service messages, the General topic) is theirs."""


def build_router() -> Router:
    router = Router(name="operators")
    router.message.filter(OperatorChat())
    router.edited_message.filter(OperatorChat())
    router.callback_query.filter(OperatorChat())
    router.message.register(on_close, Command("close", ignore_case=True))
    router.message.register(on_reply, When(F.content_type.in_(RELAYABLE)))
    router.message.register(on_other)
    router.edited_message.register(on_edit, When(F.content_type.in_(RELAYABLE)))
    router.edited_message.register(on_other)
    router.callback_query.register(on_close_button, CloseCb.filter())
    return router
