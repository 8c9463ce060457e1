"""Three `python -m bot webhook` processes sharing PostgreSQL (DATABASE_URL) and Redis
(REDIS_URL), with the Bot API stand-in delivering Telegram's updates to them in turn: one
customer's quick messages are answered in order with follow-ups resolved across instances,
and a burst survives one instance being SIGKILLed, every question answered once and stored
once.

Needs the shared database and the shared per-chat state (`python -m bot migrate`, aiogram's
Redis storage and events isolation): it passes once those branches are merged."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import build_assistant
from bot.cluster.state import LocalChatState
from bot.cluster.updates import CLAIM_TTL
from bot.engine.assistant import Assistant, FollowUpContext
from bot.settings import Settings
from bot.support.handoff import FailureStreak
from bot.telegram.handlers.common import remember
from tests.support.fake_telegram import FakeTelegram
from tests.support.instances import migrate, stored_questions
from tests.support.live_polling import shown, until
from tests.support.processes import TOKEN, WebhookInstance, start_instances

LAN = 111


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
async def three(
    fake: FakeTelegram,
    tmp_path: Path,
    postgres_url: str,
    redis_service: tuple[str, str],
) -> AsyncIterator[list[WebhookInstance]]:
    """Three instances, each with a DATA_DIR of its own, on one database and one Redis."""
    url, prefix = redis_service
    migrate(tmp_path / "migrate", postgres_url)
    instances = await start_instances(
        fake,
        tmp_path,
        3,
        DATABASE_URL=postgres_url,
        REDIS_URL=url,
        REDIS_PREFIX=prefix,
        FLOOD_BURST="10",  # the customers type at machine speed; flood control has its tests
    )
    try:
        yield instances
    finally:
        for instance in instances:
            if instance.process.proc.poll() is None:
                await instance.process.stop()


async def conversation(assistant: Assistant, questions: list[str]) -> list[str]:
    """The answers one instance would give, in order, with the follow-up context."""
    state = LocalChatState({"follow_ups": FollowUpContext(600), "streaks": FailureStreak()})
    answers = []
    for question in questions:
        reply = assistant.ask(question, await state.follow_up(LAN, LAN))
        await remember(state, LAN, LAN, reply)
        answers.append(reply.text)
    return answers


async def test_ten_quick_messages_spread_over_the_instances_are_answered_in_order(
    fake: FakeTelegram,
    three: list[WebhookInstance],
    assistant: Assistant,
    postgres_url: str,
) -> None:
    questions = [
        "CSO cần kỹ năng gì?",
        "còn CMO thì sao?",
        "CSO là gì?",
        "CMO là gì?",
        "CSO và CMO khác nhau thế nào?",
        "kỹ năng của CSO",
        "còn CMO thì sao?",
        "doanh nghiệp nhỏ có cần CMO không?",
        "CSO cần kỹ năng gì?",
        "còn CMO thì sao?",
    ]
    expected = await conversation(assistant, questions)

    async with fake.deliver_webhooks([i.url for i in three]) as delivery:
        ids = [fake.user_text(question, user_id=LAN) for question in questions]
        for update_id in ids:
            await delivery.wait_acknowledged(update_id, within=30)
        await fake.wait_idle()

    assert len({delivery.acknowledged[update_id] for update_id in ids}) == 3
    answers = shown(fake, LAN)
    assert len(answers) == len(questions)
    for answer, wanted in zip(answers, expected, strict=True):
        assert answer.startswith(wanted)
    assert await stored_questions(postgres_url) == Counter(questions)


PHRASINGS = (
    "CSO là gì",
    "CMO là gì",
    "CSO và CMO khác nhau thế nào",
    "doanh nghiệp nhỏ có cần CMO không",
    "kỹ năng của CSO",
    "số điện thoại hỗ trợ",
    "thời tiết hôm nay thế nào",
)


def question(user: int, n: int) -> str:
    """A question no other user or turn asks with the same words."""
    return f"{PHRASINGS[(user + n) % len(PHRASINGS)]} (khách {user}, câu {n})"


async def test_an_instance_killed_during_a_burst_loses_no_question_and_repeats_no_answer(
    fake: FakeTelegram,
    three: list[WebhookInstance],
    assistant: Assistant,
    postgres_url: str,
) -> None:
    users = range(7000, 7200)
    asked = {(user, n): question(user, n) for n in range(3) for user in users}
    doomed = three[0]

    async with fake.deliver_webhooks([i.url for i in three], retry_delay=0.2) as delivery:
        ids = [fake.user_text(text, user_id=user) for (user, _), text in asked.items()]
        await until(lambda: len(fake.sent_messages()) >= 150, within=60)
        doomed.kill()  # SIGKILL in the middle of the burst
        for update_id in ids:
            await delivery.wait_acknowledged(update_id, within=CLAIM_TTL + 60)
        await fake.wait_idle(quiet=0.5, timeout=30)

    answered_by_doomed = [u for u in ids if delivery.acknowledged[u] == doomed.url]
    assert 0 < len(answered_by_doomed) < len(ids), "the kill should land mid-burst"
    for user in users:
        expected = sorted(assistant.ask(asked[user, n]).text for n in range(3))
        answers = sorted(shown(fake, user))
        assert len(answers) == 3, (user, answers)
        for answer, wanted in zip(answers, expected, strict=True):
            assert answer.startswith(wanted), (user, answer, wanted)
    assert await stored_questions(postgres_url) == Counter(asked.values())
