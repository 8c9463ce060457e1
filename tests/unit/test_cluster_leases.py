"""Leases: a periodic job's round runs on one instance at a time (a real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable

from bot.cluster.leases import Lease, under_lease
from bot.cluster.redis import Cluster
from tests.support.conversation import settings
from tests.support.redis_server import own_redis


async def test_one_instance_holds_a_lease_until_it_gives_it_back(
    clusters: tuple[Cluster, Cluster],
) -> None:
    a, b = Lease(clusters[0], "purge"), Lease(clusters[1], "purge")

    assert await a.hold(60)
    assert not await b.hold(60)
    assert await a.hold(60)  # renewed by its holder
    assert await Lease(clusters[1], "another job").hold(60)  # each job has its own

    await a.release()

    assert await b.hold(60)
    assert not await a.hold(60)


async def test_a_lease_lasts_its_ttl_from_the_last_renewal(
    clusters: tuple[Cluster, Cluster],
) -> None:
    cluster = clusters[0]
    lease = Lease(cluster, "purge")
    await lease.hold(5)

    ttl_ms = await cluster.client.pttl(lease.key)

    assert 0 < ttl_ms <= 5000  # a holder that dies blocks the job this long at most


async def test_of_two_instances_running_a_job_one_runs_each_round(
    clusters: tuple[Cluster, Cluster],
) -> None:
    rounds: Counter[str] = Counter()
    enough = asyncio.Event()

    def job(instance: str) -> Callable[[], Awaitable[None]]:
        async def one_round() -> None:
            rounds[instance] += 1
            if rounds.total() >= 5:
                enough.set()

        return one_round

    tasks = [
        asyncio.create_task(under_lease(Lease(cluster, "timeouts"), 0.01, job(name), name))
        for name, cluster in zip(("a", "b"), clusters, strict=True)
    ]
    await enough.wait()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert len(rounds) == 1, rounds  # all rounds by the instance that took the lease first
    assert not await clusters[0].client.exists(clusters[0].key("lease", "timeouts"))


async def test_while_redis_is_away_no_instance_runs_a_round_and_then_one_does() -> None:
    async with own_redis() as server:
        cluster = Cluster.from_settings(settings(redis_url=server.url, redis_prefix="bot"))
        lease = Lease(cluster, "purge")
        try:
            await server.stop()
            assert not await lease.hold(60)  # never run on every instance at once

            await server.start()
            assert await lease.hold(60)
        finally:
            await cluster.close()
