"""The conversation state in aiogram's Redis storage: follow-up context and failure streaks,
the same on whichever instance the next message arrives (a real Redis)."""

from __future__ import annotations

import pytest

from bot.cluster.redis import Cluster
from bot.cluster.state import SharedChatState
from tests.support.conversation import settings
from tests.support.redis_server import own_redis

BOT_ID = 123456
LAN, MINH = 111, 222
GROUP = -100777


@pytest.fixture
def instances(clusters: tuple[Cluster, Cluster]) -> tuple[SharedChatState, SharedChatState]:
    first, second = clusters
    return SharedChatState(first, BOT_ID, 600), SharedChatState(second, BOT_ID, 600)


async def test_a_follow_up_on_one_instance_continues_the_topic_answered_on_another(
    instances: tuple[SharedChatState, SharedChatState],
) -> None:
    a, b = instances
    await a.remember(LAN, LAN, "cso_skills")

    assert await b.follow_up(LAN, LAN) == "cso_skills"
    assert await b.follow_up(MINH, MINH) is None


async def test_two_people_in_a_group_do_not_continue_each_others_questions(
    instances: tuple[SharedChatState, SharedChatState],
) -> None:
    a, b = instances
    await a.remember(GROUP, LAN, "cso_skills")
    await b.remember(GROUP, MINH, "cmo_skills")

    assert await b.follow_up(GROUP, LAN) == "cso_skills"
    assert await a.follow_up(GROUP, MINH) == "cmo_skills"


async def test_the_follow_up_context_is_forgotten_after_its_ttl(
    instances: tuple[SharedChatState, SharedChatState],
) -> None:
    a, _ = instances
    await a.remember(LAN, LAN, "cso_skills")
    match = f"{a.follow_ups.key_builder.prefix}*follow_up*"  # type: ignore[attr-defined]
    keys = [key async for key in a.follow_ups.redis.scan_iter(match=match)]

    assert len(keys) == 1
    assert 0 < await a.follow_ups.redis.ttl(keys[0]) <= 600  # FOLLOW_UP_TTL


async def test_two_failures_in_a_row_offer_a_person_once_whichever_instance_sees_them(
    instances: tuple[SharedChatState, SharedChatState],
) -> None:
    a, b = instances
    assert not await a.question(LAN, LAN, question_id=10, failed=True)  # handed off
    assert await b.question(LAN, LAN, question_id=11, failed=True)  # again: offer
    assert not await a.question(LAN, LAN, question_id=12, failed=True)  # offered already
    assert not await b.question(LAN, LAN, question_id=13, failed=False)  # answered
    assert await a.vote(LAN, LAN, question_id=13, up=False)  # 12 handed off, 13 got 👎
    assert not await b.question(LAN, LAN, question_id=14, failed=False)


async def test_a_thumbs_up_without_a_streak_remembers_nothing(
    instances: tuple[SharedChatState, SharedChatState],
) -> None:
    a, b = instances
    assert not await a.vote(LAN, LAN, question_id=1, up=True)
    assert not await b.vote(LAN, LAN, question_id=2, up=False)
    assert await a.vote(LAN, LAN, question_id=3, up=False)  # two 👎 in a row


async def test_while_redis_is_away_there_is_no_follow_up_and_then_there_is_again() -> None:
    async with own_redis() as server:
        cluster = Cluster.from_settings(settings(redis_url=server.url, redis_prefix="bot"))
        state = SharedChatState(cluster, BOT_ID, 600)
        try:
            await state.remember(LAN, LAN, "cso_skills")
            await server.stop()

            assert await state.follow_up(LAN, LAN) is None  # lost, never an error
            await state.remember(LAN, LAN, "cmo_skills")
            assert not await state.question(LAN, LAN, question_id=1, failed=True)

            await server.start()  # an empty Redis: what it held is gone
            assert await state.follow_up(LAN, LAN) is None
            await state.remember(LAN, LAN, "cmo_skills")
            assert await state.follow_up(LAN, LAN) == "cmo_skills"
        finally:
            await cluster.close()
