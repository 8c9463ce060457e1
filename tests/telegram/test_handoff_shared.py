"""Live handoff with two instances on one database: whichever instance gets a message, the
conversation is the same one, and a new customer gets one topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.types import Message

from bot.cli import build_assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.support.handoff import Customer, HandoffDesk
from tests.support.fake_telegram import FakeTelegram

LAN = 111
OPS = -1001234567890


class TwoInstances:
    def __init__(self, fake: FakeTelegram, storage: Storage) -> None:
        settings = Settings(_env_file=None, bot_token=fake.token, operator_chat_id=OPS)
        assistant = build_assistant(settings)
        lock = HandoffDesk(OPS, storage, assistant, timeout=900, rate=600)._topic_lock
        self.fake = fake
        self.bot = fake.make_bot()
        # One database, one lock for topics (Redis's in production), two desks.
        self.a, self.b = (
            HandoffDesk(
                OPS, storage, assistant, timeout=900, rate=600, shared=True, topic_lock=lock
            )
            for _ in range(2)
        )

    def customer_says(self, text: str) -> tuple[Customer, Message]:
        message = Message.model_validate(self.fake.text_message(text, user_id=LAN))
        assert message.from_user is not None
        return Customer.of(LAN, message.from_user), message


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[TwoInstances]:
    async with FakeTelegram() as fake:
        fake.add_chat(OPS, "supergroup", title="Hỗ trợ khách hàng", is_forum=True)
        storage = await Storage.open(tmp_path / "data", retention_days=90)
        two = TwoInstances(fake, storage)
        try:
            yield two
        finally:
            await two.a.stop(1)
            await two.b.stop(1)
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
    await instances.a.stop(5)
    await instances.b.stop(5)

    assert len(instances.fake.topics(OPS)) == 1
    copies = [c for c in instances.fake.calls if c.method == "copyMessage"]
    assert {c.params["message_thread_id"] for c in copies} == set(instances.fake.topics(OPS))
    assert len(copies) == 2
