"""The ledger of updates handled: one instance's memory, and Redis shared by several."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from bot.cluster.updates import Claim, MemoryLedger, RedisLedger, redis_problem
from tests.support.processes import free_port

Ledgers = Callable[..., Awaitable[RedisLedger]]


async def test_memory_ledger_answers_a_redelivery_by_what_became_of_the_first() -> None:
    ledger = MemoryLedger(remembered=2)

    assert await ledger.claim(1) is Claim.TAKEN
    assert await ledger.claim(1) is Claim.BUSY  # delivered again while being handled
    await ledger.done(1)
    assert await ledger.claim(1) is Claim.DONE

    assert await ledger.claim(2) is Claim.TAKEN
    await ledger.release(2)  # failed: the redelivery handles it
    assert await ledger.claim(2) is Claim.TAKEN

    # Bounded: the oldest handled updates are forgotten.
    for update_id in (2, 3):
        await ledger.done(update_id)
    assert await ledger.claim(1) is Claim.TAKEN


@pytest.fixture
async def instances(redis_service: tuple[str, str]) -> AsyncIterator[Ledgers]:
    """Ledgers of instances sharing the test's Redis prefix, each with its own client."""
    url, prefix = redis_service
    opened: list[tuple[RedisLedger, Redis]] = []

    async def instance(**timing: float) -> RedisLedger:
        client = Redis.from_url(url)
        ledger = RedisLedger(client, prefix, **timing)
        opened.append((ledger, client))
        return ledger

    yield instance
    for ledger, client in opened:
        await ledger.close()
        await client.aclose()


async def test_an_update_is_handled_by_one_instance_and_then_known_to_all(
    instances: Ledgers,
) -> None:
    a, b, c = await instances(), await instances(), await instances()

    assert await a.claim(7) is Claim.TAKEN
    assert await b.claim(7) is Claim.BUSY
    assert await a.claim(7) is Claim.BUSY  # a redelivery to the same instance too
    await a.done(7)
    assert await b.claim(7) is Claim.DONE
    assert await c.claim(7) is Claim.DONE
    assert 0 < await a.redis.pttl(a.key(7)) <= a.done_ttl_ms


async def test_what_goes_with_an_answer_is_sent_once_whichever_instance_handles_it(
    instances: Ledgers,
) -> None:
    a, b = await instances(), await instances()
    assert await a.first_time(7, "contact card")
    assert not await b.first_time(7, "contact card")  # the update handled again elsewhere
    assert not await a.first_time(7, "contact card")
    assert await b.first_time(7, "part 0")  # another message of the same update
    assert await b.first_time(8, "contact card")  # another update

    memory = MemoryLedger()
    assert await memory.first_time(7, "contact card")
    assert not await memory.first_time(7, "contact card")


async def test_a_failed_update_is_released_for_another_instance(instances: Ledgers) -> None:
    a, b = await instances(), await instances()

    assert await a.claim(8) is Claim.TAKEN
    await b.release(8)  # not b's claim: it stays a's
    assert await b.claim(8) is Claim.BUSY
    await a.release(8)
    assert await b.claim(8) is Claim.TAKEN


async def test_a_slow_update_keeps_its_claim_and_a_dead_instances_claim_runs_out(
    instances: Ledgers,
) -> None:
    slow = await instances(claim_ttl=0.3)
    dead = await instances(claim_ttl=0.3)
    other = await instances(claim_ttl=0.3)

    assert await slow.claim(1) is Claim.TAKEN
    assert await dead.claim(2) is Claim.TAKEN
    await dead.close()  # SIGKILL: no release, no renewal
    # Claims run out silently in Redis: nothing to wait on but the time.
    await asyncio.sleep(1.0)  # more than three claim lifetimes

    assert await other.claim(2) is Claim.TAKEN  # the dead instance's claim ran out
    assert await other.claim(1) is Claim.BUSY  # the slow update's was renewed
    await slow.done(1)
    assert await other.claim(1) is Claim.DONE


async def test_without_redis_updates_are_handled_and_one_warning_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Redis.from_url(f"redis://:hunter2@127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    ledger = RedisLedger(client, "bot")
    try:
        with caplog.at_level(logging.WARNING, logger="bot"):
            assert await ledger.claim(1) is Claim.TAKEN
            await ledger.done(1)
            assert await ledger.claim(2) is Claim.TAKEN
            await ledger.release(2)
        problem = await redis_problem(client)
    finally:
        await ledger.close()
        await client.aclose()

    [warning] = [r.getMessage() for r in caplog.records]
    assert "Redis does not answer (ConnectionError)" in warning
    assert problem == "not answering (ConnectionError)"
    assert "hunter2" not in warning + problem
