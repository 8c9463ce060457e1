"""Three `python -m bot webhook` processes sharing PostgreSQL (DATABASE_URL) and Redis
(REDIS_URL), the Bot API stand-in delivering Telegram's updates to them in turn: a live
handoff works both ways whichever instance gets each message (one topic, the customer's
messages in the order written, each once), flood control and the operators' group rate hold
for the three together, and a Redis restarted mid-conversation costs at most follow-up
context, never a handoff, a relayed message or a stored question."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot import texts
from bot.support.handoff import PEER_HEARTBEAT
from bot.telegram.keyboards import RateCb
from tests.support.fake_telegram import Call, FakeTelegram, WebhookDelivery
from tests.support.instances import migrate, stored_questions
from tests.support.live_polling import seen, shown, until
from tests.support.processes import TOKEN, WebhookInstance, start_instances
from tests.support.redis_server import own_redis

LAN = 111  # a customer
MAI = 222  # another customer
OPS = -1001234567890  # the operators' forum group
HUNG = 900  # an operator
WAIT = 20.0  # seconds for something an instance does after acknowledging an update


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        server.add_chat(OPS, "supergroup", title="Hỗ trợ khách hàng", is_forum=True)
        yield server


@asynccontextmanager
async def three_instances(
    fake: FakeTelegram,
    workdir: Path,
    database_url: str,
    redis_url: str,
    prefix: str,
    **settings: str,
) -> AsyncIterator[list[WebhookInstance]]:
    """Three instances, each with a DATA_DIR of its own, on one migrated database and one
    Redis, with live handoff to the operators' group."""
    migrate(workdir / "migrate", database_url)
    instances = await start_instances(
        fake,
        workdir,
        3,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        OPERATOR_CHAT_ID=str(OPS),
        **{"OPERATOR_RATE": "600", "FLOOD_BURST": "20", **settings},
    )
    try:
        yield instances
    finally:
        for instance in instances:
            if instance.process.proc.poll() is None:
                await instance.process.stop()


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def data_of(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: str(call.chat_id) == str(chat_id)


class Desk:
    """The customers and the operators, talking through three instances."""

    def __init__(self, fake: FakeTelegram, delivery: WebhookDelivery) -> None:
        self.fake = fake
        self.delivery = delivery
        self.updates: list[int] = []

    async def delivered(self, update_id: int) -> None:
        self.updates.append(update_id)
        await self.delivery.wait_acknowledged(update_id, within=WAIT)

    async def customer_says(self, text: str, user: int = LAN, name: str = "Lan") -> Call:
        """The bot's reply to the customer."""
        mark = self.fake.mark()
        await self.delivered(self.fake.user_text(text, user_id=user, first_name=name))
        return await self.fake.wait_for("sendMessage", to(user), timeout=WAIT, after=mark)

    async def customer_writes(self, text: str, topic: int, user: int = LAN) -> Call:
        """The customer's message as copied to their topic (the bot says nothing to them)."""
        mark = self.fake.mark()
        await self.delivered(self.fake.user_text(text, user_id=user))
        copy = await self.fake.wait_for(
            "copyMessage", lambda c: to(OPS)(c) and c.status == 200, timeout=WAIT, after=mark
        )
        assert copy.params["message_thread_id"] == topic
        relayed = self.fake.message(OPS, copy.result["message_id"])
        assert relayed is not None
        assert relayed["text"] == text
        return copy

    async def operator_writes(self, topic: int, text: str, to_customer: int = LAN) -> None:
        """The operator's message, once the customer has it."""
        mark = self.fake.mark()
        update = self.fake.user_text(
            text,
            user_id=HUNG,
            first_name="Hùng",
            chat_id=OPS,
            chat_type="supergroup",
            message_thread_id=topic,
            is_topic_message=True,
        )
        await self.delivered(update)
        copy = await self.fake.wait_for(
            "copyMessage",
            lambda c: to(to_customer)(c) and c.status == 200,
            timeout=WAIT,
            after=mark,
        )
        received = self.fake.message(to_customer, copy.result["message_id"])
        assert received is not None
        assert received["text"] == text

    async def operator_closes(self, topic: int) -> Call:
        """`/close` in the topic; the question the customer gets."""
        mark = self.fake.mark()
        update = self.fake.user_text(
            "/close",
            user_id=HUNG,
            first_name="Hùng",
            chat_id=OPS,
            chat_type="supergroup",
            message_thread_id=topic,
            is_topic_message=True,
        )
        await self.delivered(update)
        note = await self.fake.wait_for("sendMessage", to(OPS), timeout=WAIT, after=mark)
        assert seen(note) == texts.OPERATOR_CLOSED
        assert note.params["message_thread_id"] == topic
        return await self.fake.wait_for("sendMessage", to(LAN), timeout=WAIT, after=mark)

    def instances_used(self) -> set[str]:
        return {self.delivery.acknowledged[update] for update in self.updates}


async def handoff_rating(database_url: str, chat_id: int) -> list[tuple[str, int | None]]:
    import asyncpg

    db = await asyncpg.connect(database_url)
    try:
        rows = await db.fetch(
            "SELECT status, rating FROM handoffs WHERE chat_id = $1 ORDER BY id", chat_id
        )
    finally:
        await db.close()
    return [(row["status"], row["rating"]) for row in rows]


async def test_a_live_handoff_works_whichever_instance_gets_each_message(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str, redis_service: tuple[str, str]
) -> None:
    url, prefix = redis_service
    async with (
        three_instances(fake, tmp_path, postgres_url, url, prefix) as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        desk = Desk(fake, delivery)
        answer = await desk.customer_says("lương CSO bao nhiêu một tháng")
        assert seen(answer) != texts.HANDOFF_STARTED

        started = await desk.customer_says("cho tôi gặp nhân viên")
        assert seen(started) == texts.HANDOFF_STARTED
        card = await fake.wait_for("sendMessage", to(OPS), timeout=WAIT)
        topic: int = card.params["message_thread_id"]
        assert "lương CSO bao nhiêu một tháng" in seen(card)

        await desk.customer_writes("Mình cần tư vấn tuyển CMO cho công ty 20 người", topic)
        await desk.customer_writes("CSO là gì?", topic)  # the bot would answer it on its own
        await desk.operator_writes(topic, "Chào Lan, mình là Hùng. Công ty bạn bán hàng B2B?")
        await desk.customer_writes("Dạ đúng rồi ạ", topic)
        await desk.operator_writes(topic, "Vậy bạn nên tìm một CMO có kinh nghiệm B2B nhé.")
        assert shown(fake, LAN)[-1] == texts.HANDOFF_STARTED  # silent while the operator talks

        ask = await desk.operator_closes(topic)
        assert seen(ask) == texts.HANDOFF_CLOSED_USER
        assert buttons(ask) == [texts.RATING_LABEL.format(stars=n) for n in range(1, 6)]

        mark = fake.mark()
        handoff_id = RateCb.unpack(data_of(ask)[3]).h
        await desk.delivered(
            fake.press(RateCb(h=handoff_id, stars=4).pack(), message_id=ask.result["message_id"])
        )
        thanks = await fake.wait_for("answerCallbackQuery", timeout=WAIT, after=mark)
        assert thanks.params["text"] == texts.RATING_THANKS
        rated = await fake.wait_for("sendMessage", to(OPS), timeout=WAIT, after=mark)
        assert seen(rated) == texts.OPERATOR_RATED.format(stars="⭐⭐⭐⭐")

        back = await desk.customer_says("CMO cần kỹ năng gì?")  # the bot answers again
        assert "CMO" in seen(back)
        await fake.wait_idle(timeout=WAIT)

    assert len(desk.instances_used()) == 3
    created = [c for c in fake.calls if c.method == "createForumTopic"]
    assert len(created) == 1
    assert list(fake.topics(OPS)) == [topic]
    cards = [c for c in fake.sent_messages(OPS) if texts.OPERATOR_CARD_HINT in seen(c)]
    assert len(cards) == 1
    assert await handoff_rating(postgres_url, LAN) == [("closed", 4)]
    asked = await stored_questions(postgres_url)
    assert asked["lương CSO bao nhiêu một tháng"] == asked["CMO cần kỹ năng gì?"] == 1, asked


async def test_flood_control_holds_for_the_three_together(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str, redis_service: tuple[str, str]
) -> None:
    url, prefix = redis_service
    questions = [
        "CSO là gì?",
        "CMO là gì?",
        "CSO và CMO khác nhau thế nào?",
        "CMO cần kỹ năng gì?",
        "CSO cần kỹ năng gì?",
        "khi nào cần CMO",
        "trách nhiệm của CSO",
        "doanh nghiệp nhỏ có cần CMO không?",
        "kỹ năng của CSO",
    ]
    async with (
        three_instances(
            fake, tmp_path, postgres_url, url, prefix, FLOOD_BURST="3", FLOOD_RATE="0.001"
        ) as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        ids = [fake.user_text(question, user_id=LAN) for question in questions]
        for update_id in ids:
            await delivery.wait_acknowledged(update_id, within=WAIT)
        await fake.wait_idle(quiet=1.0, timeout=WAIT)

    assert len({delivery.acknowledged[update_id] for update_id in ids}) == 3
    said = shown(fake, LAN)
    assert len(said) == 4, said  # FLOOD_BURST=3 answers, then one notice, then silence
    assert all(text != texts.FLOOD_NOTICE for text in said[:3])
    assert said[3] == texts.FLOOD_NOTICE


async def next_send(fake: FakeTelegram, chat_id: int, after: int, within: float) -> int:
    """The index of the first call to `chat_id` (any method) from `after` on, once made."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        for index in range(after, len(fake.calls)):
            if to(chat_id)(fake.calls[index]):
                return index
        if loop.time() > deadline:
            raise AssertionError(f"no call to {chat_id} within {within} s")
        await asyncio.sleep(0.01)


async def test_the_operators_rate_holds_for_the_three_together(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str, redis_service: tuple[str, str]
) -> None:
    url, prefix = redis_service
    loop = asyncio.get_running_loop()
    customers = {MAI: "Mai", 333: "Minh", 444: "Hoa"}
    async with (
        three_instances(fake, tmp_path, postgres_url, url, prefix, OPERATOR_RATE="3") as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        # Three customers ask for a person at once, each through another instance: a topic
        # and a card each, six sends to the operators' group where three a minute are allowed.
        ids = [
            fake.user_text("cho tôi gặp nhân viên", user_id=user, first_name=name)
            for user, name in customers.items()
        ]
        for update_id in ids:
            await delivery.wait_acknowledged(update_id, within=WAIT)
        sent_at: list[float] = []
        after = 0
        while len(sent_at) < 4:  # the fourth waits for the first one's minute to end
            after = await next_send(fake, OPS, after, within=60 + WAIT) + 1
            sent_at.append(loop.time())

    assert len({delivery.acknowledged[update_id] for update_id in ids}) == 3
    for user in customers:
        assert shown(fake, user) == [texts.HANDOFF_STARTED]
    # Counted by Redis from before each request leaves its instance, seen here after it
    # arrives: the half second is the requests' way to the stand-in, not slack in the limit.
    assert sent_at[3] - sent_at[0] >= 60 - 0.5


async def test_a_redis_restart_mid_conversation_loses_no_handoff_and_no_question(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str
) -> None:
    before = ["CSO cần kỹ năng gì?", "CMO là gì?"]
    during = ["CSO và CMO khác nhau thế nào?", "trách nhiệm của CSO", "khi nào cần CMO"]
    after = ["doanh nghiệp nhỏ có cần CMO không?", "kỹ năng của CSO"]
    async with (
        own_redis() as redis,
        three_instances(fake, tmp_path, postgres_url, redis.url, "bot") as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        desk = Desk(fake, delivery)
        for question in before:
            reply = await desk.customer_says(question, user=MAI, name="Mai")
            assert seen(reply) not in (texts.FLOOD_NOTICE, texts.HANDOFF_STARTED)
        started = await desk.customer_says("cho tôi gặp nhân viên")
        assert seen(started) == texts.HANDOFF_STARTED
        card = await fake.wait_for("sendMessage", to(OPS), timeout=WAIT)
        topic: int = card.params["message_thread_id"]
        await desk.customer_writes("Mình cần tư vấn tuyển CMO", topic)

        await redis.stop()
        await desk.customer_writes("Alo, bạn còn đó không?", topic)
        await desk.operator_writes(topic, "Có mình đây, bạn chờ chút nhé.")
        for question in during:
            reply = await desk.customer_says(question, user=MAI, name="Mai")
            assert seen(reply) not in (texts.FLOOD_NOTICE, texts.HANDOFF_STARTED)

        await redis.start()  # empty: nothing was kept
        await desk.customer_writes("Cảm ơn bạn", topic)
        await desk.operator_writes(topic, "Không có gì ạ.")
        for question in after:
            reply = await desk.customer_says(question, user=MAI, name="Mai")
            assert seen(reply) not in (texts.FLOOD_NOTICE, texts.HANDOFF_STARTED)
        await fake.wait_idle(timeout=WAIT)

    assert len(desk.instances_used()) == 3
    assert len([c for c in fake.calls if c.method == "createForumTopic"]) == 1
    assert list(fake.topics(OPS)) == [topic]
    assert shown(fake, LAN) == [texts.HANDOFF_STARTED]  # the bot never spoke over the operator
    asked = await stored_questions(postgres_url)
    for question in before + during + after:
        assert asked[question] == 1, (question, asked)


def copied_to_topic(fake: FakeTelegram, topic: int) -> list[str]:
    """The customer's messages as the operators see them in the topic, in order."""
    texts_seen = []
    for call in fake.calls:
        if call.method == "copyMessage" and to(OPS)(call) and call.status == 200:
            assert call.params["message_thread_id"] == topic
            relayed = fake.message(OPS, call.result["message_id"])
            assert relayed is not None
            texts_seen.append(str(relayed["text"]))
    return texts_seen


async def instances_announced(redis_url: str) -> int:
    """How many instances have told the restarted Redis that they are alive (a heartbeat
    each, beaten every PEER_HEARTBEAT seconds, a live one's relays never taken from it)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        return len([key async for key in client.scan_iter(match="bot:lease:instance:*")])
    finally:
        await client.aclose()


async def test_what_waits_for_the_operators_is_sent_once_across_a_redis_restart(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str
) -> None:
    written = [f"Tin nhắn số {n} của Lan" for n in range(1, 7)]
    last = [f"Tin cuối {n}" for n in range(1, 4)]
    async with (
        own_redis() as redis,
        three_instances(fake, tmp_path, postgres_url, redis.url, "bot") as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        desk = Desk(fake, delivery)
        started = await desk.customer_says("cho tôi gặp nhân viên")
        assert seen(started) == texts.HANDOFF_STARTED
        card = await fake.wait_for("sendMessage", to(OPS), timeout=WAIT)
        topic: int = card.params["message_thread_id"]

        # Telegram is slow for a while: the first of Lan's messages is on its way to the
        # topic; the others wait behind it, in the queues of the instances that got them.
        fake.hold("copyMessage")
        for text in written:
            await desk.delivered(fake.user_text(text, user_id=LAN))
        await until(lambda: any(c.method == "copyMessage" for c in fake.calls))

        await redis.stop()
        await redis.start()  # empty: the instances' heartbeats are gone with the rest
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * PEER_HEARTBEAT
        while await instances_announced(redis.url) < 3:
            assert loop.time() < deadline, "the instances never beat again"
            await asyncio.sleep(0.1)
        fake.release("copyMessage")

        # One more message through each instance: each sends its queue in order, so once the
        # three are in the topic, everything queued before them has been sent.
        for text in last:
            await desk.delivered(fake.user_text(text, user_id=LAN))
        await until(lambda: set(last) <= set(copied_to_topic(fake, topic)), within=WAIT)
        await fake.wait_idle(timeout=WAIT)

    assert len(desk.instances_used()) == 3
    relayed = copied_to_topic(fake, topic)
    assert sorted(relayed) == sorted(written + last), relayed  # each one once


async def test_a_customers_quick_messages_reach_the_topic_in_order_while_telegram_is_slow(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str, redis_service: tuple[str, str]
) -> None:
    url, prefix = redis_service
    written = [f"Tin nhắn số {n} của Lan" for n in range(1, 7)]
    async with (
        three_instances(fake, tmp_path, postgres_url, url, prefix) as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        desk = Desk(fake, delivery)
        started = await desk.customer_says("cho tôi gặp nhân viên")
        assert seen(started) == texts.HANDOFF_STARTED
        card = await fake.wait_for("sendMessage", to(OPS), timeout=WAIT)
        topic: int = card.params["message_thread_id"]

        fake.hold("copyMessage")  # Telegram answers nothing for a moment
        for text in written:
            await desk.delivered(fake.user_text(text, user_id=LAN))
        await until(lambda: any(c.method == "copyMessage" for c in fake.calls), within=WAIT)
        fake.release("copyMessage")
        await until(lambda: len(copied_to_topic(fake, topic)) >= len(written), within=WAIT)
        await fake.wait_idle(timeout=WAIT)

    assert len(desk.instances_used()) == 3
    assert copied_to_topic(fake, topic) == written


async def test_asking_for_a_person_and_writing_on_at_once_opens_one_topic_with_one_card(
    fake: FakeTelegram, tmp_path: Path, postgres_url: str, redis_service: tuple[str, str]
) -> None:
    url, prefix = redis_service
    written = ["cho tôi gặp nhân viên", "Mình cần tư vấn tuyển CMO", "Công ty mình 20 người"]
    async with (
        three_instances(fake, tmp_path, postgres_url, url, prefix) as three,
        fake.deliver_webhooks([i.url for i in three]) as delivery,
    ):
        desk = Desk(fake, delivery)
        for text in written:  # typed one after the other, without waiting for the bot
            await desk.delivered(fake.user_text(text, user_id=LAN))
        await until(lambda: len(copied_to_topic(fake, topic_of(fake))) >= 2, within=WAIT)
        await fake.wait_idle(timeout=WAIT)

    assert len(desk.instances_used()) == 3
    assert shown(fake, LAN) == [texts.HANDOFF_STARTED]
    assert len(fake.topics(OPS)) == 1
    topic = topic_of(fake)
    cards = [c for c in fake.sent_messages(OPS) if texts.OPERATOR_CARD_HINT in seen(c)]
    assert len(cards) == 1
    assert cards[0].params["message_thread_id"] == topic
    copies = [c for c in fake.calls if c.method == "copyMessage" and to(OPS)(c)]
    assert fake.calls.index(cards[0]) < fake.calls.index(copies[0])  # the card first
    assert copied_to_topic(fake, topic) == written[1:]


def topic_of(fake: FakeTelegram) -> int:
    """The operators' group's only topic (-1 while there is none)."""
    return next(iter(fake.topics(OPS)), -1)
