"""Flood control: the token buckets on a clock the test moves, then the real bot polling the
Bot API stand-in, with users sending faster than anyone can read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.telegram.flood import FloodControl, TokenBuckets, Verdict
from bot.telegram.keyboards import TopicCb
from tests.support.live_polling import LiveBot, live_bot, replies_per_chat, seen, settled, shown, to

PASS, NOTICE, DROP = Verdict.PASS, Verdict.NOTICE, Verdict.DROP
LAN, MINH, NEWCOMER = 111, 222, 5000
GROUP = -100777
QUESTIONS = (
    "CSO là gì?",
    "CMO là gì?",
    "CSO và CMO khác nhau thế nào?",
    "cmo can ky nang gi",
    "cso can ky nang gi",
    "khi nao can cmo",
    "cso va cmo hop tac the nao",
    "trach nhiem cua cso",
)


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


def burst_of(buckets: TokenBuckets, user: int, count: int) -> list[Verdict]:
    return [buckets.take(user) for _ in range(count)]


# --------------------------------------------------------------------------- the buckets


def test_a_burst_passes_then_one_notice_then_silence() -> None:
    buckets = TokenBuckets(rate=1, burst=5, clock=Clock())

    assert burst_of(buckets, LAN, 8) == [PASS] * 5 + [NOTICE, DROP, DROP]


def test_tokens_come_back_at_the_rate_and_a_later_excess_is_told_again() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert burst_of(buckets, LAN, 5) == [PASS, PASS, PASS, NOTICE, DROP]

    clock.wait(0.25)  # half a token: still too fast, and already told
    assert buckets.take(LAN) is DROP

    clock.wait(0.25)  # one token
    assert burst_of(buckets, LAN, 3) == [PASS, NOTICE, DROP]

    clock.wait(1.0)  # two tokens
    assert burst_of(buckets, LAN, 3) == [PASS, PASS, NOTICE]


def test_an_album_is_one_message_whatever_its_size() -> None:
    buckets = TokenBuckets(rate=1, burst=2, clock=Clock())

    assert [buckets.take(LAN, album="holiday") for _ in range(10)] == [PASS] * 10
    assert buckets.take(LAN) is PASS
    assert [buckets.take(LAN, album="receipts") for _ in range(3)] == [NOTICE, DROP, DROP]


def test_a_long_pause_refills_the_burst_and_no_more() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=3, clock=clock)
    burst_of(buckets, LAN, 3)

    clock.wait(3600)

    assert burst_of(buckets, LAN, 5) == [PASS, PASS, PASS, NOTICE, DROP]


def test_one_user_flooding_never_limits_another() -> None:
    buckets = TokenBuckets(rate=1, burst=2, clock=Clock())

    assert burst_of(buckets, LAN, 10) == [PASS, PASS, NOTICE] + [DROP] * 7
    assert burst_of(buckets, MINH, 2) == [PASS, PASS]


def test_idle_users_are_forgotten_once_their_bucket_is_full_again() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=5, clock=clock)
    for user in range(1000):
        buckets.take(user)
    assert len(buckets) == 1000

    clock.wait(4.9)  # not yet full: their history still matters
    buckets.take(NEWCOMER)
    assert len(buckets) == 1001

    clock.wait(0.1)  # full again, exactly like a new user's: forgotten
    buckets.take(NEWCOMER)
    assert len(buckets) == 1


def test_forgetting_a_full_bucket_changes_nothing_for_the_user() -> None:
    clock = Clock()
    remembered = TokenBuckets(rate=1, burst=3, clock=clock, max_users=10)
    forgetful = TokenBuckets(rate=1, burst=3, clock=clock, max_users=10)
    burst_of(remembered, LAN, 5)
    burst_of(forgetful, LAN, 5)

    clock.wait(3)
    forgetful.take(MINH)  # LAN's full bucket is dropped here

    assert LAN not in forgetful._buckets
    assert burst_of(forgetful, LAN, 5) == burst_of(remembered, LAN, 5)


def test_memory_is_bounded_even_when_everyone_writes_at_once() -> None:
    buckets = TokenBuckets(rate=1, burst=5, clock=Clock(), max_users=100)

    for user in range(10_000):
        buckets.take(user)

    assert len(buckets) == 100
    # The user seen least recently starts afresh: never stricter than before.
    assert burst_of(buckets, 0, 5) == [PASS] * 5


def test_a_group_over_its_limit_is_told_once_until_it_has_been_quiet() -> None:
    clock = Clock()
    group = TokenBuckets(rate=1 / 3, burst=5, clock=clock, quiet_until_full=True)
    assert burst_of(group, GROUP, 7) == [PASS] * 5 + [NOTICE, DROP]

    clock.wait(3)  # one answer's worth: answered, but the group is not told again
    assert burst_of(group, GROUP, 3) == [PASS, DROP, DROP]

    clock.wait(15)  # quiet long enough for the whole burst: a new episode
    assert burst_of(group, GROUP, 7) == [PASS] * 5 + [NOTICE, DROP]


def test_asking_whether_a_message_would_pass_takes_nothing() -> None:
    buckets = TokenBuckets(rate=1, burst=2, clock=Clock())
    assert all(buckets.would_pass(LAN) for _ in range(10))
    assert burst_of(buckets, LAN, 2) == [PASS, PASS]
    assert not buckets.would_pass(LAN)
    assert buckets.take(LAN) is NOTICE  # still the first message over the limit


def test_a_sender_over_their_own_limit_takes_nothing_from_the_groups() -> None:
    flood = FloodControl(rate=1, burst=2, group_rate=1 / 3, group_burst=3, clock=Clock())

    lan = [flood.verdict(LAN, GROUP) for _ in range(5)]
    assert lan == [(PASS, "sender")] * 2 + [(NOTICE, "sender")] + [(DROP, "sender")] * 2
    assert flood.verdict(MINH, GROUP) == (PASS, "sender")  # the group's third message
    assert flood.verdict(NEWCOMER, GROUP) == (NOTICE, "group")
    assert flood.verdict(NEWCOMER, GROUP) == (DROP, "group")
    assert flood.verdict(NEWCOMER, None) == (PASS, "sender")  # in private: only their own


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (1, 0)])
def test_impossible_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBuckets(rate=rate, burst=burst)


# --------------------------------------------------------------------------- the bot


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


@pytest_asyncio.fixture
async def live(assistant: Assistant, tmp_path: Path) -> AsyncIterator[LiveBot]:
    """The bot with the production limits (FLOOD_BURST=5, FLOOD_RATE=1)."""
    async with live_bot(assistant, tmp_path) as bot:
        yield bot


def answers(assistant: Assistant, *questions: str) -> list[str]:
    return [assistant.ask(question).text for question in questions]


async def test_a_user_sending_too_fast_gets_the_burst_answered_and_one_notice(
    live: LiveBot, assistant: Assistant
) -> None:
    fake, burst = live.fake, live.settings.flood_burst
    assert (burst, live.settings.flood_rate) == (5, 1)
    fake.set_delay("sendMessage", 0.2)  # answers to one chat go one after another

    # Lan sends burst + 3 questions at once; Minh asks at the same moment.
    for question in QUESTIONS[: burst + 3]:
        fake.user_text(question, user_id=LAN, first_name="Lan")
    fake.user_text("CMO là gì?", user_id=MINH, first_name="Minh")
    await settled(fake, sends=burst + 2)  # Lan's answers and the notice, Minh's answer

    lan = shown(fake, LAN)
    assert lan.count(texts.FLOOD_NOTICE) == 1
    told = [text for text in lan if text != texts.FLOOD_NOTICE]
    assert len(told) == burst
    for text, expected in zip(told, answers(assistant, *QUESTIONS[:burst]), strict=True):
        assert text.startswith(expected)
    [minh_answer] = shown(fake, MINH)
    assert minh_answer.startswith(assistant.ask("CMO là gì?").text)

    # Neither the notice nor Minh waited behind Lan's five answers.
    sent = fake.sent_messages()
    lan_answers = [i for i, call in enumerate(sent) if to(LAN)(call)]
    notice = next(i for i, call in enumerate(sent) if seen(call) == texts.FLOOD_NOTICE)
    minh = next(i for i, call in enumerate(sent) if to(MINH)(call))
    assert notice < lan_answers[-1]
    assert minh < lan_answers[-1]

    # A second later Lan has a token again and is answered as usual.
    await asyncio.sleep(1 / live.settings.flood_rate)
    mark = fake.mark()
    fake.user_text("trach nhiem cua cso", user_id=LAN, first_name="Lan")
    reply = await fake.wait_for("sendMessage", to(LAN), after=mark)
    assert seen(reply).startswith(assistant.ask("trach nhiem cua cso").text)
    assert replies_per_chat(fake) == {LAN: burst + 2, MINH: 1}


async def test_a_button_pressed_too_fast_still_stops_spinning_with_the_notice(
    assistant: Assistant, tmp_path: Path
) -> None:
    # One token every 20 s: nothing refills while the test runs.
    async with live_bot(assistant, tmp_path, flood_burst=3, flood_rate=0.05) as live:
        fake = live.fake
        mark = fake.mark()
        fake.user_text("/start", user_id=LAN)
        await fake.wait_for("sendMessage", to(LAN), after=mark)

        mark = fake.mark()
        cso = TopicCb(intent="cso_role").pack()
        for _ in range(3):
            fake.press(cso, user_id=LAN)
        await settled(fake, sends=1 + 2)  # /start, then two topics

        pops = [c for c in fake.calls[mark:] if c.method == "answerCallbackQuery"]
        assert len(pops) == 3  # every press answered, once
        assert all(call.ok for call in pops)
        assert [call.params.get("text") for call in pops].count(texts.FLOOD_NOTICE) == 1
        topics = [c for c in fake.calls[mark:] if c.method == "sendMessage"]
        assert len(topics) == 2
        assert all(seen(call).startswith(assistant.choose("cso_role").text) for call in topics)

        # Told by the pop-up already: a message in the same breath is dropped silently.
        mark = fake.mark()
        fake.user_text("CSO là gì?", user_id=LAN)
        await fake.wait_idle()
        assert [c for c in fake.calls[mark:] if c.method == "sendMessage"] == []


async def test_a_group_chat_does_not_use_up_anyones_allowance(
    assistant: Assistant, tmp_path: Path
) -> None:
    group = -100777
    async with live_bot(assistant, tmp_path, flood_burst=2, flood_rate=0.05) as live:
        fake = live.fake
        for i in range(10):  # chatting with friends, not with the bot
            fake.user_text(f"tin nhắn {i}", user_id=LAN, chat_id=group, chat_type="supergroup")
        fake.user_text(
            f"@{fake.username} CSO là gì?", user_id=LAN, chat_id=group, chat_type="supergroup"
        )
        fake.user_text("CMO là gì?", user_id=LAN)
        await settled(fake, sends=2)

        assert replies_per_chat(fake) == {group: 1, LAN: 1}
        assert texts.FLOOD_NOTICE not in shown(fake, group) + shown(fake, LAN)


@pytest.mark.parametrize(
    "notice", [texts.FLOOD_NOTICE, texts.GROUP_FLOOD_NOTICE, texts.BUSY_NOTICE]
)
def test_the_notice_fits_in_a_button_pop_up(notice: str) -> None:
    assert len(notice) <= 200
