"""The Telegram conversation, one router per feature. Routers are built by functions (a
router can be included only once, so every dispatcher gets fresh ones)."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import buttons, commands, media, questions


def build_routers() -> list[Router]:
    """In order: commands first, so that `/help` is never taken for a question."""
    return [
        commands.build_router(),
        questions.build_router(),
        media.build_router(),
        buttons.build_router(),
    ]
