"""PostgreSQL shared by several instances of the bot, and a server that goes away: what one
instance does never breaks what another does at the same moment, and a question asked while
the server cannot be reached is kept and written once it answers again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from bot.engine.matcher import Decision
from bot.storage import Storage, StorageError, WriteDeferred
from tests.support.databases import BotDatabase
from tests.support.tcp_proxy import TcpProxy

ANSWER = Decision("answer", "cso_role", 0.82, (), False, (("cso_role", 0.82),))
OPS = -1001234567890
INSTANCES = 3

on_postgresql = pytest.mark.parametrize("database_engine", ["postgresql"], indirect=True)


@pytest.fixture
async def instances(database: BotDatabase) -> AsyncIterator[list[Storage]]:
    """Three instances of the bot on one PostgreSQL database."""
    opened = [await database.open() for _ in range(INSTANCES)]
    yield opened
    for storage in opened:
        await storage.close()


@on_postgresql
async def test_a_customer_asking_for_a_person_on_every_instance_at_once_gets_one_handoff(
    instances: list[Storage],
) -> None:
    for round_ in range(5):
        chat = 500 + round_
        handoffs = await asyncio.gather(*(s.open_handoff(chat, chat) for s in instances))
        assert len({handoff.id for handoff in handoffs}) == 1
        assert len(await instances[0].open_handoffs()) == round_ + 1


@on_postgresql
async def test_every_instance_setting_the_chats_topic_at_once_leaves_one_topic(
    instances: list[Storage],
) -> None:
    await asyncio.gather(*(s.set_topic(OPS, 500, 70 + n) for n, s in enumerate(instances)))
    topic = await instances[0].topic_for(OPS, 500)
    assert topic in {70, 71, 72}
    for storage in instances:
        assert await storage.topic_for(OPS, 500) == topic
        assert await storage.chat_for_topic(OPS, topic) == 500


@on_postgresql
async def test_questions_from_every_instance_all_land_with_distinct_ids(
    instances: list[Storage],
) -> None:
    ids = await asyncio.gather(
        *(
            instances[n % INSTANCES].record_question(n % 7, f"câu hỏi {n}", ANSWER)
            for n in range(300)
        )
    )
    assert len(set(ids)) == 300
    assert (await instances[1].stats()).questions_total == 300
    # Every instance reads the same users' keys: one salt, kept in the database.
    assert len({s.user_key(42) for s in instances}) == 1


async def test_a_question_asked_while_postgresql_is_unreachable_is_kept_and_written_later(
    postgres_url: str,
) -> None:
    database = BotDatabase("postgresql", postgres_url)
    from bot.storage.upgrade import migrate_database

    await migrate_database(postgres_url)
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    storage = await Storage.connect(proxy.url_for(database.url), retention_days=90)
    try:
        await storage.record_question(1, "trước", ANSWER)
        assert await storage.ping() is None

        await proxy.cut()  # the server goes away
        with pytest.raises(WriteDeferred):
            await storage.record_question(1, "trong lúc mất kết nối", ANSWER)
        fault = storage.write_fault
        assert fault is not None
        assert (fault.failed, fault.kept) == (1, 1)
        problem = await storage.ping()
        assert problem is not None
        assert "\n" not in problem
        with pytest.raises(StorageError):  # a read: one kind of error, whatever the engine
            await storage.recent_questions(1)

        await proxy.start()  # back
        await storage.record_question(1, "sau", ANSWER)
        for _ in range(500):  # the kept question follows within RETRY_FIRST
            if storage.write_fault is None:
                break
            await asyncio.sleep(0.01)
        assert storage.write_fault is None
        texts = sorted(r.text or "" for r in await storage.recent_questions(1, limit=10))
        assert texts == sorted(["trước", "trong lúc mất kết nối", "sau"])
        assert await storage.ping() is None
    finally:
        await storage.close()
        await proxy.cut()
