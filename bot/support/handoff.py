"""Live handoff: a person talks to an operator inside Telegram, through the bot.

The operators' chat is a forum supergroup with one topic per user. The topic opens with a card
(name, language, the questions so far and the bot's guesses); operators answer in the topic and
the bot copies their messages (text or media) to the user, and the user's messages to the topic.
`/close` in the topic gives the user back to the bot and asks for a 1-5 rating.

Everything sent to the operators' chat goes through one FIFO queue that keeps within Telegram's
per-group limit (about 20 messages a minute) and keeps the user's messages in order. The state
lives in the database, so a restart loses no conversation: open handoffs are reloaded at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import Message, User

from bot import texts
from bot.engine.assistant import Assistant
from bot.storage import Handoff, Storage
from bot.telegram.keyboards import close_keyboard, rating_keyboard
from bot.telegram.text import quote, shorten

logger = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_LIMIT = 10_000  # messages waiting for the operators' chat; beyond it, new ones are dropped
CARD_QUESTIONS = 5
CARD_QUESTION_CHARS = 200
TOPIC_NAME_CHARS = 128
# How Telegram says that a topic is gone (deleted by an operator).
_TOPIC_GONE = ("thread not found", "topic_deleted", "topic_id_invalid", "topic deleted")


def topic_gone(exc: TelegramBadRequest) -> bool:
    message = exc.message.lower()
    return any(marker in message for marker in _TOPIC_GONE)


_EPSILON = 1e-6  # seconds: a slot that frees "now" is free, whatever the float rounding


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


class FailureStreak:
    """The last two outcomes per conversation: a handoff or a 👎 is a failure. Two failures in a
    row make the bot offer a person without being asked (once per streak)."""

    def __init__(self, max_size: int = 100_000) -> None:
        self.max_size = max_size
        self._outcomes: OrderedDict[int, deque[tuple[int, bool]]] = OrderedDict()
        self._offered: set[int] = set()

    def __len__(self) -> int:
        """How many conversations are remembered."""
        return len(self._outcomes)

    def _check(self, key: int) -> bool:
        outcomes = self._outcomes[key]
        if len(outcomes) == 2 and all(failed for _, failed in outcomes):
            if key not in self._offered:
                self._offered.add(key)
                return True
            return False
        self._offered.discard(key)
        return False

    def _outcomes_of(self, key: int) -> deque[tuple[int, bool]]:
        """The conversation's outcomes, made the most recent; the least recent conversations
        beyond `max_size` are forgotten."""
        outcomes = self._outcomes.setdefault(key, deque(maxlen=2))
        self._outcomes.move_to_end(key)
        while len(self._outcomes) > self.max_size:
            old, _ = self._outcomes.popitem(last=False)
            self._offered.discard(old)
        return outcomes

    def question(self, key: int, question_id: int, failed: bool) -> bool:
        """A new question and whether the bot failed it; True when a person should be offered."""
        self._outcomes_of(key).append((question_id, failed))
        return self._check(key)

    def vote(self, key: int, question_id: int, up: bool) -> bool:
        """👍/👎 on an earlier answer; True when a person should be offered."""
        if key not in self._outcomes:
            if up:
                return False
            self._outcomes_of(key).append((question_id, True))
            return self._check(key)
        outcomes = self._outcomes_of(key)
        for index, (qid, _) in enumerate(outcomes):
            if qid == question_id:
                outcomes[index] = (qid, not up)
                break
        else:
            outcomes.append((question_id, not up))
        return self._check(key)


Job = Callable[[Bot], Awaitable[None]]


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
    ) -> None:
        self.operator_chat_id = operator_chat_id
        self.db = db
        self.assistant = assistant
        self.timeout = timeout
        self.window = RateWindow(rate)
        self._queue: asyncio.Queue[Job] = asyncio.Queue(QUEUE_LIMIT)
        self._open: dict[int, int] = {}  # private chat id -> open handoff id
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ life cycle

    async def start(self, bot: Bot) -> None:
        claimed = await self.db.claim_topics(self.operator_chat_id)
        if claimed:
            logger.info("%d topic(s) from before the upgrade kept in the operators' group", claimed)
        for handoff in await self.db.open_handoffs():
            self._open[handoff.chat_id] = handoff.id
        self._tasks = [
            asyncio.create_task(self._send_loop(bot), name="operator-queue"),
            asyncio.create_task(self._timeout_loop(bot), name="handoff-timeouts"),
        ]
        logger.info("live handoff on: %d conversation(s) with operators", len(self._open))

    async def stop(self, grace: float) -> None:
        """Send what is queued (up to `grace` seconds), then stop the background tasks."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def is_open(self, chat_id: int) -> bool:
        return chat_id in self._open

    # ------------------------------------------------------------------ the queue

    def _enqueue(self, job: Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            logger.error("operator queue full: a message for the operators was dropped")

    async def _send_loop(self, bot: Bot) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job(bot)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed send must not stop the queue
                logger.error("operator queue: %s: %s", type(exc).__name__, exc, exc_info=exc)
            finally:
                self._queue.task_done()

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

    async def _in_topic(
        self, bot: Bot, customer: Customer, send: Callable[[int], Awaitable[object]]
    ) -> None:
        """Send something to the customer's topic; a deleted topic is recreated (with a new
        card) and the message sent again, so the customer is never lost."""
        known = await self.db.topic_for(self.operator_chat_id, customer.chat_id)
        topic_id = known if known is not None else await self._new_topic(bot, customer)
        try:
            await self._to_operators(lambda: send(topic_id))
        except TelegramBadRequest as exc:
            if not topic_gone(exc):
                raise
            logger.info("topic %s is gone: opening a new one", topic_id)
            topic_id = await self._new_topic(bot, customer)
            await self._to_operators(lambda: send(topic_id))

    # ------------------------------------------------------------------ the customer side

    async def begin(self, customer: Customer) -> bool:
        """Open a live conversation (False: one is open already). The card is queued."""
        if customer.chat_id in self._open:
            return False
        handoff = await self.db.open_handoff(customer.chat_id, customer.user_id)
        self._open[customer.chat_id] = handoff.id

        async def open_topic(bot: Bot) -> None:
            topic_id = await self.db.topic_for(self.operator_chat_id, customer.chat_id)
            if topic_id is None:
                await self._new_topic(bot, customer)
                return
            try:
                await self._send_card(bot, customer, topic_id)
            except TelegramBadRequest as exc:
                if not topic_gone(exc):
                    raise
                await self._new_topic(bot, customer)

        self._enqueue(open_topic)
        return True

    def from_customer(self, customer: Customer, message: Message) -> None:
        """Queue the customer's message (any kind) for their topic."""

        async def relay(bot: Bot) -> None:
            async def copy(topic_id: int) -> object:
                return await bot.copy_message(
                    self.operator_chat_id,
                    from_chat_id=message.chat.id,
                    message_id=message.message_id,
                    message_thread_id=topic_id,
                )

            await self._in_topic(bot, customer, copy)

        self._enqueue(relay)

    def _note(self, chat_id: int, text: str) -> None:
        """A line for the operators in the customer's topic (if the topic still exists)."""

        async def note(bot: Bot) -> None:
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

        self._enqueue(note)

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
            self._note(chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=texts.OPERATOR_BLOCKED))
            return False
        except TelegramBadRequest as exc:
            self._note(chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=exc.message))
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
            self._note(chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=texts.OPERATOR_BLOCKED))
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
            self._note(chat_id, texts.HANDOFF_RELAY_FAILED.format(reason=reason))
            return
        await self._copy_to_customer(bot, chat_id, message, caption=marked)

    def not_relayed(self, chat_id: int, reason: str) -> None:
        """Tell the operators in the customer's topic why a message of theirs was not passed on."""
        self._note(chat_id, reason)

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
        self._note(chat_id, texts.OPERATOR_CUSTOMER_ENDED if by_customer else texts.OPERATOR_CLOSED)
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
        self._note(chat_id, texts.OPERATOR_RATED.format(stars="⭐" * stars))
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
            self._note(handoff.chat_id, texts.OPERATOR_TIMEOUT.format(minutes=minutes))
        return told

    async def _timeout_loop(self, bot: Bot) -> None:
        interval = max(0.2, min(30.0, self.timeout / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.notify_timeouts(bot)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("handoff timeouts: %s: %s", type(exc).__name__, exc, exc_info=exc)
