"""One chat cannot stall everyone: the real bot polling the Bot API stand-in while a group
is noisy and Telegram answers the bot's replies to it slowly (429 with retry_after, as it does
past about 20 messages a minute in a group), with people asking in private at the same time.
Then the chat order middleware on its own: waiting for a chat's turn takes no processing slot.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Chat, TelegramObject

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.telegram.middlewares import ChatOrder
from tests.support.fake_telegram import Call, FakeTelegram
from tests.support.live_polling import LiveBot, live_bot, seen, settled, shown, to, until

GROUP = -100555
MEMBERS = tuple(range(3001, 3011))
PRIVATE = (701, 702, 703, 704, 705)
GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Nhóm khách hàng"}
CHANNEL = {"id": -1001999, "type": "channel", "title": "Kênh của shop"}
# Telegram's bots in `from` when someone writes as the group (an anonymous admin) or as a
# channel; the chat they write as is `sender_chat`.
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}  # fmt: skip  # noqa: E501
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}  # fmt: skip  # noqa: E501
TELEGRAM_GROUP_PACE = 2.0  # seconds between the bot's messages the stand-in lets through
QUESTION = "CSO là gì?"
# Flood control per group far looser than what Telegram lets through: only the chat's queue
# stands between the noise and everyone else.
LOOSE_GROUP_LIMIT: dict[str, Any] = {"group_flood_per_minute": 600, "group_flood_burst": 10}


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


def mention(fake: FakeTelegram, member: int, text: str = QUESTION) -> None:
    fake.user_text(
        f"@{fake.username} {text}",
        user_id=member,
        chat_id=GROUP,
        chat_type="supergroup",
        first_name=f"Thành viên {member - 3000}",
    )


async def noise(fake: FakeTelegram, burst: int, seconds: int) -> None:
    """Every member mentions the bot a few times at once, then once a second: each of them
    within the flood limits (one short of FLOOD_BURST, so that a second's jitter in the
    arrivals never makes the next mention too early for FLOOD_RATE)."""
    for member in MEMBERS:
        for _ in range(burst - 1):
            mention(fake, member)
    for _ in range(seconds):
        await asyncio.sleep(1)
        for member in MEMBERS:
            mention(fake, member)


def to_group(call: Call) -> bool:
    return bool(call.chat_id == GROUP)


@dataclass
class Asked:
    """One question in a private chat: how long its answer took, and how many of the bot's
    messages reached the group meanwhile."""

    user: int
    text: str
    latency: float
    group_sends: int
    answer: str


@dataclass
class PrivateChats:
    asked: list[Asked] = field(default_factory=list)

    @property
    def p99(self) -> float:
        ordered = sorted(item.latency for item in self.asked)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def ask(fake: FakeTelegram, user: int, text: str, chats: PrivateChats) -> None:
    loop = asyncio.get_running_loop()
    mark = fake.mark()
    start = loop.time()
    fake.user_text(text, user_id=user, first_name=f"Khách {user}")
    reply = await fake.wait_for("sendMessage", to(user), after=mark, timeout=15)
    latency = loop.time() - start
    index = fake.calls.index(reply)
    group = [c for c in fake.calls[mark:index] if c.method == "sendMessage" and to_group(c)]
    chats.asked.append(Asked(user, text, latency, sum(c.ok for c in group), seen(reply)))


async def private_questions(fake: FakeTelegram, rounds: int) -> PrivateChats:
    """Each private chat asks /help, then a question, `rounds` times, half a second apart:
    within FLOOD_BURST and FLOOD_RATE."""
    chats = PrivateChats()

    async def one(user: int) -> None:
        for _ in range(rounds):
            for text in ("/help", QUESTION):
                await ask(fake, user, text, chats)
                await asyncio.sleep(0.5)

    await asyncio.gather(*(one(user) for user in PRIVATE))
    return chats


def report(name: str, chats: PrivateChats) -> None:
    worst = max(item.latency for item in chats.asked)
    print(f"\n{name}: {len(chats.asked)} private answers, p99 {chats.p99:.3f} s, max {worst:.3f} s")


async def drain(live: LiveBot) -> None:
    """Telegram lets the group's replies through again; the bot finishes what it took (some
    replies are still waiting out a 429's retry_after)."""
    live.fake.pace_chat(GROUP, 0)
    await until(lambda: not live.in_flight.tasks, within=20)
    await live.fake.wait_idle(timeout=20)


# --------------------------------------------------------------------------- the live bot


async def test_a_backlogged_group_never_keeps_private_chats_waiting(
    assistant: Assistant, tmp_path: Path
) -> None:
    async with live_bot(assistant, tmp_path, **LOOSE_GROUP_LIMIT) as live:
        fake, burst = live.fake, live.settings.flood_burst
        fake.pace_chat(GROUP, TELEGRAM_GROUP_PACE)
        noisy = asyncio.create_task(noise(fake, burst, seconds=6))
        await asyncio.sleep(1.5)  # the group's mentions have piled up by now

        chats = await private_questions(fake, rounds=2)
        await noisy
        report("backlogged group, private chats", chats)

        # Every private question got its own answer, and none of them waited for the group's:
        # the group got at most the one reply it was already being sent meanwhile.
        assert len(chats.asked) == 2 * 2 * len(PRIVATE)
        for item in chats.asked:
            if item.text == QUESTION:
                assert item.answer.startswith(assistant.ask(QUESTION).text)
            assert item.group_sends <= 1, item

        # The group's backlog was still pending when the last private answer went out.
        last_private = max(i for i, c in enumerate(fake.calls) if c.chat_id in PRIVATE)
        assert any(
            c.method == "sendMessage" and to_group(c) for c in fake.calls[last_private + 1 :]
        )
        # Beyond its share the group is told once, not once per mention.
        await drain(live)
        assert shown(fake, GROUP).count(texts.BUSY_NOTICE) == 1


async def test_a_noisy_group_is_answered_at_telegrams_pace(
    assistant: Assistant, tmp_path: Path
) -> None:
    async with live_bot(assistant, tmp_path) as live:
        fake, settings = live.fake, live.settings
        assert (settings.group_flood_burst, settings.group_flood_per_minute) == (5, 20)
        fake.pace_chat(GROUP, 60 / settings.group_flood_per_minute)
        loop = asyncio.get_running_loop()
        start = loop.time()
        noisy = asyncio.create_task(noise(fake, settings.flood_burst, seconds=5))
        await asyncio.sleep(1)

        chats = await private_questions(fake, rounds=1)
        await noisy
        elapsed = loop.time() - start
        report("group at Telegram's pace, private chats", chats)
        assert all(item.group_sends <= 1 for item in chats.asked), chats.asked
        await drain(live)

        # The bot took no more of the group's mentions than Telegram lets it answer in the
        # time (the burst, then one every three seconds), and said so once.
        group = shown(fake, GROUP)
        answered = [text for text in group if text != texts.GROUP_FLOOD_NOTICE]
        allowed = settings.group_flood_burst + elapsed * settings.group_flood_per_minute / 60
        assert settings.group_flood_burst <= len(answered) <= math.ceil(allowed)
        assert all(text.startswith(assistant.ask(QUESTION).text) for text in answered)
        assert group.count(texts.GROUP_FLOOD_NOTICE) == 1


def post_as(fake: FakeTelegram, sender: dict[str, Any], sender_chat: dict[str, Any]) -> None:
    message = fake.text_message(
        f"@{fake.username} {QUESTION}", user_id=1, chat_id=GROUP, chat_type="supergroup"
    )
    message["from"] = sender
    message["sender_chat"] = sender_chat
    fake.push_update("message", message)


@pytest.mark.parametrize(
    ("sender", "sender_chat"),
    [(ANONYMOUS_ADMIN, GROUP_CHAT), (CHANNEL_BOT, CHANNEL)],
    ids=["anonymous admin", "channel"],
)
async def test_someone_posting_as_the_group_or_a_channel_is_limited_like_a_member(
    assistant: Assistant, tmp_path: Path, sender: dict[str, Any], sender_chat: dict[str, Any]
) -> None:
    async with live_bot(assistant, tmp_path, **LOOSE_GROUP_LIMIT) as live:
        fake, burst = live.fake, live.settings.flood_burst
        for _ in range(30):
            post_as(fake, sender, sender_chat)
        await settled(fake, sends=burst + 1)

        group = shown(fake, GROUP)
        assert group.count(texts.FLOOD_NOTICE) == 1
        answered = [text for text in group if text != texts.FLOOD_NOTICE]
        assert len(answered) == burst
        assert all(text.startswith(assistant.ask(QUESTION).text) for text in answered)

        # A member of the same group is not held back by them.
        mark = fake.mark()
        mention(fake, MEMBERS[0])
        reply = await fake.wait_for("sendMessage", to_group, after=mark)
        assert seen(reply).startswith(assistant.ask(QUESTION).text)


# --------------------------------------------------------------------------- the middleware

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Recorder:
    """A handler that notes which updates started and holds each until the test lets go."""

    def __init__(self) -> None:
        self.started: list[tuple[int, int]] = []
        self.gates: dict[tuple[int, int], asyncio.Event] = {}

    async def __call__(self, event: TelegramObject, data: dict[str, Any]) -> None:
        key = (data["event_chat"].id, data["n"])
        self.started.append(key)
        gate = self.gates.setdefault(key, asyncio.Event())
        await gate.wait()

    def release(self, chat: int, n: int) -> None:
        self.gates.setdefault((chat, n), asyncio.Event()).set()


def feed(order: ChatOrder, handler: Recorder, chat: int, n: int) -> asyncio.Task[Any]:
    data = {"event_chat": Chat(id=chat, type="private"), "n": n}
    return asyncio.create_task(order(handler, TelegramObject(), data))


async def test_waiting_for_a_chats_turn_takes_no_processing_slot() -> None:
    order = ChatOrder(running=3, backlog=1000)
    handler = Recorder()
    noisy = [feed(order, handler, 1, n) for n in range(200)]
    others = [feed(order, handler, chat, 0) for chat in (2, 3)]
    await asyncio.sleep(0.01)

    # The noisy chat's first update runs; its 199 others wait without a slot, so the other
    # chats run at once, and the bound still holds: a fourth chat waits for a slot.
    assert sorted(handler.started) == [(1, 0), (2, 0), (3, 0)]
    late = feed(order, handler, 4, 0)
    await asyncio.sleep(0.01)
    assert (4, 0) not in handler.started
    handler.release(2, 0)
    await asyncio.sleep(0.01)
    assert (4, 0) in handler.started

    # The noisy chat's updates run one at a time, in the order they came.
    for n in range(200):
        handler.release(1, n)
    for chat in (3, 4):
        handler.release(chat, 0)
    await asyncio.gather(*noisy, *others, late)
    assert [n for chat, n in handler.started if chat == 1] == list(range(200))
    assert len(order) == 0  # nothing kept for chats that have gone quiet


async def test_a_notice_takes_the_chats_next_turn_ahead_of_the_waiting_updates() -> None:
    order = ChatOrder(running=3, backlog=1000)
    handler = Recorder()
    updates = [feed(order, handler, 1, n) for n in range(3)]
    await asyncio.sleep(0.01)

    async def notice() -> None:
        async with order.cut_in(1):
            handler.started.append((1, -1))

    told = asyncio.create_task(notice())
    await asyncio.sleep(0.01)
    assert handler.started == [(1, 0)]  # never at the same time as the answer being sent

    for n in range(3):
        handler.release(1, n)
    await asyncio.gather(*updates, told)
    assert handler.started == [(1, 0), (1, -1), (1, 1), (1, 2)]


async def test_an_update_given_up_while_waiting_leaves_the_line_intact() -> None:
    order = ChatOrder(running=3, backlog=1000)
    handler = Recorder()
    updates = [feed(order, handler, 1, n) for n in range(3)]
    await asyncio.sleep(0.01)

    updates[1].cancel()
    handler.release(1, 0)
    handler.release(1, 2)
    await asyncio.gather(updates[0], updates[2])
    assert handler.started == [(1, 0), (1, 2)]
    assert len(order) == 0


async def test_updates_given_up_together_while_waiting_all_end_as_given_up() -> None:
    # A stop cancels every waiting update at once: the first one's turn passes over the others
    # (done already), and each must still end cancelled, not with an error of the line's.
    order = ChatOrder(running=3, backlog=1000)
    handler = Recorder()
    updates = [feed(order, handler, 1, n) for n in range(4)]
    await asyncio.sleep(0.01)

    for update in updates:
        update.cancel()
    outcomes = await asyncio.gather(*updates, return_exceptions=True)
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert len(order) == 0
