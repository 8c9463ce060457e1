"""Teaching every instance at once: an admin's /assign or /reload on one instance is published
on Redis, and each other instance applies it to its own knowledge file and reloads.

Each instance keeps its own copy of the knowledge file (instances may run on several hosts).
A phrasing arrives as the change itself, not as a whole file, so an instance whose file is the
same one (one host, one path) finds the phrasing there already and only reloads. Publishing is
Redis pub/sub: an instance that is down at that moment does not hear it; docs/deploy.md says
how to bring its file up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from bot.engine.knowledge import KnowledgeError
from bot.support.learning import DuplicatePhrasing, KnowledgeChange, LiveKnowledge

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

RECONNECT_FIRST = 0.5  # seconds before subscribing again after Redis went away; doubled…
RECONNECT_MAX = 30.0  # …up to this


class KnowledgeBroadcast:
    """Publishes this instance's knowledge changes and applies the others'."""

    def __init__(self, redis: Redis, prefix: str, live: LiveKnowledge) -> None:
        self.redis = redis
        self.channel = f"{prefix}:knowledge"
        self.live = live
        self.origin = secrets.token_hex(8)  # this instance: its own changes are not re-applied
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        live.on_change = self.publish

    async def publish(self, change: KnowledgeChange) -> None:
        from redis.exceptions import RedisError

        event = {
            "origin": self.origin,
            "kind": change.kind,
            "intent": change.intent,
            "question": change.question,
        }
        try:
            await self.redis.publish(self.channel, json.dumps(event, ensure_ascii=False))
        except (RedisError, OSError) as exc:
            log.warning(
                "knowledge change made here but not passed to the other instances (%s: %s);"
                " /reload on each of them once Redis is back",
                type(exc).__name__,
                exc,
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="knowledge-broadcast")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        delay = RECONNECT_FIRST
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    delay = RECONNECT_FIRST
                    async for message in pubsub.listen():
                        await self.apply(message.get("data"))
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning(
                    "knowledge changes of other instances not heard (%s: %s); again in %s s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)

    async def apply(self, data: Any) -> None:
        """One published change: applied here unless it was made here."""
        try:
            event = json.loads(data)
            origin, kind = event["origin"], event["kind"]
            intent, question = str(event.get("intent", "")), str(event.get("question", ""))
        except (TypeError, ValueError, KeyError):
            log.warning("an unreadable knowledge change was published: ignored")
            return
        if origin == self.origin:
            return
        try:
            if kind == "assign":
                try:
                    await self.live.add_phrasing(intent, question, announce=False)
                except DuplicatePhrasing:  # the same file, or applied already
                    await self.live.reload(announce=False)
                log.info("knowledge: a phrasing for %s added on another instance, applied", intent)
            elif kind == "reload":
                await self.live.reload(announce=False)
                log.info("knowledge: reloaded, as another instance did")
        except KnowledgeError as exc:
            log.error("knowledge change from another instance not applied: %s", exc)
