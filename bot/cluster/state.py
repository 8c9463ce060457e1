"""Per-conversation state the handlers read and write: the follow-up context (the last
answered topic, forgotten after FOLLOW_UP_TTL) and the failure streak. In memory (one
instance) or in aiogram's Redis FSM storage (several instances), behind one interface.

A conversation is a chat, and in a group the user within it (`conversation_key`); in Redis
its StorageKey is (bot, chat, user), with a `destiny` per kind of state. Redis failing reads
as "no follow-up" and "no streak" (a WARNING once): the bot keeps answering."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bot.cluster.redis import Cluster, Warned, redis_errors
from bot.engine.assistant import FollowUpContext
from bot.support.handoff import FailureStreak, Streak

if TYPE_CHECKING:
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.fsm.storage.redis import RedisStorage

FOLLOW_UP = "follow_up"
STREAK = "streak"
# A streak is two outcomes: one idle for a day is forgotten (in memory, the least recent
# conversations beyond 100,000 are).
STREAK_TTL = 24 * 3600


def conversation_key(chat_id: int, user_id: int | None) -> int:
    """The follow-up context key: the chat, and in a group the user within it too, so that
    two people asking in the same group do not continue each other's questions."""
    if user_id is None or user_id == chat_id:
        return chat_id
    return hash((chat_id, user_id))


class ChatState(Protocol):
    async def follow_up(self, chat_id: int, user_id: int | None) -> str | None:
        """The topic a follow-up question continues, if still fresh."""

    async def remember(self, chat_id: int, user_id: int | None, intent: str) -> None: ...

    async def question(
        self, chat_id: int, user_id: int | None, question_id: int, failed: bool
    ) -> bool:
        """A new question and whether the bot failed it; True: offer a person."""

    async def vote(self, chat_id: int, user_id: int | None, question_id: int, up: bool) -> bool:
        """👍/👎 on an earlier answer; True: offer a person."""


class LocalChatState:
    """One instance: the FollowUpContext and FailureStreak in the dispatcher's data, looked up
    at each call (`follow_ups`, `streaks`), so that what is there when an update comes is what
    answers it."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    async def follow_up(self, chat_id: int, user_id: int | None) -> str | None:
        follow_ups: FollowUpContext = self._data["follow_ups"]
        return follow_ups.get(conversation_key(chat_id, user_id))

    async def remember(self, chat_id: int, user_id: int | None, intent: str) -> None:
        follow_ups: FollowUpContext = self._data["follow_ups"]
        follow_ups.remember(conversation_key(chat_id, user_id), intent)

    async def question(
        self, chat_id: int, user_id: int | None, question_id: int, failed: bool
    ) -> bool:
        streaks: FailureStreak = self._data["streaks"]
        return streaks.question(conversation_key(chat_id, user_id), question_id, failed)

    async def vote(self, chat_id: int, user_id: int | None, question_id: int, up: bool) -> bool:
        streaks: FailureStreak = self._data["streaks"]
        return streaks.vote(conversation_key(chat_id, user_id), question_id, up)


class SharedChatState:
    """Several instances: the state in aiogram's RedisStorage. Updates of one chat are handled
    one at a time across instances (ChatOrder's Redis lock), so a read, change and write of a
    conversation's data needs no transaction."""

    def __init__(self, cluster: Cluster, bot_id: int, follow_up_ttl: float) -> None:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisStorage

        builder = DefaultKeyBuilder(prefix=cluster.key("fsm"), with_bot_id=True, with_destiny=True)
        # Two views of one client, for their expiry: a follow-up key vanishes with its context.
        self.follow_ups: RedisStorage = RedisStorage(
            cluster.client, builder, data_ttl=max(1, math.ceil(follow_up_ttl))
        )
        self.streaks: RedisStorage = RedisStorage(cluster.client, builder, data_ttl=STREAK_TTL)
        self.bot_id = bot_id
        self.follow_up_ttl = follow_up_ttl
        self._errors = redis_errors()
        self._warned = Warned("the conversation state")

    def _key(self, chat_id: int, user_id: int | None, destiny: str) -> StorageKey:
        from aiogram.fsm.storage.base import StorageKey

        user = chat_id if user_id is None else user_id
        return StorageKey(self.bot_id, chat_id, user, destiny=destiny)

    async def _get(self, storage: RedisStorage, key: StorageKey) -> dict[str, Any] | None:
        try:
            data = await storage.get_data(key)
        except self._errors as exc:
            self._warned.failed(exc, "answering without follow-up context")
            return None
        self._warned.worked()
        return data

    async def _set(self, storage: RedisStorage, key: StorageKey, data: dict[str, Any]) -> None:
        try:
            await storage.set_data(key, data)
        except self._errors as exc:
            self._warned.failed(exc, "answering without follow-up context")
        else:
            self._warned.worked()

    async def follow_up(self, chat_id: int, user_id: int | None) -> str | None:
        data = await self._get(self.follow_ups, self._key(chat_id, user_id, FOLLOW_UP))
        if not data:
            return None
        # The key expires in whole seconds; the time kept makes FOLLOW_UP_TTL exact. Wall-clock
        # time: the instance asked may not be the one that answered.
        if time.time() - float(data.get("at", 0)) > self.follow_up_ttl:
            return None
        intent = data.get("intent")
        return intent if isinstance(intent, str) else None

    async def remember(self, chat_id: int, user_id: int | None, intent: str) -> None:
        data = {"intent": intent, "at": time.time()}
        await self._set(self.follow_ups, self._key(chat_id, user_id, FOLLOW_UP), data)

    async def question(
        self, chat_id: int, user_id: int | None, question_id: int, failed: bool
    ) -> bool:
        key = self._key(chat_id, user_id, STREAK)
        data = await self._get(self.streaks, key)
        streak = Streak() if data is None else Streak.from_data(data)
        offer = streak.question(question_id, failed)
        await self._set(self.streaks, key, streak.to_data())
        return offer

    async def vote(self, chat_id: int, user_id: int | None, question_id: int, up: bool) -> bool:
        key = self._key(chat_id, user_id, STREAK)
        data = await self._get(self.streaks, key)
        if not data and up:
            return False
        streak = Streak() if data is None else Streak.from_data(data)
        offer = streak.vote(question_id, up)
        await self._set(self.streaks, key, streak.to_data())
        return offer
