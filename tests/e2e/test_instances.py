"""Several `python -m bot webhook` processes behind one webhook, sharing Redis, with the Bot API
stand-in delivering Telegram's updates to them in turn: an update delivered again, to
whichever instance, is answered once, and one whose instance is killed mid-way is delivered
again and answered (once). Each instance keeps its own SQLite database here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_assistant
from bot.cluster.updates import CLAIM_TTL
from bot.engine.assistant import Assistant
from bot.settings import Settings
from tests.support.fake_telegram import FakeTelegram
from tests.support.live_polling import settled, shown, to, until
from tests.support.processes import TOKEN, WEBHOOK_SECRET, WebhookInstance, start_instances

LAN, MINH = 111, 222


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(Settings(_env_file=None))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
async def three(
    fake: FakeTelegram, tmp_path: Path, redis_service: tuple[str, str]
) -> AsyncIterator[list[WebhookInstance]]:
    """Three instances on the test's Redis prefix."""
    url, prefix = redis_service
    instances = await start_instances(fake, tmp_path, 3, REDIS_URL=url, REDIS_PREFIX=prefix)
    try:
        yield instances
    finally:
        codes = []
        for instance in instances:
            if instance.process.proc.poll() is None:
                codes.append(await instance.process.stop())
        assert set(codes) <= {0}, [i.process.output() for i in instances]


async def redelivered(fake: FakeTelegram, url: str, update: dict[str, Any]) -> int:
    """Telegram delivering an update again until it is acknowledged: a 409 (being handled,
    or its acknowledgement still being recorded) means later."""
    for _ in range(100):
        status = await fake.post_webhook(url, update, WEBHOOK_SECRET)
        if status != 409:
            return status
        await asyncio.sleep(0.05)  # Telegram's own wait before trying again
    raise AssertionError(f"update {update['update_id']} still being handled after 100 tries")


async def test_an_update_delivered_again_to_another_instance_is_answered_once(
    fake: FakeTelegram, three: list[WebhookInstance], assistant: Assistant
) -> None:
    first, second, third = three
    update = fake.make_update("message", fake.text_message("CSO là gì?", user_id=LAN))

    assert await fake.post_webhook(first.url, update, WEBHOOK_SECRET) == 200
    # Telegram did not get that acknowledgement and delivers again, through the balancer.
    assert await redelivered(fake, second.url, update) == 200
    assert await redelivered(fake, third.url, update) == 200
    await settled(fake, sends=1)

    [answer] = shown(fake, LAN)
    assert answer.startswith(assistant.ask("CSO là gì?").text)


# A question whose answer comes with a contact card: the card goes through the Bot API while
# the update is being handled (the answer itself goes back in the webhook's response).
PHONE = "số điện thoại công ty là gì?"


def successful(fake: FakeTelegram, method: str, chat: int) -> list[Any]:
    return [c for c in fake.calls if c.method == method and c.chat_id == chat and c.ok]


async def test_an_update_delivered_again_while_another_instance_answers_it_waits(
    fake: FakeTelegram, three: list[WebhookInstance]
) -> None:
    first, second, _ = three
    update = fake.make_update("message", fake.text_message(PHONE, user_id=MINH))

    fake.hold("sendContact")
    answering = asyncio.create_task(fake.post_webhook(first.url, update, WEBHOOK_SECRET))
    await fake.wait_for("sendContact", to(MINH))
    # Being answered by the first: not acknowledged, Telegram tries again later.
    assert await fake.post_webhook(second.url, update, WEBHOOK_SECRET) == 409
    fake.release("sendContact")
    assert await answering == 200
    assert await redelivered(fake, second.url, update) == 200
    await fake.wait_idle()

    assert len(successful(fake, "sendContact", MINH)) == 1
    assert len(successful(fake, "sendMessage", MINH)) == 1


async def test_an_update_whose_instance_is_killed_mid_way_is_delivered_again_and_answered(
    fake: FakeTelegram, three: list[WebhookInstance], assistant: Assistant
) -> None:
    doomed = three[0]
    async with fake.deliver_webhooks([i.url for i in three], retry_delay=0.2) as delivery:
        fake.hold("sendContact")
        update_id = fake.user_text(PHONE, user_id=LAN)  # to the first instance
        card = await fake.wait_for("sendContact", to(LAN), timeout=10)

        doomed.kill()  # mid-way: its contact card on the way, its answer not written yet
        await until(lambda: card.error is not None, within=5)  # its request died with it
        fake.release("sendContact")

        # Its claim runs out; then another instance answers the redelivery.
        survivor = await delivery.wait_acknowledged(update_id, within=CLAIM_TTL + 20)
        await fake.wait_idle()

    assert survivor != doomed.url
    [answer] = shown(fake, LAN)  # the answer, once
    assert answer.startswith(assistant.ask(PHONE).text)
    # The card is sent at most once: the dead instance took it, and it died with it.
    assert successful(fake, "sendContact", LAN) == []
    attempts = delivery.attempts_of(update_id)
    assert attempts[0].target == doomed.url
    assert not attempts[0].acknowledged
    # Meanwhile the other instances sent it back for later (409), never answering it.
    assert {a.status for a in attempts[1:-1]} <= {409, None}
