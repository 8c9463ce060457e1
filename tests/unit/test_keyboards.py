"""The 👍/👎 buttons under an answer carry exactly the callback data aiogram packs for them,
however the bot writes it, and whatever aiogram refuses is refused the same way."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.cli import build_assistant
from bot.settings import Settings
from bot.telegram.keyboards import MAX_ROW_ID, FeedbackCb, Vote, feedback_data, feedback_row


def aiogram_s(intent: str, vote: Vote, question_id: int) -> str:
    return FeedbackCb(intent=intent, vote=vote, q=question_id).pack()


def test_every_answer_s_buttons_carry_what_aiogram_packs() -> None:
    knowledge = build_assistant(Settings.model_validate({"bot_token": "1:T"})).knowledge
    for entry in knowledge.entries:
        for question_id in (0, 1, 42, 10**12, MAX_ROW_ID):
            up, down = feedback_row(entry.id, question_id)
            assert up.callback_data == aiogram_s(entry.id, Vote.UP, question_id)
            assert down.callback_data == aiogram_s(entry.id, Vote.DOWN, question_id)
            assert FeedbackCb.unpack(down.callback_data or "") == FeedbackCb(
                intent=entry.id, vote=Vote.DOWN, q=question_id
            )


@given(
    intent=st.text(max_size=70),
    vote=st.sampled_from(Vote),
    question_id=st.integers(min_value=-3, max_value=2**64),
)
@example(intent="a:b", vote=Vote.UP, question_id=1)  # the separator in a value
@example(intent="x" * 38, vote=Vote.DOWN, question_id=MAX_ROW_ID)  # 65 bytes: too long
@example(intent="x" * 37, vote=Vote.DOWN, question_id=MAX_ROW_ID)  # 64 bytes: just fits
@example(intent="kỹ_năng", vote=Vote.UP, question_id=2**63)  # past a row id
@example(intent="", vote=Vote.UP, question_id=-1)
def test_the_data_is_aiogram_s_or_aiogram_s_refusal(
    intent: str, vote: Vote, question_id: int
) -> None:
    try:
        expected = aiogram_s(intent, vote, question_id)
    except ValueError as refusal:  # pydantic's ValidationError is one too
        with pytest.raises(type(refusal)):
            feedback_data(intent, vote, question_id)
    else:
        assert feedback_data(intent, vote, question_id) == expected
