"""The dispatcher's outer middlewares that keep the bot orderly: updates in flight tracked for
shutdown, and one chat's updates handled in the order they came."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

logger = logging.getLogger("bot")


class InFlight(BaseMiddleware):
    """Tracks updates being handled, so that shutdown can wait for their replies (polling
    stops on SIGTERM without waiting for handler tasks), and the last update taken."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.last_update_id: int | None = None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        if isinstance(event, Update):
            self.last_update_id = max(self.last_update_id or 0, event.update_id)
        try:
            return await handler(event, data)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def wait(self, grace: float) -> None:
        """Until no update is being handled, `grace` seconds at most (updates that polling
        handed over just before it stopped are waited for too)."""
        current = asyncio.current_task()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        announced = False
        while True:
            pending = [task for task in self.tasks if task is not current and not task.done()]
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                logger.warning("%d update(s) not finished after %s s", len(pending), grace)
                return
            if not announced:
                logger.info("waiting for %d update(s) still being handled", len(pending))
                announced = True
            await asyncio.wait(pending, timeout=remaining)


class ChatOrder(BaseMiddleware):
    """Updates from one chat are handled one after another, in the order they arrived (polling
    handles updates concurrently): two quick questions get their answers in order, and the
    follow-up context sees the first before the second. Different chats stay concurrent."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        if chat is None:
            return await handler(event, data)
        key: int = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]
