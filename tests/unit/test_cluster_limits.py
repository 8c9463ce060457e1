"""Flood control and the operators' rate in Redis: the same decisions as in one process,
made for every instance together (a real Redis; each test has its own key prefix)."""

from __future__ import annotations

from bot.cluster.limits import DROP, NOTICE, PASS, SharedBuckets, SharedWindow
from bot.cluster.redis import Cluster
from tests.support.conversation import settings
from tests.support.redis_server import own_redis

LAN, MINH, NEWCOMER = 111, 222, 5000
GROUP = -100777
SLOW = 0.0001  # tokens a second: none come back during a test


def buckets(cluster: Cluster, burst: int = 5, group_burst: int = 3) -> SharedBuckets:
    return SharedBuckets(cluster, SLOW, burst, SLOW, group_burst)


async def test_a_burst_passes_then_one_notice_then_silence_across_instances(
    clusters: tuple[Cluster, Cluster],
) -> None:
    a, b = buckets(clusters[0]), buckets(clusters[1])

    verdicts = [await (a if n % 2 else b).verdict(LAN, None, None) for n in range(8)]

    assert verdicts == [(PASS, "sender")] * 5 + [
        (NOTICE, "sender"),
        (DROP, "sender"),
        (DROP, "sender"),
    ]
    assert await a.verdict(MINH, None, None) == (PASS, "sender")  # others are not slowed


async def test_an_album_is_one_message_on_whichever_instance_its_items_arrive(
    clusters: tuple[Cluster, Cluster],
) -> None:
    a, b = buckets(clusters[0], burst=2), buckets(clusters[1], burst=2)

    items = [await (a if n % 2 else b).verdict(LAN, None, "holiday") for n in range(10)]
    assert items == [(PASS, "sender")] * 10
    assert await a.verdict(LAN, None, None) == (PASS, "sender")  # the second token
    over = [await b.verdict(LAN, None, "beach") for _ in range(4)]
    assert over == [(NOTICE, "sender")] + [(DROP, "sender")] * 3  # one notice for the album


async def test_a_group_has_one_allowance_for_all_its_members_and_all_instances(
    clusters: tuple[Cluster, Cluster],
) -> None:
    a, b = buckets(clusters[0], burst=5, group_burst=3), buckets(clusters[1], group_burst=3)

    assert [await a.verdict(LAN, GROUP, None) for _ in range(2)] == [(PASS, "sender")] * 2
    assert await b.verdict(MINH, GROUP, None) == (PASS, "sender")  # the group's third
    assert await a.verdict(NEWCOMER, GROUP, None) == (NOTICE, "group")
    assert await b.verdict(NEWCOMER, GROUP, None) == (DROP, "group")
    assert await b.verdict(NEWCOMER, None, None) == (PASS, "sender")  # in private: their own


async def test_an_idle_bucket_vanishes_from_redis(clusters: tuple[Cluster, Cluster]) -> None:
    cluster = clusters[0]
    shared = SharedBuckets(cluster, rate=1.0, burst=5, group_rate=1.0, group_burst=5)
    await shared.verdict(LAN, None, None)

    ttl_ms = await cluster.client.pttl(cluster.key("flood", "sender", LAN))

    assert 0 < ttl_ms <= 5000  # full again after burst / rate seconds: then it is gone


async def test_the_operators_rate_is_one_window_for_every_instance(
    clusters: tuple[Cluster, Cluster],
) -> None:
    a, b = SharedWindow(clusters[0], limit=3), SharedWindow(clusters[1], limit=3)

    assert [await a.try_acquire(), await b.try_acquire(), await a.try_acquire()] == [0, 0, 0]
    wait = await b.try_acquire()

    assert 59 < wait <= 60  # the fourth send waits for the first to leave the minute


async def test_while_redis_is_away_messages_pass_and_the_operators_rate_is_counted_here() -> None:
    async with own_redis() as server:
        cluster = Cluster.from_settings(settings(redis_url=server.url, redis_prefix="bot"))
        flood = buckets(cluster, burst=1)
        window = SharedWindow(cluster, limit=2)
        try:
            assert await flood.verdict(LAN, None, None) == (PASS, "sender")
            await server.stop()

            # Fails open: nobody is stopped for Redis's sake.
            assert [await flood.verdict(LAN, None, None) for _ in range(3)] == [
                (PASS, "sender")
            ] * 3
            await window.acquire()  # this instance's own window: still within the limit
            await window.acquire()

            await server.start()  # an empty Redis: the buckets start afresh
            assert await flood.verdict(LAN, None, None) == (PASS, "sender")
            assert await flood.verdict(LAN, None, None) == (NOTICE, "sender")
        finally:
            await cluster.close()
