"""Inline keyboards and the callback data behind their buttons.

Callback data is built with aiogram's CallbackData factories: a one-letter prefix and an
intent id (`t:cmo_skills`, `f:cmo_skills:up`), far below Telegram's 64-byte limit and never
containing anything the user typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import texts
from bot.replies import Choice, Reply


class TopicCb(CallbackData, prefix="t"):
    """Answer this intent (a start topic, a related topic, a suggestion, or "handoff")."""

    intent: str


class Vote(StrEnum):
    UP = "up"
    DOWN = "down"


class FeedbackCb(CallbackData, prefix="f"):
    """👍/👎 on the answer to `intent`."""

    intent: str
    vote: Vote


def _topic_button(choice: Choice) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=choice.label, callback_data=TopicCb(intent=choice.intent).pack()
    )


def _grid(buttons: Iterable[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    row: list[InlineKeyboardButton] = []
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        row.append(button)
        if len(row) == width:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return rows


def topics_keyboard() -> InlineKeyboardMarkup:
    """The /start menu: texts.TOPIC_BUTTONS, two a row."""
    choices = (Choice(intent, label) for intent, label in texts.TOPIC_BUTTONS)
    return InlineKeyboardMarkup(inline_keyboard=_grid(map(_topic_button, choices), 2))


def feedback_row(intent: str) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text=texts.FEEDBACK_UP, callback_data=FeedbackCb(intent=intent, vote=Vote.UP).pack()
        ),
        InlineKeyboardButton(
            text=texts.FEEDBACK_DOWN,
            callback_data=FeedbackCb(intent=intent, vote=Vote.DOWN).pack(),
        ),
    ]


def reply_keyboard(reply: Reply, *, feedback: bool) -> InlineKeyboardMarkup | None:
    """Buttons under a reply.

    * suggest: one candidate a row (its title), the last one "gặp nhân viên hỗ trợ";
    * answer: related topics two a row, then the 👍/👎 row when `feedback`;
    * handoff: none.
    """
    builder = InlineKeyboardBuilder()
    if reply.decision.action == "suggest":
        for choice in reply.choices:
            builder.row(_topic_button(choice))
    elif reply.decision.action == "answer":
        for row in _grid(map(_topic_button, reply.choices), 2):
            builder.row(*row)
        if feedback and reply.decision.intent is not None:
            builder.row(*feedback_row(reply.decision.intent))
    if not list(builder.buttons):
        return None
    return builder.as_markup()


def is_feedback_button(button: InlineKeyboardButton) -> bool:
    data = button.callback_data or ""
    return data.startswith(FeedbackCb.__prefix__ + FeedbackCb.__separator__)


def without_feedback(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """The same keyboard minus its 👍/👎 buttons (None when nothing is left)."""
    if markup is None:
        return None
    rows = [
        [button for button in row if not is_feedback_button(button)]
        for row in markup.inline_keyboard
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def has_feedback(markup: InlineKeyboardMarkup | None) -> bool:
    return markup is not None and any(
        is_feedback_button(button) for row in markup.inline_keyboard for button in row
    )
