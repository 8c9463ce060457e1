"""What the handlers share: who a message is addressed to, the answered topic kept for a
follow-up, and turning an Assistant Reply into Telegram messages (escaped, split, with
keyboards and a contact card)."""

from __future__ import annotations

import re
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.methods import TelegramMethod
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters, TelegramObject, User
from magic_filter import MagicFilter

from bot import texts
from bot.cluster.state import ChatState
from bot.engine.knowledge import SMALL_TALK, Contact
from bot.engine.replies import Reply
from bot.telegram.keyboards import reply_keyboard
from bot.telegram.outbox import Outbox
from bot.telegram.text import quote, shorten, split_text

GROUP_CHATS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
QUOTED_QUESTION_LIMIT = 300
_MENTION_TRIM = " \t\n,.:;!-–—"


def is_group(message: Message) -> bool:
    return message.chat.type in GROUP_CHATS


def strip_mention(text: str, username: str | None) -> tuple[bool, str]:
    """(whether `@username` occurs in `text`, the text without it)."""
    if not username:
        return False, text
    pattern = re.compile(rf"(?<![\w@])@{re.escape(username)}(?!\w)", re.IGNORECASE)
    stripped, count = pattern.subn(" ", text)
    if not count:
        return False, text
    return True, " ".join(stripped.split()).strip(_MENTION_TRIM)


def replies_to(message: Message, user: User) -> bool:
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == user.id


class When(Filter):
    """A magic filter (`F.text`, `F.content_type.in_(...)`) checked in the event loop.

    aiogram runs a plain magic filter through `asyncio.to_thread` (it is a synchronous
    callable), which costs a thread round trip on every update it sees; wrapped in an async
    Filter it is checked in place.
    """

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> bool:
        return bool(self.magic.resolve(event))


class CommandLike(Filter):
    """Text (or a caption) starting with "/": the only messages a command filter can take.
    As a router-level filter it spares every other message the routers' command parsing."""

    async def __call__(self, message: Message) -> bool:
        return (message.text or message.caption or "").startswith("/")


class Addressed(Filter):
    """Messages meant for the bot. Private chats: all. Groups: only those that mention the bot
    (@username) or reply to one of its messages; the handler gets `question`, the text (or
    caption) without the mention. Other chats (channels): none."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        text = message.text or message.caption or ""
        if message.chat.type == ChatType.PRIVATE:
            return {"question": text.strip()}
        if not is_group(message):
            return False
        me = await bot.me()
        mentioned, question = strip_mention(text, me.username)
        if mentioned or replies_to(message, me):
            return {"question": question.strip()}
        return False


class FromPerson(Filter):
    """Messages written by a person. Another bot's message is never answered: two bots that
    answer each other's replies never stop. (Someone posting as a group or a channel shows
    as a bot with `sender_chat` set: a person all the same.)"""

    async def __call__(self, message: Message) -> bool:
        user = message.from_user
        return user is None or not user.is_bot or message.sender_chat is not None


async def remember(state: ChatState, chat_id: int, user_id: int | None, reply: Reply) -> None:
    """Keep the answered topic for a follow-up ("thế còn ngoại thành?"); small talk ("cảm ơn")
    does not replace it."""
    intent = reply.decision.intent
    if reply.decision.action == "answer" and intent is not None and intent not in SMALL_TALK:
        await state.remember(chat_id, user_id, intent)


def group_reply_to(message: Message) -> ReplyParameters | None:
    """In a group, the bot's reply quotes the user's message so it is clear whom it answers."""
    if not is_group(message):
        return None
    return ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)


async def send_text(
    target: Message,
    text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_parameters: ReplyParameters | None = None,
) -> None:
    """Send plain `text` to the chat of `target`: split to fit, each part HTML-escaped; the
    keyboard goes under the last part, the quote on the first."""
    parts = split_text(text)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await target.answer(
            quote(part),
            reply_markup=reply_markup if last else None,
            reply_parameters=reply_parameters if index == 0 else None,
        )


async def send_contact_card(target: Message, contact: Contact) -> None:
    """A contact card the user can tap to call."""
    await target.answer_contact(
        phone_number=contact.phone,
        first_name=texts.CONTACT_CARD_NAME,
        last_name=contact.organization,
    )


def wants_feedback(reply: Reply) -> bool:
    decision = reply.decision
    return decision.action == "answer" and decision.intent not in SMALL_TALK


async def deliver(
    target: Message,
    reply: Reply,
    contact: Contact,
    *,
    feedback: bool = True,
    question: str | None = None,
    question_id: int = 0,
    person: bool = False,
    reply_parameters: ReplyParameters | None = None,
    outbox: Outbox | None = None,
    update_id: int | None = None,
) -> TelegramMethod[Any] | None:
    """Show an Assistant Reply in the chat of `target`.

    answer: the text, related topics and (when `feedback`) a 👍/👎 row under
    texts.FEEDBACK_QUESTION; suggest: texts.SUGGEST_INTRO and one button per candidate;
    handoff: apology and contact details (plus the user's `question`, so they can pass it on),
    and the "Chuyển cho nhân viên hỗ trợ" button when `person` (live handoff is on).
    A contact card follows whenever the reply asks for one. `question_id` (the question's row
    in the database) rides on the 👍/👎 buttons.

    With an `outbox` in webhook mode (and the update's id), the reply's last part is not sent
    but returned, for the handler to return: it goes in the webhook's response; the contact
    card (and any earlier part) is sent before it, at most once (see bot.telegram.outbox).
    """
    feedback = feedback and wants_feedback(reply)
    text = reply.text
    if feedback:
        text = f"{text}\n\n{texts.FEEDBACK_QUESTION}"
    if reply.decision.action == "handoff" and question:
        quoted = texts.HANDOFF_QUESTION.format(question=shorten(question, QUOTED_QUESTION_LIMIT))
        text = f"{text}\n\n{quoted}"
    keyboard = reply_keyboard(reply, feedback=feedback, question_id=question_id, person=person)
    if outbox is None or not outbox.in_response or update_id is None:
        await send_text(target, text, reply_markup=keyboard, reply_parameters=reply_parameters)
        if reply.show_contact:
            await send_contact_card(target, contact)
        return None
    if reply.show_contact and await outbox.first_time(update_id, "contact card"):
        await send_contact_card(target, contact)
    *first, last = split_text(text)
    for index, part in enumerate(first):
        if await outbox.first_time(update_id, f"part {index}"):
            await target.answer(
                quote(part), reply_parameters=reply_parameters if index == 0 else None
            )
    return target.answer(
        quote(last),
        reply_markup=keyboard,
        reply_parameters=None if first else reply_parameters,
    )
