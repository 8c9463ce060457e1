"""Stickers, photos, voice notes, locations…: the bot reads text only, and says so politely."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.types import Message

from bot import texts
from bot.telegram.handlers.common import Addressed, When, group_reply_to, send_text

# What a person sends; service messages (someone joined, a pin…) get no answer.
NON_TEXT: frozenset[ContentType] = frozenset(
    {
        ContentType.ANIMATION,
        ContentType.AUDIO,
        ContentType.CHECKLIST,
        ContentType.CONTACT,
        ContentType.DICE,
        ContentType.DOCUMENT,
        ContentType.GAME,
        ContentType.LIVE_PHOTO,
        ContentType.LOCATION,
        ContentType.PAID_MEDIA,
        ContentType.PHOTO,
        ContentType.POLL,
        ContentType.STICKER,
        ContentType.STORY,
        ContentType.VENUE,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.VOICE,
    }
)


async def on_non_text(message: Message) -> None:
    await send_text(message, texts.NON_TEXT, reply_parameters=group_reply_to(message))


def build_router() -> Router:
    router = Router(name="media")
    media = When(F.content_type.in_(NON_TEXT))
    router.message.register(on_non_text, media, Addressed())
    router.edited_message.register(on_non_text, media, Addressed())
    return router
