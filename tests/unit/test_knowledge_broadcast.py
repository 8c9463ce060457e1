"""Several instances learn together: what an admin teaches one instance, through Redis, every
other instance answers from too (each with its own copy of the knowledge file)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.cli import build_assistant
from bot.cluster.knowledge import KnowledgeBroadcast
from bot.engine.assistant import Assistant
from bot.settings import DEFAULT_KNOWLEDGE, Settings
from bot.support.learning import LiveKnowledge
from tests.support.live_polling import until

CAPTAIN = "thuyền trưởng doanh số"  # no entry of the article answers this


@dataclass
class Instance:
    path: Path
    assistant: Assistant
    live: LiveKnowledge
    broadcast: KnowledgeBroadcast

    def answers(self, question: str) -> str | None:
        decision = self.assistant.ask(question).decision
        return decision.intent if decision.action == "answer" else None

    def phrasings(self, intent: str) -> list[str]:
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return next(e["questions"] for e in data["entries"] if e["id"] == intent)


@pytest.fixture
async def two_instances(
    tmp_path: Path, redis_service: tuple[str, str]
) -> AsyncIterator[tuple[Instance, Instance]]:
    url, prefix = redis_service
    redis = Redis.from_url(url)
    instances = []
    for name in ("a", "b"):
        path = tmp_path / name / "faq.json"
        path.parent.mkdir()
        shutil.copyfile(DEFAULT_KNOWLEDGE, path)
        assistant = build_assistant(Settings(_env_file=None, knowledge_file=path))
        live = LiveKnowledge(path, assistant)
        broadcast = KnowledgeBroadcast(redis, prefix, live)
        broadcast.start()
        await asyncio.wait_for(broadcast.subscribed.wait(), 5)
        instances.append(Instance(path, assistant, live, broadcast))
    try:
        yield instances[0], instances[1]
    finally:
        for instance in instances:
            await instance.broadcast.stop()
        await redis.aclose()


async def test_a_phrasing_taught_on_one_instance_is_answered_by_the_other(
    two_instances: tuple[Instance, Instance],
) -> None:
    a, b = two_instances
    assert b.answers(CAPTAIN) is None

    await a.live.add_phrasing("cso_role", CAPTAIN)

    await until(lambda: b.answers(CAPTAIN) == "cso_role")
    assert b.phrasings("cso_role")[-1] == CAPTAIN  # in its own file: kept after a restart
    assert a.phrasings("cso_role").count(CAPTAIN) == 1  # not applied twice where it was made


async def test_a_reload_on_one_instance_reloads_the_others(
    two_instances: tuple[Instance, Instance],
) -> None:
    a, b = two_instances
    data = json.loads(b.path.read_text(encoding="utf-8"))
    next(e for e in data["entries"] if e["id"] == "cmo_role")["questions"].append(CAPTAIN)
    b.path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert b.answers(CAPTAIN) is None  # changed on disk, not loaded yet

    await a.live.reload()

    await until(lambda: b.answers(CAPTAIN) == "cmo_role")


async def test_instances_sharing_one_file_take_a_phrasing_once(
    two_instances: tuple[Instance, Instance],
) -> None:
    a, b = two_instances
    b.live.path = a.path  # one host, one file
    b.path = a.path

    await a.live.add_phrasing("cso_role", CAPTAIN)

    await until(lambda: b.answers(CAPTAIN) == "cso_role")
    assert a.phrasings("cso_role").count(CAPTAIN) == 1
