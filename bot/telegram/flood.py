"""Flood control: a token bucket per user, so that one person sending messages (or pressing
buttons) faster than anyone can read cannot slow the bot down for everybody else.

What a user sees (settings FLOOD_BURST and FLOOD_RATE):

* Up to FLOOD_BURST messages at once are answered as usual; after that one message a
  second per FLOOD_RATE (tokens refill continuously, up to FLOOD_BURST).
* The first message over the limit gets one polite notice (texts.FLOOD_NOTICE), at once:
  it does not wait behind the answers still being sent, because the user needs to hear it
  while they are still typing. Further messages over the limit are dropped silently (a
  notice for each would be the very flood we are stopping).
* Once the user has a token again, a message is answered as usual, and a later excess gets
  a notice again. The bot therefore sends a flooding user at most one notice per answer.
* A button press over the limit is still answered (Telegram shows a spinner on the button
  until the callback query is answered): with the notice as a small pop-up, every time,
  since it costs nothing in the chat and tells the user why the press did nothing.
* An album (several photos or files sent together) is one message: it arrives as one message
  per item, and the items share the first item's fate.
* Only what the bot would answer counts: every message and button press in a private chat,
  and in groups only the messages addressed to the bot (commands, mentions, replies to its
  messages), so chatting in a group never uses up a person's allowance. The operators'
  group (OPERATOR_CHAT_ID) and the admins (ADMIN_IDS) are never limited; neither are bots,
  service messages or channel posts.

Other users are never slowed: no lock and no sleep, a drop is decided at once. Memory is
bounded: a bucket idle for FLOOD_BURST / FLOOD_RATE seconds is full again, exactly like a new
one, so it is forgotten; and at most `max_users` buckets are kept (beyond that the least
recently seen user starts afresh, which can only favour them).

The middleware sits on the dispatcher's `update` observer, after InFlight and before
ChatOrder (bot/app.py): a dropped update never waits for its chat's lock.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType, ContentType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from bot import texts
from bot.settings import Settings
from bot.telegram.handlers.common import Addressed, group_reply_to, is_group
from bot.telegram.handlers.media import NON_TEXT
from bot.telegram.text import quote

logger = logging.getLogger(__name__)

MAX_TRACKED_USERS = 100_000  # buckets kept at most (users seen within FLOOD_BURST / FLOOD_RATE s)
COUNTED_CONTENT: frozenset[str] = frozenset({ContentType.TEXT, *NON_TEXT})

Clock = Callable[[], float]
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Verdict(enum.Enum):
    """What to do with one message: handle it, drop it with a notice, or drop it silently."""

    PASS = "pass"
    NOTICE = "notice"
    DROP = "drop"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float  # when `tokens` was last brought up to date
    warned: bool = False  # the notice was given since the last message let through
    album: str | None = None  # the media group of the last message, and whether it passed
    album_passed: bool = False


class TokenBuckets:
    """One token bucket per key: `burst` tokens at most, refilled at `rate` tokens a second;
    each message takes one. `clock` (seconds, monotonic) is injectable for tests."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        max_users: int = MAX_TRACKED_USERS,
    ) -> None:
        if rate <= 0 or burst < 1 or max_users < 1:
            raise ValueError("rate > 0, burst >= 1 and max_users >= 1 are required")
        self.rate = rate
        self.burst = burst
        self.max_users = max_users
        self._clock = clock
        # Least recently seen first (a dict keeps insertion order; a touched bucket is
        # re-inserted at the end), so idle buckets are always at the front.
        self._buckets: dict[int, _Bucket] = {}

    @property
    def refill_time(self) -> float:
        """Seconds after which an idle bucket is full again."""
        return self.burst / self.rate

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: int, album: str | None = None) -> Verdict:
        """One message from `key`. Messages of the same `album` (Telegram's media_group_id)
        after the first take no token: they share the first one's verdict (never a second
        notice)."""
        now = self._clock()
        self._forget_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), stamp=now)
        else:
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.stamp = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_users:
            del self._buckets[next(iter(self._buckets))]
        if album is not None and album == bucket.album:
            return Verdict.PASS if bucket.album_passed else Verdict.DROP
        verdict = self._spend(bucket)
        bucket.album, bucket.album_passed = album, verdict is Verdict.PASS
        return verdict

    @staticmethod
    def _spend(bucket: _Bucket) -> Verdict:
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return Verdict.PASS
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.NOTICE

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets idle long enough to be full: a new bucket behaves the same."""
        horizon = now - self.refill_time
        while self._buckets:
            key = next(iter(self._buckets))
            if self._buckets[key].stamp > horizon:
                return
            del self._buckets[key]


class FloodControl(BaseMiddleware):
    """The aiogram middleware (see the module docstring), for the `update` observer."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        exempt_chats: Iterable[int] = (),
        exempt_users: Iterable[int] = (),
        clock: Clock = time.monotonic,
        max_users: int = MAX_TRACKED_USERS,
    ) -> None:
        self.buckets = TokenBuckets(rate, burst, clock=clock, max_users=max_users)
        self.exempt_chats = frozenset(exempt_chats)
        self.exempt_users = frozenset(exempt_users)

    @classmethod
    def from_settings(cls, settings: Settings) -> FloodControl:
        operators = () if settings.operator_chat_id is None else (settings.operator_chat_id,)
        return cls(
            settings.flood_rate,
            settings.flood_burst,
            exempt_chats=operators,
            exempt_users=settings.admin_ids,
        )

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        bot: Bot = data["bot"]
        if event.callback_query is not None:
            return await self._callback(handler, event, data, event.callback_query)
        message = event.message or event.edited_message
        sender = None if message is None else await self._counted_sender(message, bot)
        if message is None or sender is None:
            return await handler(event, data)
        verdict = self.buckets.take(sender.id, album=message.media_group_id)
        if verdict is Verdict.PASS:
            return await handler(event, data)
        if verdict is Verdict.NOTICE:
            logger.info("update %s: sender over the flood limit, notice sent", event.update_id)
            try:
                await message.answer(
                    quote(texts.FLOOD_NOTICE), reply_parameters=group_reply_to(message)
                )
            except TelegramAPIError as exc:  # blocked, kicked, 429 after retries: never mind
                logger.warning("update %s: flood notice not sent: %s", event.update_id, exc)
        return None

    async def _callback(
        self, handler: Handler, event: Update, data: dict[str, Any], callback: CallbackQuery
    ) -> Any:
        user = callback.from_user
        if user.is_bot or user.id in self.exempt_users or self._exempt_chat(callback):
            return await handler(event, data)
        verdict = self.buckets.take(user.id)
        if verdict is Verdict.PASS:
            return await handler(event, data)
        if verdict is Verdict.NOTICE:
            logger.info("update %s: button pressed over the flood limit", event.update_id)
        try:
            await callback.answer(texts.FLOOD_NOTICE)
        except TelegramAPIError as exc:  # too old to answer: the spinner has stopped anyway
            logger.warning("update %s: flood notice not shown: %s", event.update_id, exc)
        return None

    def _exempt_chat(self, callback: CallbackQuery) -> bool:
        message = callback.message
        return message is not None and message.chat.id in self.exempt_chats

    async def _counted_sender(self, message: Message, bot: Bot) -> User | None:
        """The person whose allowance this message uses up, or None when it does not count:
        only what a person sent and the bot answers counts (see the module docstring)."""
        user = message.from_user
        if user is None or user.is_bot or user.id in self.exempt_users:
            return None
        if message.chat.id in self.exempt_chats or message.content_type not in COUNTED_CONTENT:
            return None
        if message.chat.type == ChatType.PRIVATE:
            return user
        if not is_group(message):
            return None
        if (message.text or "").startswith("/") or await Addressed()(message, bot):
            return user
        return None
