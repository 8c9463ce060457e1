"""The dispatcher's outer middlewares that keep the bot orderly: updates in flight tracked for
shutdown, and one chat's updates handled in the order they came, without one chat's backlog
keeping everyone else waiting."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update

from bot import texts
from bot.telegram.handlers.common import group_reply_to
from bot.telegram.text import quote

if TYPE_CHECKING:
    from bot.cluster.order import ChatLocks

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


# Handlers running at once, whatever the number of updates taken (polling.py, webhook.py).
MAX_RUNNING_UPDATES = 64
# Updates of one chat taken at once, the one being handled included: more would only wait for
# replies Telegram is slowing down (FLOOD_BURST and GROUP_FLOOD_BURST raise it if larger).
CHAT_BACKLOG = 10


@dataclass(slots=True)
class _Turns:
    """One chat's line: whether its turn is taken, who waits for the next one (notices ahead
    of updates), how many of its updates and notices are taken (holding the turn or waiting),
    and whether the chat was told it is over its share."""

    busy: bool = False
    notices: deque[asyncio.Future[None]] = field(default_factory=deque)
    updates: deque[asyncio.Future[None]] = field(default_factory=deque)
    taken: int = 0
    told: bool = False


class ChatOrder(BaseMiddleware):
    """Updates from one chat are handled one after another, in the order they arrived (polling
    handles updates concurrently): two quick questions get their answers in order, and the
    follow-up context sees the first before the second. Different chats stay concurrent.

    Fairness: an update takes one of the `running` processing slots only when its chat's turn
    has come, so a chat whose replies are slow (Telegram waits out a busy group's messages
    with 429s) holds one slot, however many of its updates wait; everyone else is answered
    meanwhile. The slots are shared first come, first served, one waiting update per chat.
    Waiting updates still take room among those polling (or the webhook) takes at once, so
    a chat holds at most `backlog` of them; beyond that a message or button press is
    dropped, and the chat is told once (texts.BUSY_NOTICE) until its backlog has cleared.
    The operators' group and the admins are never dropped (their updates just wait).

    A notice (this one, or flood control's) takes the chat's next turn, ahead of the updates
    waiting (`cut_in`): it must not wait behind the answers, nor go out at the same time as
    one, since Telegram lets a bot send a group only about 20 messages a minute and two sends
    at once only earn each other 429s.

    Several instances (`shared`, with REDIS_URL): once its turn has come here, an update also
    holds its chat's lock in Redis while it is handled, taken in the order of the update ids,
    so that no two instances handle one chat at once and a chat's messages spread over the
    instances are answered in order; the backlog and its notices stay per process."""

    def __init__(
        self,
        running: int = MAX_RUNNING_UPDATES,
        backlog: int = CHAT_BACKLOG,
        *,
        exempt_chats: Iterable[int] = (),
        exempt_users: Iterable[int] = (),
        shared: ChatLocks | None = None,
    ) -> None:
        if running < 1 or backlog < 1:
            raise ValueError("running >= 1 and backlog >= 1 are required")
        self.backlog = backlog
        self.exempt_chats = frozenset(exempt_chats)
        self.exempt_users = frozenset(exempt_users)
        self.shared = shared
        self._slots = asyncio.Semaphore(running)
        self._chats: dict[int, _Turns] = {}

    def __len__(self) -> int:
        """Chats with updates taken (memory: a chat is forgotten once it has none)."""
        return len(self._chats)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        if chat is None:
            async with self._slots:
                return await handler(event, data)
        key: int = chat.id
        turns = self._chats.get(key)
        if (
            turns is not None
            and turns.taken >= self.backlog
            and isinstance(event, Update)
            and self._droppable(key, event, data)
        ):
            return await self._refuse(key, event, turns)
        async with self._turn(key, notice=False), self._slots:
            if self.shared is None:
                return await handler(event, data)
            update_id = event.update_id if isinstance(event, Update) else 0
            async with self.shared.hold(data["bot"].id, key, update_id):
                return await handler(event, data)

    @asynccontextmanager
    async def cut_in(self, chat: int) -> AsyncIterator[None]:
        """The chat's next turn, ahead of its updates waiting for theirs: for a notice."""
        async with self._turn(chat, notice=True):
            yield

    @asynccontextmanager
    async def _turn(self, chat: int, *, notice: bool) -> AsyncIterator[None]:
        turns = self._chats.get(chat)
        if turns is None:
            turns = self._chats[chat] = _Turns()
        turns.taken += 1
        try:
            await self._wait_turn(turns, notice)
            try:
                yield
            finally:
                self._pass_turn(turns)
        finally:
            turns.taken -= 1
            if not turns.taken:
                del self._chats[chat]

    @staticmethod
    async def _wait_turn(turns: _Turns, notice: bool) -> None:
        if not turns.busy:
            turns.busy = True
            return
        waiter = asyncio.get_running_loop().create_future()
        line = turns.notices if notice else turns.updates
        line.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                ChatOrder._pass_turn(turns)  # handed the turn just as it was cancelled
            elif waiter in line:  # else a turn passed on already skipped it, being done
                line.remove(waiter)
            raise

    @staticmethod
    def _pass_turn(turns: _Turns) -> None:
        """The turn goes to the first notice waiting, else the first update; else it is free."""
        for line in (turns.notices, turns.updates):
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        turns.busy = False

    def _droppable(self, chat: int, event: Update, data: dict[str, Any]) -> bool:
        """Only what a person sent can be dropped (a message, an edit, a button press), and
        not in the operators' group or from an admin."""
        if chat in self.exempt_chats:
            return False
        user = data.get("event_from_user")
        if user is not None and user.id in self.exempt_users:
            return False
        return (
            event.message is not None
            or event.edited_message is not None
            or event.callback_query is not None
        )

    async def _refuse(self, chat: int, event: Update, turns: _Turns) -> None:
        if event.callback_query is not None:
            # A pressed button spins until answered: tell why nothing happens, every time
            # (a pop-up, not a message in the chat).
            try:
                await event.callback_query.answer(texts.BUSY_NOTICE)
            except TelegramAPIError as exc:
                logger.warning("update %s: busy notice not shown: %s", event.update_id, exc)
            return
        message = event.message or event.edited_message
        if message is None or turns.told:
            logger.info("update %s: chat backlog full, dropped", event.update_id)
            return
        turns.told = True
        logger.warning("update %s: chat backlog full, dropped with a notice", event.update_id)
        try:
            async with self.cut_in(chat):
                await message.answer(
                    quote(texts.BUSY_NOTICE), reply_parameters=group_reply_to(message)
                )
        except TelegramAPIError as exc:  # blocked, kicked, 429 after retries: never mind
            logger.warning("update %s: busy notice not sent: %s", event.update_id, exc)
