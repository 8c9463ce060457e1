"""Live handoff with two instances on one database and one Redis: whichever instance gets a
message, the conversation is the same one, a new customer gets one topic, and what an instance
queued for the operators is sent even when that instance stops or dies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.types import Message

from bot.cli import build_assistant
from bot.cluster.instances import Instances
from bot.cluster.redis import Cluster
from bot.settings import Settings
from bot.storage import Storage
from bot.support import handoff
from bot.support.handoff import Customer, HandoffDesk
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import until

LAN = 111
OPS = -1001234567890


class TwoInstances:
    def __init__(self, fake: FakeTelegram, storage: Storage, settings: Settings) -> None:
        assistant = build_assistant(settings)
        self.fake = fake
        self.storage = storage
        self.bot = fake.make_bot()
        self.clusters = [Cluster.from_settings(settings) for _ in range(2)]
        # One database and one Redis, two desks: two instances of the bot.
        self.a, self.b = (
            HandoffDesk(OPS, storage, assistant, timeout=900, rate=600, peers=Instances(cluster))
            for cluster in self.clusters
        )

    def customer_says(self, text: str) -> tuple[Customer, Message]:
        message = Message.model_validate(self.fake.text_message(text, user_id=LAN))
        assert message.from_user is not None
        return Customer.of(LAN, message.from_user), message

    def copies(self) -> list[int]:
        return [c.params["message_id"] for c in self.fake.calls if c.method == "copyMessage"]


@pytest.fixture
async def instances(tmp_path: Path, redis_service: tuple[str, str]) -> AsyncIterator[TwoInstances]:
    url, prefix = redis_service
    async with FakeTelegram() as fake:
        fake.add_chat(OPS, "supergroup", title="Hỗ trợ khách hàng", is_forum=True)
        storage = await Storage.open(tmp_path / "data", retention_days=90)
        settings = Settings(
            _env_file=None,
            bot_token=fake.token,
            operator_chat_id=OPS,
            redis_url=url,
            redis_prefix=prefix,
        )
        two = TwoInstances(fake, storage, settings)
        try:
            yield two
        finally:
            await two.a.stop(1)
            await two.b.stop(1)
            for cluster in two.clusters:
                await cluster.close()
            await two.bot.session.close()
            await storage.close()


async def test_a_conversation_opened_on_one_instance_is_open_on_the_other(
    instances: TwoInstances,
) -> None:
    customer, _ = instances.customer_says("cho tôi gặp nhân viên")
    assert await instances.a.begin(customer)
    assert await instances.b.is_open(LAN)
    assert not await instances.b.begin(customer)  # "you are already talking to someone"

    closed = await instances.b.close(instances.bot, LAN, by_customer=True)
    assert closed is not None
    assert not await instances.a.is_open(LAN)


async def test_a_new_customers_messages_on_two_instances_at_once_open_one_topic(
    instances: TwoInstances,
) -> None:
    await instances.a.start(instances.bot)
    await instances.b.start(instances.bot)
    customer, first = instances.customer_says("xin chào, tôi cần hỗ trợ")
    _, second = instances.customer_says("đơn hàng của tôi bị trễ")
    await asyncio.gather(
        instances.a.from_customer(customer, first), instances.b.from_customer(customer, second)
    )
    await until(lambda: len(instances.copies()) == 2)

    assert len(instances.fake.topics(OPS)) == 1
    copies = [c for c in instances.fake.calls if c.method == "copyMessage"]
    assert {c.params["message_thread_id"] for c in copies} == set(instances.fake.topics(OPS))


async def test_what_a_stopped_instance_could_not_send_is_sent_by_another(
    instances: TwoInstances,
) -> None:
    await instances.a.start(instances.bot)
    await instances.b.start(instances.bot)
    customer, message = instances.customer_says("tôi vẫn đang chờ")
    instances.fake.hold("createForumTopic")  # the operators' group cannot be reached
    await instances.a.from_customer(customer, message)
    await instances.a.stop(0.1)  # gone before it could send it
    instances.fake.release("createForumTopic")
    assert instances.copies() == []

    assert await instances.b.take_over() == 1

    await until(lambda: instances.copies() == [message.message_id])


async def test_what_a_dead_instance_left_is_taken_over_once_its_heartbeat_stops(
    instances: TwoInstances, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff, "PEER_HEARTBEAT", 0.05)  # gone after 2.5 of these
    _, message = instances.customer_says("có ai không?")
    data = {
        "customer": {
            "chat_id": LAN,
            "user_id": LAN,
            "name": "Lan",
            "username": None,
            "language": None,
        },
        "from_chat_id": LAN,
        "message_id": message.message_id,
    }
    # Queued by an instance killed before it sent it: no heartbeat under that name.
    await instances.storage.add_relay(LAN, "copy", json.dumps(data), owner="killed")
    await instances.a.start(instances.bot)  # one of them takes it over, once its owner is gone
    await instances.b.start(instances.bot)

    await until(lambda: instances.copies() == [message.message_id])
    await asyncio.sleep(0.3)  # more rounds of both: nobody sends it again
    assert instances.copies() == [message.message_id]
