"""Flood control: a token bucket per user, so that one person sending messages (or pressing
buttons) faster than anyone can read cannot slow the bot down for everybody else; and one per
group, so that the bot takes no more of a group's questions than Telegram lets it answer there.

What a user sees (settings FLOOD_BURST and FLOOD_RATE):

* Up to FLOOD_BURST messages at once are answered as usual; after that one message a
  second per FLOOD_RATE (tokens refill continuously, up to FLOOD_BURST).
* The first message over the limit gets one polite notice (texts.FLOOD_NOTICE), at the
  chat's next turn (ChatOrder.cut_in): it does not wait behind the answers still waiting,
  because the user needs to hear it while they are still typing, and is not sent at the
  same time as an answer to the same chat (in a group that only earns both a 429). Further
  messages over the limit are dropped silently (a notice for each would be the very flood
  we are stopping).
* Once the user has a token again, a message is answered as usual, and a later excess gets
  a notice again. The bot therefore sends a flooding user at most one notice per answer.
* A button press over the limit is still answered (Telegram shows a spinner on the button
  until the callback query is answered): with the notice as a small pop-up, every time,
  since it costs nothing in the chat and tells the user why the press did nothing.
* An album (several photos or files sent together) is one message: it arrives as one message
  per item, and the items share the first item's fate.
* Someone writing as a chat rather than as themselves (an anonymous group admin, whose `from`
  is Telegram's GroupAnonymousBot, or a channel identity) is limited like a person, by the
  chat they write as (`sender_chat`): all of a group's anonymous admins share one allowance.
* A group as a whole (settings GROUP_FLOOD_BURST and GROUP_FLOOD_PER_MINUTE): Telegram lets a
  bot send about 20 messages a minute to one group, and waits out the rest with 429s, so a
  group asking faster than that only grows a backlog nobody reads in time. A message within
  its sender's allowance but over the group's is dropped; the first one gets one notice for
  the group (texts.GROUP_FLOOD_NOTICE), then the bot stays silent until the group has been
  quiet long enough for its whole burst to come back (a notice per answer would double what
  the bot sends a group that is already over Telegram's limit). A message over its sender's
  own allowance takes nothing from the group's.
* Only what the bot would answer counts: every message and button press in a private chat,
  and in groups only the messages addressed to the bot (commands, mentions, replies to its
  messages), so chatting in a group never uses up a person's or the group's allowance. The
  operators' group (OPERATOR_CHAT_ID) and the admins (ADMIN_IDS) are never limited; neither
  are bots, service messages or channel posts.

Other users are never slowed: no lock and no sleep, a drop is decided at once. Memory is
bounded: a bucket idle for its burst / rate seconds is full again, exactly like a new one, so
it is forgotten; and at most `max_users` buckets are kept (beyond that the least recently
seen user or group starts afresh, which can only favour them).

With REDIS_URL the buckets live in Redis instead, for all the instances together, with the
same decisions (bot/cluster/limits.py: SharedBuckets); when Redis fails, messages are let
through (one WARNING).

The middleware sits on the dispatcher's `update` observer, after InFlight and before
ChatOrder (bot/telegram/app.py): a dropped update never waits for its chat's turn.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType, ContentType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from bot import texts
from bot.settings import Settings
from bot.telegram.handlers.common import GROUP_CHATS, Addressed, group_reply_to, is_group
from bot.telegram.handlers.media import NON_TEXT
from bot.telegram.middlewares import ChatOrder
from bot.telegram.text import quote

if TYPE_CHECKING:
    from bot.cluster.limits import SharedBuckets
    from bot.cluster.redis import Cluster

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
    each message takes one. `clock` (seconds, monotonic) is injectable for tests.

    Over the limit, the first message gets NOTICE and the rest DROP until the key is told
    again: after a message let through, or with `quiet_until_full` only once the bucket has
    filled up again (the key has been quiet for `refill_time`)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        max_users: int = MAX_TRACKED_USERS,
        quiet_until_full: bool = False,
    ) -> None:
        if rate <= 0 or burst < 1 or max_users < 1:
            raise ValueError("rate > 0, burst >= 1 and max_users >= 1 are required")
        self.rate = rate
        self.burst = burst
        self.max_users = max_users
        self.quiet_until_full = quiet_until_full
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
            bucket.tokens = self._refilled(bucket, now)
            bucket.stamp = now
            if self.quiet_until_full and bucket.tokens >= self.burst:
                bucket.warned = False
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_users:
            del self._buckets[next(iter(self._buckets))]
        if album is not None and album == bucket.album:
            return Verdict.PASS if bucket.album_passed else Verdict.DROP
        verdict = self._spend(bucket)
        bucket.album, bucket.album_passed = album, verdict is Verdict.PASS
        return verdict

    def would_pass(self, key: int, album: str | None = None) -> bool:
        """Whether `take(key, album)` would let the message through now (nothing is taken)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return True
        if album is not None and album == bucket.album:
            return bucket.album_passed
        return self._refilled(bucket, self._clock()) >= 1

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        elapsed = max(0.0, now - bucket.stamp)
        return min(float(self.burst), bucket.tokens + elapsed * self.rate)

    def _spend(self, bucket: _Bucket) -> Verdict:
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            if not self.quiet_until_full:
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


# SharedBuckets' answers (bot/cluster/limits.py: PASS, NOTICE, DROP).
_SHARED_VERDICTS = (Verdict.PASS, Verdict.NOTICE, Verdict.DROP)


def _notice(whose: str) -> str:
    return texts.GROUP_FLOOD_NOTICE if whose == "group" else texts.FLOOD_NOTICE


class FloodControl(BaseMiddleware):
    """The aiogram middleware (see the module docstring), for the `update` observer."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        group_rate: float,
        group_burst: int,
        exempt_chats: Iterable[int] = (),
        exempt_users: Iterable[int] = (),
        order: ChatOrder | None = None,
        clock: Clock = time.monotonic,
        max_users: int = MAX_TRACKED_USERS,
        shared: SharedBuckets | None = None,
    ) -> None:
        """With `shared`, the buckets live in Redis, for every instance together (the same
        decisions); else in this process."""
        self.shared = shared
        self.buckets = TokenBuckets(rate, burst, clock=clock, max_users=max_users)
        self.order = order
        self.groups = TokenBuckets(
            group_rate, group_burst, clock=clock, max_users=max_users, quiet_until_full=True
        )
        self.exempt_chats = frozenset(exempt_chats)
        self.exempt_users = frozenset(exempt_users)

    @classmethod
    def from_settings(
        cls, settings: Settings, order: ChatOrder | None = None, cluster: Cluster | None = None
    ) -> FloodControl:
        """Flood control as the settings say; its notices take their chat's next turn in
        `order` (never sent at the same time as an answer to the same chat). With `cluster`
        (REDIS_URL), the buckets are shared by every instance."""
        operators = () if settings.operator_chat_id is None else (settings.operator_chat_id,)
        shared = None
        if cluster is not None:
            from bot.cluster.limits import SharedBuckets

            shared = SharedBuckets(
                cluster,
                settings.flood_rate,
                settings.flood_burst,
                settings.group_flood_per_minute / 60,
                settings.group_flood_burst,
            )
        return cls(
            settings.flood_rate,
            settings.flood_burst,
            group_rate=settings.group_flood_per_minute / 60,
            group_burst=settings.group_flood_burst,
            exempt_chats=operators,
            exempt_users=settings.admin_ids,
            order=order,
            shared=shared,
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
        group = message.chat.id if is_group(message) else None
        verdict, whose = await self._verdict(sender, group, message.media_group_id)
        if verdict is Verdict.PASS:
            return await handler(event, data)
        if verdict is Verdict.NOTICE:
            logger.info("update %s: %s over the flood limit, notice sent", event.update_id, whose)
            try:
                async with self._turn(message.chat.id):
                    await message.answer(
                        quote(_notice(whose)), reply_parameters=group_reply_to(message)
                    )
            except TelegramAPIError as exc:  # blocked, kicked, 429 after retries: never mind
                logger.warning("update %s: flood notice not sent: %s", event.update_id, exc)
        return None

    def _turn(self, chat: int) -> AbstractAsyncContextManager[None]:
        return nullcontext() if self.order is None else self.order.cut_in(chat)

    def verdict(
        self, sender: int, group: int | None, album: str | None = None
    ) -> tuple[Verdict, str]:
        """The verdict on one message or button press, and whose limit gave it ("sender" or
        "group"). The group's bucket is asked only when the sender's own would let the message
        through: a message over the sender's limit takes nothing from the group's."""
        if group is not None and self.buckets.would_pass(sender, album):
            verdict = self.groups.take(group, album=album)
            if verdict is not Verdict.PASS:
                return verdict, "group"
        return self.buckets.take(sender, album=album), "sender"

    async def _verdict(
        self, sender: int, group: int | None, album: str | None = None
    ) -> tuple[Verdict, str]:
        if self.shared is None:
            return self.verdict(sender, group, album)
        code, whose = await self.shared.verdict(sender, group, album)
        return _SHARED_VERDICTS[code], whose

    async def _callback(
        self, handler: Handler, event: Update, data: dict[str, Any], callback: CallbackQuery
    ) -> Any:
        user = callback.from_user
        if user.is_bot or user.id in self.exempt_users or self._exempt_chat(callback):
            return await handler(event, data)
        chat = None if callback.message is None else callback.message.chat
        group = chat.id if chat is not None and chat.type in GROUP_CHATS else None
        verdict, whose = await self._verdict(user.id, group)
        if verdict is Verdict.PASS:
            return await handler(event, data)
        if verdict is Verdict.NOTICE:
            logger.info("update %s: button pressed over the %s's limit", event.update_id, whose)
        try:
            await callback.answer(_notice(whose))
        except TelegramAPIError as exc:  # too old to answer: the spinner has stopped anyway
            logger.warning("update %s: flood notice not shown: %s", event.update_id, exc)
        return None

    def _exempt_chat(self, callback: CallbackQuery) -> bool:
        message = callback.message
        return message is not None and message.chat.id in self.exempt_chats

    async def _counted_sender(self, message: Message, bot: Bot) -> int | None:
        """Whose allowance this message uses up (a user id, or the id of the chat someone
        writes as), or None when it does not count: only what a person sent and the bot
        answers counts (see the module docstring)."""
        if message.chat.id in self.exempt_chats or message.content_type not in COUNTED_CONTENT:
            return None
        user = message.from_user
        if message.sender_chat is not None:
            # An anonymous admin or a channel identity: `from` is one of Telegram's bots, the
            # person behind it is hidden, so the chat they write as stands for them.
            sender = message.sender_chat.id
        elif user is None or user.is_bot or user.id in self.exempt_users:
            return None
        else:
            sender = user.id
        if message.chat.type == ChatType.PRIVATE:
            return sender
        if not is_group(message):
            return None
        if (message.text or "").startswith("/") or await Addressed()(message, bot):
            return sender
        return None
