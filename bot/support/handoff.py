"""Live handoff: a person talks to an operator inside Telegram, through the bot.

The operators' chat is a forum supergroup with one topic per user. The topic opens with a card
(name, language, the questions so far and the bot's guesses); operators answer in the topic and
the bot copies their messages (text or media) to the user, and the user's messages to the topic.
`/close` in the topic gives the user back to the bot and asks for a 1-5 rating.

Everything sent to the operators' chat waits in a queue per customer, and the queues are served
in turn within Telegram's per-group limit (about 20 messages a minute): a customer's messages
keep their order, and one customer's backlog delays another's new topic by a send or two, not
by the whole backlog. A customer with CUSTOMER_QUEUE_LIMIT messages waiting is told once that
the operators are behind, and their further messages are not relayed (each one logged) until
the backlog has gone. The queue is in the database as well as in memory, so what was not sent
before a restart is sent after it, in order (a send cut short by the stop is sent again). The
rest of the state lives in the database too: open handoffs are reloaded at start.

Several instances (one database): any instance may get any customer's or operator's message,
so whether a chat is with an operator is read from the database, not this process's memory,
and a customer's topic is created under a lock all instances share (``topic_lock``), so two
instances relaying for one new customer at once open one topic, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Message, User

from bot import texts
from bot.engine.assistant import Assistant
from bot.storage import Handoff, PendingRelay, Storage, StorageError
from bot.telegram.keyboards import close_keyboard, rating_keyboard
from bot.telegram.text import quote, shorten

if TYPE_CHECKING:
    from bot.cluster.leases import Lease

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A customer's messages waiting for the operators' chat: a minute and a half of the group's
# 20 a minute. Beyond it their messages are not relayed (the customer is told once).
CUSTOMER_QUEUE_LIMIT = 30
# Several instances: seconds between heartbeats; an instance silent for three is gone, and what
# it left queued for the operators is taken over by a live one.
PEER_HEARTBEAT = 10.0
# An instance is taken to be gone once its heartbeat has been missing this many heartbeats in a
# row: a Redis restarted empty loses every heartbeat, and the live instances beat again within
# one.
PEER_GONE_AFTER = 2.5
# Seconds a customer's message waits while an earlier one of theirs, queued by another instance,
# has not reached the topic yet (their order), at most; then it goes anyway.
ORDER_WAIT = 30.0
ORDER_POLL = 0.1  # seconds between looks at whether the earlier message has gone
RETRY_MAX_DELAY = 60.0  # seconds between attempts while the Bot API is unreachable, at most
CARD_QUESTIONS = 5
CARD_QUESTION_CHARS = 200
TOPIC_NAME_CHARS = 128
# How Telegram says that a topic is gone (deleted by an operator).
_TOPIC_GONE = ("thread not found", "topic_deleted", "topic_id_invalid", "topic deleted")


def topic_gone(exc: TelegramBadRequest) -> bool:
    message = exc.message.lower()
    return any(marker in message for marker in _TOPIC_GONE)


_EPSILON = 1e-6  # seconds: a slot that frees "now" is free, whatever the float rounding


class Window(Protocol):
    """Waits for a free slot: RateWindow in one process, SharedWindow (bot/cluster/limits.py)
    across the instances."""

    async def acquire(self) -> None: ...


class RateWindow:
    """At most `limit` calls in any `period` seconds: the caller waits for a free slot."""

    def __init__(
        self,
        limit: int,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            while self._sent and now - self._sent[0] >= self.period - _EPSILON:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return
            await self._sleep(max(_EPSILON, self._sent[0] + self.period - now))


@dataclass(frozen=True, slots=True)
class Customer:
    """Who is talking to the operators: their private chat and how to show them on the card."""

    chat_id: int
    user_id: int
    name: str
    username: str | None
    language: str | None

    @classmethod
    def of(cls, chat_id: int, user: User) -> Customer:
        return cls(chat_id, user.id, user.full_name, user.username, user.language_code)


@dataclass(slots=True)
class Streak:
    """One conversation's last two outcomes (question id, failed) and whether a person was
    offered for them: what FailureStreak keeps per conversation in memory, and the shared
    state (bot/cluster/state.py) keeps in Redis."""

    outcomes: deque[tuple[int, bool]] = dataclasses.field(default_factory=lambda: deque(maxlen=2))
    offered: bool = False

    def question(self, question_id: int, failed: bool) -> bool:
        """A new question and whether the bot failed it; True when a person should be offered."""
        self.outcomes.append((question_id, failed))
        return self._check()

    def vote(self, question_id: int, up: bool) -> bool:
        """👍/👎 on an earlier answer; True when a person should be offered."""
        for index, (qid, _) in enumerate(self.outcomes):
            if qid == question_id:
                self.outcomes[index] = (qid, not up)
                break
        else:
            self.outcomes.append((question_id, not up))
        return self._check()

    def _check(self) -> bool:
        if len(self.outcomes) == 2 and all(failed for _, failed in self.outcomes):
            if not self.offered:
                self.offered = True
                return True
            return False
        self.offered = False
        return False

    def to_data(self) -> dict[str, Any]:
        return {"outcomes": [list(outcome) for outcome in self.outcomes], "offered": self.offered}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Streak:
        outcomes = deque(((int(q), bool(f)) for q, f in data.get("outcomes", ())), maxlen=2)
        return cls(outcomes, bool(data.get("offered", False)))


class FailureStreak:
    """The last two outcomes per conversation: a handoff or a 👎 is a failure. Two failures in a
    row make the bot offer a person without being asked (once per streak)."""

    def __init__(self, max_size: int = 100_000) -> None:
        self.max_size = max_size
        self._streaks: OrderedDict[int, Streak] = OrderedDict()

    def __len__(self) -> int:
        """How many conversations are remembered."""
        return len(self._streaks)

    def _streak_of(self, key: int) -> Streak:
        """The conversation's streak, made the most recent; the least recent conversations
        beyond `max_size` are forgotten."""
        streak = self._streaks.get(key)
        if streak is None:
            streak = self._streaks[key] = Streak()
        self._streaks.move_to_end(key)
        while len(self._streaks) > self.max_size:
            self._streaks.popitem(last=False)
        return streak

    def question(self, key: int, question_id: int, failed: bool) -> bool:
        """A new question and whether the bot failed it; True when a person should be offered."""
        return self._streak_of(key).question(question_id, failed)

    def vote(self, key: int, question_id: int, up: bool) -> bool:
        """👍/👎 on an earlier answer; True when a person should be offered."""
        if key not in self._streaks and up:
            return False
        return self._streak_of(key).vote(question_id, up)


# What a relay sends to the operators' chat.
OPEN = "open"  # the customer's topic (opened if need be) and card
COPY = "copy"  # one of the customer's messages
NOTE = "note"  # a line for the operators in the customer's topic


@dataclass(slots=True)
class Relay:
    """Something for the operators' chat, queued under its customer's chat."""

    chat_id: int
    kind: str  # OPEN, COPY or NOTE
    data: dict[str, Any]  # JSON: what sending it needs
    id: int | None = None  # its row in the database (None: it could not be stored)


class FairQueue:
    """One queue per customer, served in turn: the customer whose turn it is gives one item
    and goes to the back of the line. A customer's items keep their order; a new customer
    waits for one item from each customer ahead, however long their queues."""

    def __init__(self) -> None:
        self._queues: OrderedDict[int, deque[Relay]] = OrderedDict()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def __iter__(self) -> Iterator[Relay]:
        for queue in self._queues.values():
            yield from queue

    def waiting(self, chat_id: int, kind: str | None = None) -> int:
        """How many of this customer's items (of `kind`) wait."""
        queue = self._queues.get(chat_id, ())
        return len(queue) if kind is None else sum(1 for relay in queue if relay.kind == kind)

    def put(self, relay: Relay) -> None:
        queue = self._queues.get(relay.chat_id)
        if queue is None:
            queue = self._queues[relay.chat_id] = deque()  # at the back of the line
        queue.append(relay)
        self._ready.set()

    def put_back(self, relay: Relay) -> None:
        """An item taken but not sent: first again, its customer first in line."""
        queue = self._queues.setdefault(relay.chat_id, deque())
        queue.appendleft(relay)
        self._queues.move_to_end(relay.chat_id, last=False)
        self._ready.set()

    async def take(self) -> Relay:
        while not self._queues:
            self._ready.clear()
            await self._ready.wait()
        chat_id, queue = next(iter(self._queues.items()))
        relay = queue.popleft()
        if queue:
            self._queues.move_to_end(chat_id)
        else:
            del self._queues[chat_id]
        return relay


class Relayed(enum.Enum):
    """What became of a customer's message for the operators."""

    QUEUED = "queued"
    REFUSED = "refused"  # over the customer's limit; they have been told
    REFUSED_TELL = "refused, tell"  # over the limit for the first time: tell the customer


class Peers(Protocol):
    """The other instances on the same database (bot.cluster.instances.Instances)."""

    me: str  # this instance's name, under which it queues

    async def beat(self, ttl: float) -> None: ...

    async def alive(self, owner: str) -> bool: ...

    async def leave(self) -> None: ...

    def lock(self, name: str) -> AbstractAsyncContextManager[None]: ...


class HandoffDesk:
    """The live-handoff service used by the customer and operator handlers."""

    def __init__(
        self,
        operator_chat_id: int,
        db: Storage,
        assistant: Assistant,
        *,
        timeout: float,
        rate: int,
        window: Window | None = None,
        timeouts_lease: Lease | None = None,
        peers: Peers | None = None,
    ) -> None:
        """`window` counts the sends to the operators' group (RateWindow(rate) unless given);
        with `timeouts_lease`, the timeout notices go out from whichever instance holds it.
        `peers`: the other instances on the same database (bot.cluster.instances), or None
        when this is the only one."""
        self.operator_chat_id = operator_chat_id
        self.peers = peers
        self._locks = _LocalLocks()
        self._sending: int | None = None  # the relay being sent: not in the queue meanwhile
        self._missing: dict[str, float] = {}  # instances without a heartbeat: since when
        self.db = db
        self.assistant = assistant
        self.timeout = timeout
        self.window: Window = RateWindow(rate) if window is None else window
        self.timeouts_lease = timeouts_lease
        self._relays = FairQueue()
        self._idle = asyncio.Event()  # nothing queued or being sent
        self._idle.set()
        self._told_full: set[int] = set()  # customers told their queue is full (until it empties)
        self._open: dict[int, int] = {}  # private chat id -> open handoff id
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ life cycle

    async def start(self, bot: Bot) -> None:
        claimed = await self.db.claim_topics(self.operator_chat_id)
        if claimed:
            logger.info("%d topic(s) from before the upgrade kept in the operators' group", claimed)
        for handoff in await self.db.open_handoffs():
            self._open[handoff.chat_id] = handoff.id
        if self.peers is None:  # the only instance: whatever is queued is this one's to send
            resumed = await self._resume(await self.db.pending_relays())
            if resumed:
                logger.info("operator queue: %d message(s) from before the restart", resumed)
        self._tasks = [
            asyncio.create_task(self._send_loop(bot), name="operator-queue"),
            asyncio.create_task(self._timeout_loop(bot), name="handoff-timeouts"),
        ]
        if self.peers is not None:
            await self.peers.beat(PEER_HEARTBEAT * 3)
            self._tasks.append(asyncio.create_task(self._take_over_loop(), name="relay-takeover"))
        logger.info("live handoff on: %d conversation(s) with operators", len(self._open))

    async def stop(self, grace: float) -> None:
        """Send what is queued (up to `grace` seconds), then stop the background tasks; what is
        left stays in the database for the next start."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=grace)
        for task in self._tasks:
            task.cancel()
        # Bounded: a background task stuck past its cancellation must not hold the shutdown.
        done, stuck = await asyncio.wait(self._tasks, timeout=grace) if self._tasks else ((), ())
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                logger.error("live handoff: %s failed: %r", task.get_name(), task.exception())
        for task in stuck:
            logger.error("live handoff: %s did not stop in %s s", task.get_name(), grace)
        self._tasks = []
        if self.peers is not None:
            # What is left here is anyone's at once, not after this instance's heartbeat has run
            # out.
            try:
                await self.db.give_up_relays(self.peers.me)
            except StorageError as exc:
                logger.warning("operator queue: left to be taken over later (%s)", exc)
            await self.peers.leave()
        kept = sum(1 for relay in self._relays if relay.id is not None)
        lost = len(self._relays) - kept
        if kept:
            logger.warning(
                "%d message(s) for the operators not sent yet: kept, sent after the restart", kept
            )
        if lost:
            logger.error("%d message(s) for the operators not sent and not stored: lost", lost)

    async def _resume(self, pending: list[PendingRelay]) -> int:
        """Queue stored relays that are not queued here yet; how many."""
        known = {relay.id for relay in self._relays} | {self._sending}
        resumed = 0
        for stored in pending:
            if stored.id in known:
                continue
            try:
                data = json.loads(stored.payload)
            except ValueError:
                logger.error("operator queue: relay %d is unreadable: dropped", stored.id)
                await self.db.relay_done(stored.id)
                continue
            self._relays.put(Relay(stored.chat_id, stored.kind, data, stored.id))
            resumed += 1
        if resumed:
            self._idle.clear()
        return resumed

    async def take_over(self) -> int:
        """Several instances: what instances that are gone left queued becomes this one's to
        send (including this instance's own from before a restart, under its old name); how
        many messages."""
        assert self.peers is not None
        me = self.peers.me
        now = asyncio.get_running_loop().time()
        gone: list[str | None] = []
        for owner in await self.db.relay_owners():
            if owner == me:
                continue
            if owner is None:  # queued before owners were kept
                gone.append(owner)
            elif await self.peers.alive(owner):
                self._missing.pop(owner, None)
            elif now - self._missing.setdefault(owner, now) >= PEER_GONE_AFTER * PEER_HEARTBEAT:
                gone.append(owner)
        if not gone or not await self.db.take_over_relays(gone, me):
            return 0
        taken = await self._resume(await self.db.pending_relays(me))
        if taken:
            logger.info("operator queue: took over %d message(s) a stopped instance left", taken)
        return taken

    async def _take_over_loop(self) -> None:
        assert self.peers is not None
        while True:
            try:
                await self.take_over()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("operator queue take-over: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(PEER_HEARTBEAT)
            await self.peers.beat(PEER_HEARTBEAT * 3)

    async def _ready_to_send(self, relay: Relay) -> bool:
        """Several instances: False when the relay is no longer this instance's (another took
        it over); else once the customer's earlier messages queued elsewhere are sent (or
        ORDER_WAIT has passed)."""
        if self.peers is None or relay.id is None:
            return True
        me = self.peers.me
        try:
            if not await self.db.relay_is_owned(relay.id, me):
                logger.info("operator queue: relay %d is another instance's now", relay.id)
                return False
            deadline = asyncio.get_running_loop().time() + ORDER_WAIT
            while await self.db.earlier_relay_elsewhere(relay.chat_id, relay.id, me):
                if asyncio.get_running_loop().time() > deadline:
                    logger.warning(
                        "operator queue: chat %s's earlier message still waits elsewhere;"
                        " sending relay %d anyway",
                        relay.chat_id,
                        relay.id,
                    )
                    break
                await asyncio.sleep(ORDER_POLL)
        except StorageError as exc:  # the database cannot tell: sent rather than held
            logger.warning("operator queue: relay %d sent unchecked (%s)", relay.id, exc)
        return True

    def _topic_lock(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        if self.peers is not None:
            return self.peers.lock(f"topic:{self.operator_chat_id}:{chat_id}")
        return self._locks(chat_id)

    async def is_open(self, chat_id: int) -> bool:
        """Whether the chat's person talks to an operator now (the bot stays quiet)."""
        if self.peers is not None:  # another instance may have opened or closed it
            return await self.db.current_handoff(chat_id) is not None
        return chat_id in self._open

    def waiting(self) -> int:
        """How many things wait for the operators' chat."""
        return len(self._relays)

    # ------------------------------------------------------------------ the queue

    async def _queue(self, chat_id: int, kind: str, data: dict[str, Any]) -> None:
        relay = Relay(chat_id, kind, data)
        try:
            relay.id = await self.db.add_relay(
                chat_id,
                kind,
                json.dumps(data, ensure_ascii=False),
                owner=None if self.peers is None else self.peers.me,
            )
        except (StorageError, sqlite3.Error) as exc:
            logger.error(
                "operator queue: a %s for chat %s could not be stored (%s): queued in memory only",
                kind,
                chat_id,
                exc,
            )
        self._idle.clear()
        self._relays.put(relay)

    async def _send_loop(self, bot: Bot) -> None:
        while True:
            relay = await self._relays.take()
            self._sending = relay.id
            try:
                if await self._ready_to_send(relay):
                    await self._deliver(bot, relay)
            except asyncio.CancelledError:
                self._relays.put_back(relay)  # still in the database: sent after the restart
                raise
            finally:
                self._sending = None
            if not self._relays.waiting(relay.chat_id):
                self._told_full.discard(relay.chat_id)
            if not len(self._relays):
                self._idle.set()

    async def _deliver(self, bot: Bot, relay: Relay) -> None:
        """Send a relay, waiting out an unreachable Bot API; what Telegram refuses is logged
        and dropped. Then off the queue in the database."""
        delay = 1.0
        while True:
            try:
                await self._send(bot, relay)
                break
            except TelegramRetryAfter as exc:
                wait = float(exc.retry_after)
                logger.warning("operator queue: flood control, trying again in %s s", wait)
            except (TelegramNetworkError, TelegramServerError) as exc:
                wait, delay = delay, min(RETRY_MAX_DELAY, delay * 2)
                logger.warning("operator queue: %s; trying again in %s s", exc, wait)
            except Exception as exc:  # refused by Telegram: retrying would not help
                logger.error(
                    "operator queue: a %s for chat %s dropped: %s: %s",
                    relay.kind,
                    relay.chat_id,
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                )
                break
            await asyncio.sleep(wait)
        if relay.id is not None:
            try:
                await self.db.relay_done(relay.id)
            except (StorageError, sqlite3.Error) as exc:
                logger.error("operator queue: relay %d sent but not marked (%s)", relay.id, exc)

    async def _send(self, bot: Bot, relay: Relay) -> None:
        data = relay.data
        if relay.kind == OPEN:
            await self._open_topic(bot, Customer(**data["customer"]))
        elif relay.kind == COPY:
            await self._copy_to_topic(
                bot, Customer(**data["customer"]), data["from_chat_id"], data["message_id"]
            )
        elif relay.kind == NOTE:
            await self._note_now(bot, relay.chat_id, data["text"])
        else:
            raise ValueError(f"unknown relay kind {relay.kind!r}")

    async def _to_operators(self, call: Callable[[], Awaitable[T]]) -> T:
        await self.window.acquire()
        return await call()

    # ------------------------------------------------------------------ topics

    async def _new_topic(self, bot: Bot, customer: Customer) -> int:
        key = self.db.user_key(customer.user_id)[:6]
        name = texts.TOPIC_NAME.format(name=customer.name or key, key=key)
        topic = await self._to_operators(
            lambda: bot.create_forum_topic(self.operator_chat_id, name[:TOPIC_NAME_CHARS])
        )
        topic_id = topic.message_thread_id
        await self.db.set_topic(self.operator_chat_id, customer.chat_id, topic_id)
        await self._send_card(bot, customer, topic_id)
        return topic_id

    async def _send_card(self, bot: Bot, customer: Customer, topic_id: int) -> None:
        handoff = await self.db.current_handoff(customer.chat_id)
        text = await self._card_text(customer)
        markup = close_keyboard(handoff.id) if handoff is not None else None
        await self._to_operators(
            lambda: bot.send_message(
                self.operator_chat_id, text, message_thread_id=topic_id, reply_markup=markup
            )
        )

    async def _card_text(self, customer: Customer) -> str:
        lines = [quote(texts.OPERATOR_CARD_TITLE.format(name=customer.name))]
        if customer.username:
            lines.append(quote(texts.OPERATOR_CARD_USERNAME.format(username=customer.username)))
        if customer.language:
            lines.append(quote(texts.OPERATOR_CARD_LANGUAGE.format(language=customer.language)))
        records = await self.db.recent_questions(customer.user_id, CARD_QUESTIONS)
        lines.append("")
        if not records:
            lines.append(quote(texts.OPERATOR_CARD_NO_QUESTIONS))
        else:
            lines.append(quote(texts.OPERATOR_CARD_QUESTIONS))
            knowledge = self.assistant.knowledge
            for record in records:
                guess = texts.OPERATOR_NO_GUESS
                if record.best_guess and self.assistant.knows(record.best_guess):
                    guess = knowledge.entry(record.best_guess).title
                line = texts.OPERATOR_CARD_QUESTION.format(
                    question=shorten(record.text or "…", CARD_QUESTION_CHARS),
                    guess=guess,
                    action=texts.OPERATOR_ACTIONS.get(record.action, record.action),
                    confidence=max(0.0, min(1.0, record.confidence)),
                )
                lines.append(quote(line))
        lines.extend(["", quote(texts.OPERATOR_CARD_HINT)])
        return "\n".join(lines)

    async def _topic(self, bot: Bot, customer: Customer, gone: int | None = None) -> int:
        """The customer's topic, opened (with its card) if there is none, or if the one known
        is ``gone``. Under the topic lock: whoever gets it first opens the topic, the others
        find it."""
        known = await self.db.topic_for(self.operator_chat_id, customer.chat_id)
        if known is not None and known != gone:
            return known
        async with self._topic_lock(customer.chat_id):
            known = await self.db.topic_for(self.operator_chat_id, customer.chat_id)
            if known is not None and known != gone:
                return known
            if gone is not None:
                logger.info("topic %s is gone: opening a new one", gone)
            return await self._new_topic(bot, customer)

    async def _in_topic(
        self, bot: Bot, customer: Customer, send: Callable[[int], Awaitable[object]]
    ) -> None:
        """Send something to the customer's topic; a deleted topic is recreated (with a new
        card) and the message sent again, so the customer is never lost."""
        topic_id = await self._topic(bot, customer)
        try:
            await self._to_operators(lambda: send(topic_id))
        except TelegramBadRequest as exc:
            if not topic_gone(exc):
                raise
            topic_id = await self._topic(bot, customer, gone=topic_id)
            await self._to_operators(lambda: send(topic_id))

    # ------------------------------------------------------------------ the customer side

    async def begin(self, customer: Customer) -> bool:
        """Open a live conversation (False: one is open already). The card is queued."""
        if await self.is_open(customer.chat_id):
            return False
        handoff = await self.db.open_handoff(customer.chat_id, customer.user_id)
        self._open[customer.chat_id] = handoff.id
        await self._queue(customer.chat_id, OPEN, {"customer": dataclasses.asdict(customer)})
        return True

    async def _open_topic(self, bot: Bot, customer: Customer) -> None:
        topic_id = await self.db.topic_for(self.operator_chat_id, customer.chat_id)
        if topic_id is None:
            await self._topic(bot, customer)  # opened with its card
            return
        try:
            await self._send_card(bot, customer, topic_id)
        except TelegramBadRequest as exc:
            if not topic_gone(exc):
                raise
            await self._topic(bot, customer, gone=topic_id)

    async def from_customer(self, customer: Customer, message: Message) -> Relayed:
        """Queue the customer's message (any kind) for their topic, unless too many of theirs
        wait already."""
        waiting = self._relays.waiting(customer.chat_id, COPY)
        if waiting >= CUSTOMER_QUEUE_LIMIT:
            logger.warning(
                "chat %s: %d messages wait for the operators already; message %s not relayed",
                customer.chat_id,
                waiting,
                message.message_id,
            )
            if customer.chat_id in self._told_full:
                return Relayed.REFUSED
            self._told_full.add(customer.chat_id)
            return Relayed.REFUSED_TELL
        data = {
            "customer": dataclasses.asdict(customer),
            "from_chat_id": message.chat.id,
            "message_id": message.message_id,
        }
        await self._queue(customer.chat_id, COPY, data)
        return Relayed.QUEUED

    async def _copy_to_topic(
        self, bot: Bot, customer: Customer, from_chat_id: int, message_id: int
    ) -> None:
        async def copy(topic_id: int) -> object:
            return await bot.copy_message(
                self.operator_chat_id,
                from_chat_id=from_chat_id,
                message_id=message_id,
                message_thread_id=topic_id,
            )

        await self._in_topic(bot, customer, copy)

    async def _note(self, chat_id: int, text: str) -> None:
        """A line for the operators in the customer's topic (if the topic still exists)."""
        await self._queue(chat_id, NOTE, {"text": text})

    async def _note_now(self, bot: Bot, chat_id: int, text: str) -> None:
        topic_id = await self.db.topic_for(self.operator_chat_id, chat_id)
        if topic_id is None:
            return
        try:
            await self._to_operators(
                lambda: bot.send_message(
                    self.operator_chat_id, quote(text), message_thread_id=topic_id
                )
            )
        except TelegramBadRequest as exc:
            if not topic_gone(exc):
                raise

    # ------------------------------------------------------------------ the operator side

    async def customer_of(self, topic_id: int) -> int | None:
        """The customer whose topic this is; None for a topic the bot did not open in this
        group (the operators' own topics, or one of another group's ids)."""
        return await self.db.chat_for_topic(self.operator_chat_id, topic_id)

    async def from_operator(self, bot: Bot, chat_id: int, message: Message) -> None:
        """Copy an operator's message to the customer. Writing in a closed conversation's
        topic opens it again: the operator has taken the customer back."""
        handoff = await self.db.current_handoff(chat_id)
        if handoff is None:
            # A private chat's id is its user's id.
            handoff = await self.db.open_handoff(chat_id, chat_id)
            self._open[chat_id] = handoff.id
        if not await self._copy_to_customer(bot, chat_id, message):
            return
        if handoff.first_reply_at is None:
            await self.db.operator_replied(handoff.id)

    async def _copy_to_customer(
        self, bot: Bot, chat_id: int, message: Message, caption: str | None = None
    ) -> bool:
        """Copy an operator's message to the customer and remember the copy (for an edit); a
        failure is told in the topic."""
        try:
            copy = await bot.copy_message(
                chat_id, message.chat.id, message.message_id, caption=caption
            )
        except TelegramForbiddenError:
            await self._note(
                chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=texts.OPERATOR_BLOCKED)
            )
            return False
        except TelegramBadRequest as exc:
            await self._note(chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=exc.message))
            return False
        await self.db.remember_copy(
            self.operator_chat_id, message.message_id, chat_id, copy.message_id
        )
        return True

    async def operator_edited(self, bot: Bot, message: Message) -> None:
        """An operator edited a message the customer got: the customer's copy is edited too;
        where it cannot be (deleted, or the media itself replaced), the corrected message is
        sent again, marked as corrected."""
        copy = await self.db.copy_of(self.operator_chat_id, message.message_id)
        if copy is None:
            return  # never relayed, or too long ago
        chat_id, copy_id = copy
        corrected = message.html_text
        try:
            if message.text is not None:
                await bot.edit_message_text(corrected, chat_id=chat_id, message_id=copy_id)
            else:
                await bot.edit_message_caption(
                    chat_id=chat_id, message_id=copy_id, caption=corrected or None
                )
            return
        except TelegramForbiddenError:
            await self._note(
                chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=texts.OPERATOR_BLOCKED)
            )
            return
        except TelegramBadRequest as exc:
            if message.text is not None and "not modified" in exc.message.lower():
                return  # the same text: nothing for the customer to see
            logger.info("an operator's edit could not change chat %s's copy: %s", chat_id, exc)
        marked = quote(texts.HANDOFF_CORRECTED) + "\n" + corrected
        if message.text is not None:
            try:
                sent = await bot.send_message(chat_id, marked)
            except TelegramForbiddenError:
                reason = texts.OPERATOR_BLOCKED
            except TelegramBadRequest as exc:
                reason = exc.message
            else:
                await self.db.remember_copy(
                    self.operator_chat_id, message.message_id, chat_id, sent.message_id
                )
                return
            await self._note(chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=reason))
            return
        await self._copy_to_customer(bot, chat_id, message, caption=marked)

    async def not_relayed(self, chat_id: int, reason: str) -> None:
        """Tell the operators in the customer's topic why a message of theirs was not passed on."""
        await self._note(chat_id, reason)

    async def close(self, bot: Bot, chat_id: int, *, by_customer: bool = False) -> Handoff | None:
        """Give the customer back to the bot and ask for a rating (None: nothing was open).
        `by_customer`: the customer ended it (/ketthuc), not an operator."""
        handoff = await self.db.current_handoff(chat_id)
        if handoff is None:
            self._open.pop(chat_id, None)
            return None
        closed = await self.db.close_handoff(handoff.id)
        self._open.pop(chat_id, None)
        if closed is None:
            return None
        await self._note(
            chat_id, texts.OPERATOR_CUSTOMER_ENDED if by_customer else texts.OPERATOR_CLOSED
        )
        try:
            await bot.send_message(
                chat_id,
                quote(texts.HANDOFF_ENDED_USER if by_customer else texts.HANDOFF_CLOSED_USER),
                reply_markup=rating_keyboard(closed.id),
            )
        except TelegramAPIError as exc:
            logger.warning("could not ask chat %s for a rating: %s", chat_id, exc)
        return closed

    async def close_handoff(self, bot: Bot, handoff_id: int) -> Handoff | None:
        handoff = await self.db.handoff(handoff_id)
        if handoff is None or handoff.status == "closed":
            return None
        return await self.close(bot, handoff.chat_id)

    async def rate(self, chat_id: int, handoff_id: int, stars: int) -> bool:
        handoff = await self.db.handoff(handoff_id)
        if handoff is None or handoff.chat_id != chat_id:
            return False
        if not await self.db.rate_handoff(handoff_id, stars):
            return False
        await self._note(chat_id, texts.OPERATOR_RATED.format(stars="⭐" * stars))
        return True

    # ------------------------------------------------------------------ timeouts

    async def notify_timeouts(self, bot: Bot, now: float | None = None) -> int:
        """Tell each customer still waiting after `timeout` seconds, once, with the phone."""
        now = time.time() if now is None else now
        phone = self.assistant.knowledge.contact
        notice = texts.HANDOFF_TIMEOUT_NOTICE.format(phone=phone.phone_display or phone.phone)
        told = 0
        for handoff in await self.db.handoffs_waiting(now - self.timeout):
            await self.db.mark_timeout_notified(handoff.id)
            try:
                await bot.send_message(handoff.chat_id, quote(notice))
                told += 1
            except TelegramAPIError as exc:
                logger.warning("timeout notice to chat %s failed: %s", handoff.chat_id, exc)
            minutes = max(1, round(self.timeout / 60))
            await self._note(handoff.chat_id, texts.OPERATOR_TIMEOUT.format(minutes=minutes))
        return told

    async def _timeout_loop(self, bot: Bot) -> None:
        interval = max(0.2, min(30.0, self.timeout / 4))
        if self.timeouts_lease is not None:
            from bot.cluster.leases import under_lease

            await under_lease(
                self.timeouts_lease, interval, lambda: self.notify_timeouts(bot), "handoff timeouts"
            )
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.notify_timeouts(bot)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("handoff timeouts: %s: %s", type(exc).__name__, exc, exc_info=exc)


class _LocalLocks:
    """A lock per chat, in this process only (one instance); dropped when nobody holds or
    waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, chat_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(chat_id, (asyncio.Lock(), 0))
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[chat_id]
            if users == 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)
