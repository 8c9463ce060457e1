"""The support assistant: engine + knowledge -> replies. Shared by the CLI, the terminal
chat and the Telegram handlers, so every channel answers the same way."""

from __future__ import annotations

import time
from collections import OrderedDict

from bot.engine.knowledge import Knowledge
from bot.engine.matcher import Decision, Engine
from bot.engine.person_request import asks_for_person
from bot.engine.replies import HANDOFF, Reply, compose, handoff


class Assistant:
    def __init__(self, knowledge: Knowledge, engine: Engine) -> None:
        self.knowledge = knowledge
        self.engine = engine

    def reload(self, knowledge: Knowledge) -> None:
        """Answer from `knowledge` from now on: a new Engine with the same thresholds. The
        caller prepares `knowledge` as at start-up (contact email override included)."""
        engine = Engine(knowledge, self.engine.thresholds)
        self.knowledge, self.engine = knowledge, engine

    def ask(self, question: str, previous_intent: str | None = None) -> Reply:
        return compose(self.engine.decide(question, previous_intent), self.knowledge)

    def choose(self, intent: str) -> Reply:
        """The user picked a topic or a suggestion: answer it outright."""
        if intent == HANDOFF:
            return handoff(Decision("handoff", None, 1.0), self.knowledge, chosen=True)
        self.knowledge.entry(intent)  # KeyError for an unknown id: callers treat it as stale
        return compose(Decision("answer", intent, 1.0), self.knowledge)

    def knows(self, intent: str) -> bool:
        return intent == HANDOFF or intent in self.knowledge.by_id

    @staticmethod
    def wants_person(question: str) -> bool:
        """The user asks for a human ("cho tôi gặp nhân viên"), not for information."""
        return asks_for_person(question)


class FollowUpContext:
    """The last answered intent per conversation, forgotten after a quiet period."""

    def __init__(self, ttl: float, max_size: int = 100_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._items: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def get(self, key: int, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        item = self._items.get(key)
        if item is None:
            return None
        intent, at = item
        if now - at > self.ttl:
            del self._items[key]
            return None
        return intent

    def remember(self, key: int, intent: str | None, now: float | None = None) -> None:
        if intent is None:
            return
        self._items[key] = (intent, time.monotonic() if now is None else now)
        self._items.move_to_end(key)
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)
