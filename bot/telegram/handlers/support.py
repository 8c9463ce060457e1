"""The customer's side of live handoff: asking for a person (in words or with the button),
talking to the operator through the bot, ending that conversation (/ketthuc), and rating it
afterwards."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message, User

from bot import texts
from bot.engine.assistant import Assistant
from bot.engine.replies import HANDOFF
from bot.support.handoff import Customer, HandoffDesk, Relayed
from bot.telegram.handlers.common import deliver, send_text
from bot.telegram.keyboards import PersonCb, RateCb, TopicCb


def live(desk: HandoffDesk | None, message: Message) -> HandoffDesk | None:
    """The desk when this chat can be handed to an operator: live handoff is on (an operator
    group is set) and the chat is a private one (topics are per person, not per group)."""
    if desk is None or message.chat.type != ChatType.PRIVATE:
        return None
    return desk


async def connect_to_person(message: Message, user: User, desk: HandoffDesk) -> None:
    began = await desk.begin(Customer.of(message.chat.id, user))
    await send_text(message, texts.HANDOFF_STARTED if began else texts.HANDOFF_ALREADY)


class WithOperator(Filter):
    """A private chat whose person is talking to an operator right now."""

    async def __call__(self, message: Message, desk: HandoffDesk | None) -> bool:
        operators = live(desk, message)
        return operators is not None and await operators.is_open(message.chat.id)


async def on_message_for_operator(message: Message, desk: HandoffDesk) -> None:
    """While a person handles the conversation the bot stays quiet and passes everything on
    (when the operators are far behind, it says so once)."""
    if message.from_user is None:
        return
    relayed = await desk.from_customer(Customer.of(message.chat.id, message.from_user), message)
    if relayed is Relayed.REFUSED_TELL:
        await send_text(message, texts.HANDOFF_QUEUE_FULL)


async def on_end(message: Message, bot: Bot, desk: HandoffDesk) -> None:
    """The customer ends the conversation with the operator (/ketthuc): back to the bot."""
    await desk.close(bot, message.chat.id, by_customer=True)


async def on_person(
    callback: CallbackQuery, assistant: Assistant, desk: HandoffDesk | None
) -> None:
    """ "Chuyển cho nhân viên hỗ trợ", or "Không phải — gặp nhân viên hỗ trợ" under suggestions:
    a live operator when there is one, else the contact details."""
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    operators = live(desk, message)
    if operators is None:
        await deliver(message, assistant.choose(HANDOFF), assistant.knowledge.contact)
        return
    await connect_to_person(message, callback.from_user, operators)


async def on_rate(callback: CallbackQuery, callback_data: RateCb, desk: HandoffDesk | None) -> None:
    message = callback.message
    if desk is None or not isinstance(message, Message) or not 1 <= callback_data.stars <= 5:
        await callback.answer(texts.STALE_BUTTON)
        return
    rated = await desk.rate(message.chat.id, callback_data.h, callback_data.stars)
    await callback.answer(texts.RATING_THANKS if rated else texts.RATING_TOO_LATE)
    if rated:
        with contextlib.suppress(
            TelegramBadRequest
        ):  # already edited or too old: the rating is saved anyway
            await message.edit_reply_markup(reply_markup=None)


def build_router() -> Router:
    router = Router(name="support")
    router.message.filter(WithOperator())
    router.edited_message.filter(WithOperator())
    # The customer's way out first: the relay takes everything else, commands included.
    router.message.register(on_end, Command(*texts.END_HANDOFF_COMMANDS, ignore_case=True))
    router.message.register(on_message_for_operator)
    router.edited_message.register(on_message_for_operator)
    router.callback_query.register(on_person, PersonCb.filter())
    router.callback_query.register(on_person, TopicCb.filter(F.intent == HANDOFF))
    router.callback_query.register(on_rate, RateCb.filter())
    return router
