"""Inline button presses. Every callback query is answered exactly once: a topic press with
an empty answer before the reply is sent, a 👍/👎 press with thanks, and anything stale,
forged or unparsable with texts.STALE_BUTTON."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot import texts
from bot.cluster.state import ChatState
from bot.engine.assistant import Assistant
from bot.engine.replies import HANDOFF
from bot.storage import Storage, WriteDeferred
from bot.telegram.handlers.common import deliver, remember, send_text
from bot.telegram.keyboards import (
    FeedbackCb,
    TopicCb,
    Vote,
    has_feedback,
    person_keyboard,
    without_feedback,
)

logger = logging.getLogger(__name__)


async def on_topic(
    callback: CallbackQuery,
    callback_data: TopicCb,
    assistant: Assistant,
    chat_state: ChatState,
) -> None:
    message = callback.message
    try:
        reply = assistant.choose(callback_data.intent)
    except KeyError:  # an intent id this knowledge does not have (old or forged button)
        reply = None
    if reply is None or not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    await remember(chat_state, message.chat.id, callback.from_user.id, reply)
    await deliver(message, reply, assistant.knowledge.contact)


async def on_feedback(
    callback: CallbackQuery,
    callback_data: FeedbackCb,
    assistant: Assistant,
    db: Storage,
    chat_state: ChatState,
) -> None:
    message = callback.message
    intent = callback_data.intent
    if (
        intent == HANDOFF
        or not assistant.knows(intent)
        or not isinstance(message, Message)
        or not await _is_their_vote(callback, callback_data, message, db)
    ):
        await callback.answer(texts.STALE_BUTTON)
        return
    up = callback_data.vote is Vote.UP
    await callback.answer(texts.FEEDBACK_THANKS_UP if up else texts.FEEDBACK_THANKS_DOWN)
    if not has_feedback(message.reply_markup):
        return  # this answer was rated already (a double tap): count it once
    user = callback.from_user
    try:
        if not await db.record_vote(user.id, intent, up, callback_data.q or None):
            return  # counted already: the first tap removes the row and updates the streak
    except WriteDeferred:  # the database is failing: the vote is kept and written later
        pass
    try:
        await message.edit_reply_markup(reply_markup=without_feedback(message.reply_markup))
    except TelegramBadRequest as exc:  # already edited, or too old to edit: harmless
        logger.info("feedback row not removed: %s", exc.message)
    if await chat_state.vote(message.chat.id, user.id, callback_data.q, up):
        await send_text(message, texts.PERSON_OFFER, reply_markup=person_keyboard())


async def _is_their_vote(
    callback: CallbackQuery, data: FeedbackCb, message: Message, db: Storage
) -> bool:
    """A vote counts only from the person who asked, on the answer they got. Callback data
    can be forged, so the question's row decides (who asked, under their pseudonymous key,
    and the intent they were answered with). An answer to a topic button has no question
    (q=0): that vote counts only in the user's own private chat, and only when its data is a
    button of the message Telegram says was pressed (that message is Telegram's word, not
    the client's), so it is a vote on the answer shown there."""
    user = callback.from_user
    if data.q:
        return await db.may_vote(user.id, data.q, data.intent)
    markup = message.reply_markup
    buttons = () if markup is None else (b for row in markup.inline_keyboard for b in row)
    return message.chat.id == user.id and any(b.callback_data == callback.data for b in buttons)


async def on_stale(callback: CallbackQuery) -> None:
    await callback.answer(texts.STALE_BUTTON)


def build_router() -> Router:
    router = Router(name="buttons")
    router.callback_query.register(on_topic, TopicCb.filter())
    router.callback_query.register(on_feedback, FeedbackCb.filter())
    router.callback_query.register(on_stale)
    return router
