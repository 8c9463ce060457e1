"""Two instances of the bot sharing one Redis (REDIS_URL): two dispatchers built from the same
settings, each with its own Bot on a recording session, and one customer whose messages reach
either of them. Whichever instance gets a message, the conversation goes on as with one bot."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot import texts
from bot.cli import build_assistant
from bot.cluster.leases import Lease
from bot.cluster.limits import SharedWindow
from bot.cluster.order import ChatLocks
from bot.cluster.redis import Cluster
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.telegram.app import build_bot, build_dispatcher
from tests.support.conversation import (
    LAN,
    Conversation,
    RecordingSession,
    messages,
    seen,
    settings,
)
from tests.support.redis_server import own_redis

OPERATORS = -100999
CMO_SKILLS = "Để làm tốt vai trò CMO, cần có những kỹ năng sau:"
QUESTIONS = (
    "CSO là gì?",
    "CMO là gì?",
    "CSO và CMO khác nhau thế nào?",
    "cmo can ky nang gi",
    "cso can ky nang gi",
    "khi nao can cmo",
    "cso va cmo hop tac the nao",
    "trach nhiem cua cso",
    "CSO cần kỹ năng gì?",
    "CMO là gì?",
)


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(settings())


UPDATE_IDS = itertools.count(1)  # one Telegram: its update ids, for every instance


async def instance(
    config: Settings,
    assistant: Assistant,
    storage: Storage,
    session: RecordingSession | None = None,
) -> Conversation:
    """Lan talking to one instance: its own dispatcher and Bot, the shared Redis and database;
    the updates numbered by one Telegram, whichever instance gets them."""
    session = RecordingSession() if session is None else session
    bot = build_bot(config, session=session)
    await bot.me()
    session.calls.clear()
    dp = build_dispatcher(config, assistant, storage)
    return Conversation(dp, bot, session, LAN, update_ids=UPDATE_IDS)


async def close(*instances: Conversation) -> None:
    for each in instances:
        cluster: Cluster = each.dp["cluster"]
        await cluster.close()


@pytest.fixture
async def shared(redis_service: tuple[str, str]) -> Settings:
    url, prefix = redis_service
    return settings(
        redis_url=url,
        redis_prefix=prefix,
        flood_burst=5,
        flood_rate=0.001,  # no token comes back during a test
        operator_chat_id=OPERATORS,
        operator_rate=3,
    )


@pytest.fixture
async def two(
    shared: Settings, assistant: Assistant, storage: Storage
) -> AsyncIterator[tuple[Conversation, Conversation]]:
    a = await instance(shared, assistant, storage)
    b = await instance(shared, assistant, storage)
    try:
        yield a, b
    finally:
        await close(a, b)


async def test_a_follow_up_on_one_instance_continues_what_another_answered(
    two: tuple[Conversation, Conversation],
) -> None:
    a, b = two
    await a.says("CSO cần kỹ năng gì?")

    calls = await b.says("còn CMO thì sao?")

    assert seen(messages(calls)[0]).startswith(CMO_SKILLS)


async def test_ten_quick_messages_over_two_instances_get_the_burst_answered_and_one_notice(
    two: tuple[Conversation, Conversation],
) -> None:
    a, b = two
    replies = [await (a if n % 2 else b).says(question) for n, question in enumerate(QUESTIONS)]

    said = [[seen(call) for call in messages(calls)] for calls in replies]
    assert all(said[n] and said[n][0] != texts.FLOOD_NOTICE for n in range(5))  # FLOOD_BURST=5
    assert said[5] == [texts.FLOOD_NOTICE]
    assert said[6:] == [[]] * 4  # silence: one notice is enough


async def test_a_thumbs_down_on_each_instances_answer_offers_a_person(
    two: tuple[Conversation, Conversation],
) -> None:
    a, b = two
    first = await a.says("CSO là gì?")
    assert texts.PERSON_OFFER not in [seen(c) for c in messages(await a.press("👎", on=first))]
    second = await b.says("CMO là gì?")

    calls = await b.press("👎", on=second)  # the streak begun on A goes on on B

    assert texts.PERSON_OFFER in [seen(c) for c in messages(calls)]


async def test_the_operators_rate_is_counted_once_for_both_instances(
    two: tuple[Conversation, Conversation],
) -> None:
    a, b = two
    window_a, window_b = a.dp["desk"].window, b.dp["desk"].window
    assert isinstance(window_a, SharedWindow)
    assert isinstance(window_b, SharedWindow)
    for _ in range(3):  # OPERATOR_RATE=3 sends to the operators' group a minute
        await window_a.acquire()

    assert await window_b.try_acquire() > 0  # the other instance waits for the minute too


async def test_one_instance_at_a_time_sends_the_handoff_timeout_notices(
    two: tuple[Conversation, Conversation],
) -> None:
    a, b = two
    lease_a: Lease = a.dp["desk"].timeouts_lease
    lease_b: Lease = b.dp["desk"].timeouts_lease

    assert await lease_a.hold(60)
    assert not await lease_b.hold(60)


class GatedSession(RecordingSession):
    """A recording session whose replies wait for `gate` (Telegram being slow for one
    instance); every reply sent is logged in `sent`, shared by the instances, in order."""

    def __init__(self, sent: list[str]) -> None:
        super().__init__()
        self.sent = sent
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def make_request(self, bot: Any, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        result = await super().make_request(bot, method, timeout)
        if hasattr(method, "text"):
            self.sent.append(method.text)
        return result


async def test_one_chat_is_handled_by_one_instance_at_a_time(
    shared: Settings, assistant: Assistant, storage: Storage
) -> None:
    sent: list[str] = []
    gate = asyncio.Event()
    slow = GatedSession(sent)
    a = await instance(shared, assistant, storage, slow)
    b = await instance(shared, assistant, storage, GatedSession(sent))
    slow.gate = gate
    try:
        first = asyncio.create_task(a.says("CSO cần kỹ năng gì?"))
        await slow.waiting.wait()  # instance A is answering, its reply held up by Telegram
        second = asyncio.create_task(b.says("còn CMO thì sao?"))
        # Were B not waiting for Lan's chat, its reply would be sent meanwhile.
        asyncio.get_running_loop().call_later(0.3, gate.set)
        await asyncio.gather(first, second)
    finally:
        await close(a, b)

    assert "CSO" in sent[0]  # A's answer first, though Telegram held it up
    assert sent[-1].startswith(CMO_SKILLS)


async def taken(task: asyncio.Task[Any], cluster: Cluster, line: str, update_id: int) -> None:
    """Until the update stands in its chat's line in Redis (or has been answered)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not task.done() and await cluster.client.zscore(line, update_id) is None:
        if loop.time() > deadline:
            raise AssertionError(f"update {update_id} never reached its chat's line")
        await asyncio.sleep(0.005)


async def test_quick_messages_spread_over_two_instances_are_answered_in_order(
    shared: Settings, assistant: Assistant, storage: Storage
) -> None:
    config = shared.model_copy(update={"flood_burst": 20})
    sent: list[str] = []
    a = await instance(config, assistant, storage, GatedSession(sent))
    b = await instance(config, assistant, storage, GatedSession(sent))
    cluster: Cluster = a.dp["cluster"]
    line = ChatLocks(cluster).line(a.bot.id, LAN)
    questions = ["CSO là gì?", "CMO là gì?", "CSO cần kỹ năng gì?", "CMO cần kỹ năng gì?"] * 2
    try:
        # As a load balancer hands them out: A, B, A, B…, each message taken by its instance
        # before the next arrives, all of them handled at once.
        handling = []
        for n, question in enumerate(questions, start=1):
            task = asyncio.create_task((b if n % 2 == 0 else a).says(question))
            handling.append(task)
            await taken(task, cluster, line, n)
        await asyncio.gather(*handling)
    finally:
        await close(a, b)

    answers = [text for text in sent if not text.startswith(texts.FEEDBACK_QUESTION)]
    expected = [assistant.ask(question).text.split("\n")[0] for question in questions]
    assert [answer.split("\n")[0] for answer in answers] == expected


async def test_redis_restarted_mid_conversation_the_bot_keeps_answering(
    assistant: Assistant, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    async with own_redis() as server:
        config = settings(redis_url=server.url, redis_prefix="bot", flood_burst=50)
        a = await instance(config, assistant, storage)
        b = await instance(config, assistant, storage)
        try:
            await a.says("CSO cần kỹ năng gì?")
            await server.stop()

            with caplog.at_level(logging.WARNING):
                during = [await (a if n % 2 else b).says(q) for n, q in enumerate(QUESTIONS[:4])]

            assert all(messages(calls) for calls in during)  # every question answered
            flood_warnings = [r for r in caplog.records if "flood control failed" in r.message]
            assert len(flood_warnings) == 2  # once by each instance, not once a message
            await server.start()
            await a.says("CSO cần kỹ năng gì?")
            calls = await b.says("còn CMO thì sao?")
            assert seen(messages(calls)[0]).startswith(CMO_SKILLS)  # follow-ups work again
        finally:
            await close(a, b)
