"""Inline keyboards and the callback data behind their buttons.

Callback data is built with aiogram's CallbackData factories: a one-letter prefix and an
intent id (`t:plans_prices`, `f:plans_prices:up`), far below Telegram's 64-byte limit and never
containing anything the user typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from bot import texts
from bot.engine.replies import Choice, Reply

# A row id in the database, within SQLite's INTEGER range. Forged callback data with an id
# outside it does not unpack (the press is a stale button) instead of reaching the database,
# whose driver raises OverflowError on it.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]


class TopicCb(CallbackData, prefix="t"):
    """Answer this intent (a start topic, a related topic, a suggestion, or "handoff")."""

    intent: str


class Vote(StrEnum):
    UP = "up"
    DOWN = "down"


class FeedbackCb(CallbackData, prefix="f"):
    """👍/👎 on the answer to `intent`, given to question `q` (its row in the database)."""

    intent: str
    vote: Vote
    q: RowId = 0


class PersonCb(CallbackData, prefix="p"):
    """ "Chuyển cho nhân viên hỗ trợ": a live operator when there is one, else the contacts."""


class RateCb(CallbackData, prefix="r"):
    """The user's 1-5 rating of handoff `h`."""

    h: RowId
    stars: int


class CloseCb(CallbackData, prefix="c"):
    """An operator closes handoff `h` from the button under the topic's card."""

    h: RowId


@lru_cache(maxsize=1024)
def _topic_button(choice: Choice) -> InlineKeyboardButton:
    # Cached: the same few topic buttons go under most answers, and the bot never changes a
    # button once built (a frozen pydantic model would be the stricter spelling of that).
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


def topics_keyboard(items: Iterable[tuple[str, str]]) -> InlineKeyboardMarkup:
    """The /start menu: the knowledge's topic buttons (intent, label), two a row."""
    choices = (Choice(intent, label) for intent, label in items)
    return InlineKeyboardMarkup(inline_keyboard=_grid(map(_topic_button, choices), 2))


def feedback_row(intent: str, question_id: int = 0) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(text=label, callback_data=feedback_data(intent, vote, question_id))
        for label, vote in ((texts.FEEDBACK_UP, Vote.UP), (texts.FEEDBACK_DOWN, Vote.DOWN))
    ]


def feedback_data(intent: str, vote: Vote, question_id: int) -> str:
    """`FeedbackCb(intent=intent, vote=vote, q=question_id).pack()`, every answer's two 👍/👎
    buttons. Building and packing the model twice an answer was most of an answer's keyboard
    and 2.4 % of a text question's instructions; aiogram packs the part before the question id
    once per intent and vote, and the id, an int at the end, is written as aiogram writes one.
    Whatever aiogram would refuse (an id out of range, data too long) goes to aiogram, which
    raises; so does anything when the packed form is not as expected."""
    prefix = _feedback_prefix(intent, vote)
    if prefix is not None and type(question_id) is int and 0 <= question_id <= MAX_ROW_ID:
        data = f"{prefix}{question_id}"
        if len(data.encode()) <= MAX_CALLBACK_LENGTH:
            return data
    return FeedbackCb(intent=intent, vote=vote, q=question_id).pack()


@lru_cache(maxsize=1024)
def _feedback_prefix(intent: str, vote: Vote) -> str | None:
    """aiogram's packing of the vote on `intent` for question 0, without the 0 (None if it
    does not end with the separator and 0, or if aiogram refuses it)."""
    try:
        packed = FeedbackCb(intent=intent, vote=vote, q=0).pack()
    except ValueError:  # pydantic's ValidationError too: the slow path raises it for the caller
        return None
    # The separator stays, the 0 goes.
    return packed[:-1] if packed.endswith(FeedbackCb.__separator__ + "0") else None


def person_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.PERSON_BUTTON, callback_data=PersonCb().pack())


def person_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[person_button()]])


def rating_keyboard(handoff_id: int) -> InlineKeyboardMarkup:
    """1-5 stars, one row."""
    buttons = [
        InlineKeyboardButton(
            text=texts.RATING_LABEL.format(stars=stars),
            callback_data=RateCb(h=handoff_id, stars=stars).pack(),
        )
        for stars in range(1, 6)
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def close_keyboard(handoff_id: int) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=texts.CLOSE_BUTTON, callback_data=CloseCb(h=handoff_id).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def reply_keyboard(
    reply: Reply, *, feedback: bool, question_id: int = 0, person: bool = False
) -> InlineKeyboardMarkup | None:
    """Buttons under a reply.

    * suggest: one candidate a row (its title), the last one "gặp nhân viên hỗ trợ";
    * answer: related topics two a row, then the 👍/👎 row when `feedback`;
    * handoff: "Chuyển cho nhân viên hỗ trợ" when `person` (live handoff is on), else none.
    """
    rows: list[list[InlineKeyboardButton]] = []
    if reply.decision.action == "suggest":
        rows = [[_topic_button(choice)] for choice in reply.choices]
    elif reply.decision.action == "answer":
        rows = _grid(map(_topic_button, reply.choices), 2)
        if feedback and reply.decision.intent is not None:
            rows.append(feedback_row(reply.decision.intent, question_id))
    elif person:
        rows = [[person_button()]]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


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


# --------------------------------------------------------------------------- admin


class AssignCb(CallbackData, prefix="a"):
    """Admin: file the unanswered group whose representative is question `q` (its row id)."""

    q: RowId


class AssignToCb(CallbackData, prefix="ai"):
    """Admin: add question `q` as a phrasing of `intent`, and file its group there."""

    q: RowId
    intent: str


def assign_keyboard(groups: Iterable[tuple[int, str, int]]) -> InlineKeyboardMarkup:
    """/unanswered: one button a row per (representative question id, its text, count)."""
    rows = [
        [
            InlineKeyboardButton(
                text=texts.ADMIN_GROUP_BUTTON.format(id=question_id, question=text, count=count),
                callback_data=AssignCb(q=question_id).pack(),
            )
        ]
        for question_id, text, count in groups
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def intents_keyboard(
    question_id: int, intents: Iterable[tuple[str, str]], best_guess: str | None = None
) -> InlineKeyboardMarkup:
    """The intents (id, title) to file question `question_id` under, one a row; the bot's
    best guess first, marked."""
    items = list(intents)
    items.sort(key=lambda item: item[0] != best_guess)  # stable: the rest keep their order
    rows = [
        [
            InlineKeyboardButton(
                text=texts.ADMIN_BEST_GUESS_BUTTON.format(title=title)
                if intent == best_guess
                else title,
                callback_data=AssignToCb(q=question_id, intent=intent).pack(),
            )
        ]
        for intent, title in items
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
