"""The pieces of live handoff that need no Telegram: recognising a request for a person, the
two-failures rule, and the operator group's rate limit."""

from __future__ import annotations

import pytest

from bot.engine.person_request import asks_for_person
from bot.support.handoff import COPY, OPEN, FailureStreak, FairQueue, RateWindow, Relay


@pytest.mark.parametrize(
    "text",
    [
        "cho tôi gặp nhân viên",
        "cho toi gap nhan vien",
        "Tôi muốn nói chuyện với người thật",
        "kết nối tư vấn viên giúp mình",
        "chuyển cho nhân viên hỗ trợ",
        "cho mình chat với admin",
        "Nhân viên ơi",
        "nhân viên",
        "I want to talk to a real person",
        "human please",
    ],
)
def test_a_request_for_a_person_is_recognised(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "số điện thoại hỗ trợ",
        "CMO quản lý bao nhiêu nhân viên",
        "CSO cần kỹ năng gì",
        "nhân viên sales khác CSO thế nào",
        "hỗ trợ 24/7 không",
        "tôi muốn hỏi về nhân viên kinh doanh",
    ],
)
def test_a_question_that_mentions_staff_is_not_a_request_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


def test_two_failures_in_a_row_offer_a_person_once() -> None:
    streak = FailureStreak()
    assert not streak.question(1, question_id=10, failed=True)  # handed off
    assert streak.question(1, question_id=11, failed=True)  # handed off again: offer
    assert not streak.question(1, question_id=12, failed=True)  # offered already
    assert not streak.question(1, question_id=13, failed=False)  # answered: streak over
    assert streak.vote(1, question_id=13, up=False)  # 12 handed off, 13 got 👎: a new streak
    assert not streak.question(1, question_id=14, failed=False)


def test_a_thumbs_down_on_two_answers_offers_a_person() -> None:
    streak = FailureStreak()
    assert not streak.question(7, question_id=1, failed=False)
    assert not streak.vote(7, question_id=1, up=False)
    assert not streak.question(7, question_id=2, failed=False)
    assert streak.vote(7, question_id=2, up=False)


def test_a_thumbs_up_ends_the_streak_and_conversations_are_separate() -> None:
    streak = FailureStreak()
    streak.question(1, question_id=1, failed=True)
    assert not streak.question(2, question_id=2, failed=True)  # another conversation
    streak.question(1, question_id=3, failed=False)
    assert not streak.vote(1, question_id=3, up=True)
    assert not streak.question(1, question_id=4, failed=True)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_the_operator_queue_keeps_within_twenty_messages_a_minute() -> None:
    clock = Clock()
    window = RateWindow(20, 60.0, clock=clock, sleep=clock.sleep)
    sent_at = []
    for _ in range(45):
        await window.acquire()
        sent_at.append(clock.now)
        clock.now += 0.1  # sending takes a moment
    assert sent_at[19] < 60 <= sent_at[20]  # the 21st waits for the first minute to pass
    for i in range(len(sent_at)):
        in_a_minute = [t for t in sent_at if sent_at[i] <= t < sent_at[i] + 59.999]
        assert len(in_a_minute) <= 20


def test_votes_from_many_conversations_keep_the_streaks_within_their_cap() -> None:
    streak = FailureStreak(max_size=3)
    for conversation in range(10):
        streak.vote(conversation, question_id=conversation, up=False)  # a 👎, no question seen
    assert len(streak) <= 3
    # The newest conversations are the ones kept: a second 👎 there still offers a person.
    assert streak.vote(9, question_id=99, up=False)


async def test_the_operator_queue_serves_customers_in_turn_each_in_order() -> None:
    queue = FairQueue()
    for n in range(25):
        queue.put(Relay(1, COPY, {"n": n}))  # one customer's backlog
    first = await queue.take()
    queue.put(Relay(2, OPEN, {}))  # a new customer asks for a person
    queue.put(Relay(2, COPY, {"n": 0}))
    served = [first] + [await queue.take() for _ in range(len(queue))]

    assert [(r.chat_id, r.kind) for r in served[:4]] == [(1, COPY), (1, COPY), (2, OPEN), (1, COPY)]
    assert [r.data["n"] for r in served if r.chat_id == 1] == list(range(25))
    assert [r.kind for r in served if r.chat_id == 2] == [OPEN, COPY]
    assert len(queue) == 0


async def test_an_item_taken_but_not_sent_goes_back_first() -> None:
    queue = FairQueue()
    for chat in (1, 2):
        queue.put(Relay(chat, COPY, {"n": 0}))
        queue.put(Relay(chat, COPY, {"n": 1}))
    taken = await queue.take()
    queue.put_back(taken)
    assert queue.waiting(1) == 2
    again = await queue.take()
    assert (again.chat_id, again.data) == (1, {"n": 0})
