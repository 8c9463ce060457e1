"""Any text addressed to the bot goes to the Assistant, with the chat's follow-up context."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from bot import texts
from bot.assistant import Assistant, FollowUpContext
from bot.handlers.common import (
    Addressed,
    conversation_key,
    deliver,
    group_reply_to,
    is_group,
    remember,
    send_text,
)


async def on_question(
    message: Message, question: str, assistant: Assistant, follow_ups: FollowUpContext
) -> None:
    reply_to = group_reply_to(message)
    if not question:
        empty = texts.MENTION_ONLY if is_group(message) else texts.EMPTY_QUESTION
        await send_text(message, empty, reply_parameters=reply_to)
        return
    key = conversation_key(message.chat.id, message.from_user.id if message.from_user else None)
    reply = assistant.ask(question, follow_ups.get(key))
    remember(follow_ups, key, reply)
    await deliver(
        message,
        reply,
        assistant.knowledge.contact,
        question=question,
        reply_parameters=reply_to,
    )


def build_router() -> Router:
    router = Router(name="questions")
    router.message.register(on_question, F.text, Addressed())
    router.edited_message.register(on_question, F.text, Addressed())
    return router
