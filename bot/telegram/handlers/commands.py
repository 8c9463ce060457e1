"""/start, /help, /contact, and a polite word for commands the bot does not have."""

from __future__ import annotations

import re

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart, Filter
from aiogram.types import Message

from bot import texts
from bot.engine.assistant import Assistant
from bot.telegram.handlers.common import CommandLike, deliver, group_reply_to, send_text
from bot.telegram.keyboards import topics_keyboard

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{3,32}))?")


class OtherCommand(Filter):
    """A command this bot does not know, addressed to it: in a private chat any `/word`, in a
    group only `/word@this_bot` (a bare `/word` there may be for another bot)."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        text = message.text or ""
        match = _COMMAND.match(text.split(maxsplit=1)[0]) if text.startswith("/") else None
        if match is None or match.end() != len(text.split(maxsplit=1)[0]):
            return False
        mention = match.group(2)
        if mention:
            me = await bot.me()
            return mention.lower() == (me.username or "").lower()
        return message.chat.type == ChatType.PRIVATE


async def on_start(message: Message, assistant: Assistant) -> None:
    name = message.from_user.first_name if message.from_user else ""
    greeting = texts.START_GREETING.format(name=name) if name else texts.START_GREETING_ANONYMOUS
    knowledge = assistant.knowledge
    intro = knowledge.texts.start or assistant.choose("help").text
    menu_title = knowledge.texts.menu_title or texts.START_TOPICS
    text = "\n\n".join([greeting, intro, menu_title])
    await send_text(
        message,
        text,
        reply_markup=topics_keyboard(knowledge.menu_items()),
        reply_parameters=group_reply_to(message),
    )


async def _answer_topic(message: Message, assistant: Assistant, intent: str) -> None:
    await deliver(
        message,
        assistant.choose(intent),
        assistant.knowledge.contact,
        feedback=False,
        reply_parameters=group_reply_to(message),
    )


async def on_help(message: Message, assistant: Assistant) -> None:
    await _answer_topic(message, assistant, "help")


async def on_contact(message: Message, assistant: Assistant) -> None:
    await _answer_topic(message, assistant, "contact")


async def on_other_command(message: Message) -> None:
    await send_text(message, texts.UNKNOWN_COMMAND, reply_parameters=group_reply_to(message))


def build_router() -> Router:
    router = Router(name="commands")
    for observer in (router.message, router.edited_message):
        observer.filter(CommandLike())
        observer.register(on_start, CommandStart(ignore_case=True))
        observer.register(on_help, Command("help", ignore_case=True))
        observer.register(on_contact, Command("contact", ignore_case=True))
        observer.register(on_other_command, OtherCommand())
    return router
