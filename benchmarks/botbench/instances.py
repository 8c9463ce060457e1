"""Several `python -m bot webhook` instances behind one Bot API stand-in on 127.0.0.1, fed by a
load generator in this process that posts updates as Telegram posts them to a webhook: updates
per second, latency to the answer, and the instances' CPU time per update."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import ClientSession, TCPConnector

from benchmarks.botbench.process import (
    REPLY_LIMIT,
    STARTUP_LIMIT,
    BotProcess,
    bot_env,
    progress,
)
from benchmarks.botbench.shared import Shared
from benchmarks.botbench.workloads import TOKEN
from benchmarks.measure import (
    cpu_between,
    percentile,
    proc_cpu,
    proc_status,
    processes_cpu,
    self_cpu,
)
from tests.support.fake_telegram import FakeTelegram, WebhookDelivery
from tests.support.processes import free_port

WEBHOOK_PATH = "/hook"
WEBHOOK_SECRET = "bench-Webhook_secret"
# The stand-in only records it (it wants HTTPS on a Telegram port, as Telegram does): the
# updates go to each instance's own address, posted by this process.
WEBHOOK_URL = "https://example.invalid/hook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
MAX_CONNECTIONS = 40  # Telegram's default max_connections of a webhook
# Telegram keeps an update refused with any of these and posts it again (409: another instance
# is handling it; 429 and 5xx: busy or failing); any other refusal is the benchmark's mistake.
RETRIED = frozenset({409, 429, 500, 502, 503, 504})
RETRY_AFTER = 0.5
# Each user sends a few questions in the burst, none of them throttled: flood control still
# runs (and, with REDIS_URL, costs what it costs), it only never says no.
FLOOD_BURST = "1000"
WARM_UP_USERS = 10  # per instance, two questions each
FIRST_USER = 800_000
WARM_UP_FIRST_USER = 900_000
WATCH_TIMEOUT = 3600.0  # the reply watcher is cancelled long before


@dataclass(frozen=True, slots=True)
class Plan:
    users: int
    per_user: int  # questions, each sent when the answer to the previous one has arrived
    rounds: int  # bursts, each from new users
    sequential: int  # questions asked one at a time before the bursts

    @property
    def updates(self) -> int:
        """In one burst."""
        return self.users * self.per_user


@dataclass(frozen=True, slots=True)
class Measured:
    title: str
    instances: int
    users: int
    updates: int  # in one burst
    rounds: int
    rate: float  # updates a second over a burst: the median round's
    rate_range: tuple[float, float]
    p50_ms: float  # from the POST of an update to its answer's sendMessage at the stand-in,
    p99_ms: float  # over the updates of every round
    max_ms: float
    sequential: int
    seq_p50_ms: float  # the same, one question at a time
    seq_p99_ms: float
    cpu_ms: float  # the instances' CPU time, summed, per update over every round
    cpu_range_ms: tuple[float, float]  # the lowest and highest round's
    cpu_per_instance_s: list[float]  # over every round
    servers_cpu_ms: float  # PostgreSQL's and Redis's processes, per update, whoever asked
    here_cpu_share: float  # this process (stand-in and load generator), cores used
    refused: int  # POSTs answered with a status Telegram retries
    unexpected: int  # sendMessage calls no question was waiting for
    hwm_mb: float  # the largest peak RSS of an instance
    migrated: bool | None  # `python -m bot migrate` ran (None: no shared database)
    database: str
    redis: str


class Replies:
    """When each awaited answer (the next sendMessage to a chat) reaches the stand-in."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.cursor = fake.mark()
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.unexpected = 0

    def expect(self, chat: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat] = future
        return future

    async def watch(self) -> None:
        while True:
            with contextlib.suppress(AssertionError):
                await self.fake.wait_for("sendMessage", timeout=WATCH_TIMEOUT, after=self.cursor)
            now = time.perf_counter()
            calls = self.fake.calls
            while self.cursor < len(calls):
                call = calls[self.cursor]
                self.cursor += 1
                if call.method != "sendMessage":
                    continue
                future = self.waiting.pop(int(call.chat_id), None)
                if future is None or future.done():
                    self.unexpected += 1
                else:
                    future.set_result(now)


class Webhooks:
    """Posts updates as Telegram does to a webhook behind a balancer: each to the next instance
    in turn, at most MAX_CONNECTIONS requests open to one instance, and an update refused with
    a status Telegram retries posted again a little later. A method in a response (the bot's
    answer) is run at the stand-in, as Telegram runs it."""

    def __init__(self, urls: Sequence[str], fake: FakeTelegram) -> None:
        self.urls = list(urls)
        self.fake = fake
        self.sessions: list[ClientSession] = []
        self.turn = itertools.count()
        self.refused = 0

    async def __aenter__(self) -> Webhooks:
        self.sessions = [
            ClientSession(connector=TCPConnector(limit=MAX_CONNECTIONS)) for _ in self.urls
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for session in self.sessions:
            await session.close()

    async def post(self, body: bytes) -> None:
        while True:
            index = next(self.turn) % len(self.urls)
            async with self.sessions[index].post(
                self.urls[index], data=body, headers=HEADERS
            ) as response:
                if response.status == 200:
                    reply = await WebhookDelivery.reply_in(response)
                    if reply is not None:
                        await self.fake.execute_webhook_reply(*reply)
                    return
                await response.read()
                if response.status not in RETRIED:
                    raise RuntimeError(f"instance {index + 1} answered an update {response.status}")
            self.refused += 1
            await asyncio.sleep(RETRY_AFTER)  # Telegram's pause before posting it again


@dataclass
class Instance:
    process: BotProcess
    url: str  # where it takes updates
    data_dir: Path


def make_dirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)


async def start_instances(
    python: str, fake: FakeTelegram, root: Path, count: int, settings: dict[str, str]
) -> list[Instance]:
    """`count` webhook instances, each with a DATA_DIR and port of its own, started at once;
    returned when each has told the stand-in where it takes updates (setWebhook)."""
    mark = fake.mark()
    instances: list[Instance] = []
    for n in range(1, count + 1):
        workdir = root / f"instance-{n}"
        make_dirs(workdir)
        port = free_port()
        env = bot_env(
            fake.url,
            workdir / "data",
            True,
            WEBHOOK_URL=WEBHOOK_URL,
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
            WEBHOOK_PATH=WEBHOOK_PATH,
            FLOOD_BURST=FLOOD_BURST,
            **settings,
        )
        process = await BotProcess.spawn(python, workdir, env, mode="webhook")
        instances.append(Instance(process, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", workdir))
    try:
        await registered(fake, instances, mark)
    except BaseException:
        await stop_instances(instances)
        raise
    return instances


async def registered(fake: FakeTelegram, instances: Sequence[Instance], after: int) -> None:
    deadline = time.perf_counter() + STARTUP_LIMIT
    cursor = after
    while sum(call.method == "setWebhook" for call in fake.calls[after:]) < len(instances):
        for instance in instances:
            instance.process.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the instances did not all start within {STARTUP_LIMIT} s")
        with contextlib.suppress(AssertionError):
            await fake.wait_for("setWebhook", timeout=0.5, after=cursor)
        cursor = len(fake.calls)


async def stop_instances(instances: Sequence[Instance]) -> None:
    await asyncio.gather(*(instance.process.stop() for instance in instances))


async def migrate(python: str, workdir: Path, env: dict[str, str]) -> bool:
    """`python -m bot migrate` on the shared database, when this revision has the command
    (False when it has not: the instances then create what they need, or use nothing)."""
    make_dirs(workdir)
    probe = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "bot",
        "migrate",
        "--help",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await probe.wait() != 0:
        return False
    log = workdir / "migrate.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            python, "-m", "bot", "migrate", cwd=workdir, env=env, stdout=out, stderr=out
        )
    code = await proc.wait()
    if code != 0:
        tail = log.read_text("utf-8", "replace")[-2000:]
        raise RuntimeError(f"python -m bot migrate exited with {code}:\n{tail}")
    return True


def conversations(
    fake: FakeTelegram, questions: Iterator[str], users: range, per_user: int
) -> dict[int, list[bytes]]:
    """Each user's updates, as the JSON Telegram posts, made before any is timed."""
    return {
        user: [
            json.dumps(
                fake.make_update(
                    "message", fake.text_message(next(questions), user_id=user, first_name="Khách")
                ),
                ensure_ascii=False,
            ).encode()
            for _ in range(per_user)
        ]
        for user in users
    }


@dataclass(frozen=True, slots=True)
class Burst:
    latencies_ms: list[float]  # sorted
    wall_s: float
    cpu_s: list[float]  # per instance
    here_cpu_s: float  # this process
    servers_cpu_s: float
    refused: int
    unexpected: int


def servers_cpu(redis_port: int) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL server's processes and of the Redis server on
    `redis_port` (read whether or not the instances use them: for the configuration without
    them, what the servers did for others meanwhile)."""
    return processes_cpu("postgres") | processes_cpu("redis-server", f":{redis_port}")


@dataclass
class Cluster:
    """The instances, the way updates reach them, and the answers seen at the stand-in."""

    fake: FakeTelegram
    instances: list[Instance]
    hooks: Webhooks
    replies: Replies
    redis_port: int

    async def converse(self, chat: int, updates: Sequence[bytes], latencies: list[float]) -> None:
        """One user's questions, each sent once the answer to the previous one has arrived."""
        for body in updates:
            answer = self.replies.expect(chat)
            posted = time.perf_counter()
            await self.hooks.post(body)
            try:
                received = await asyncio.wait_for(answer, REPLY_LIMIT)
            except TimeoutError:
                for instance in self.instances:
                    instance.process.check_alive()
                raise RuntimeError(f"no answer to user {chat} within {REPLY_LIMIT} s") from None
            latencies.append((received - posted) * 1000)

    async def one_at_a_time(self, talks: dict[int, list[bytes]]) -> list[float]:
        latencies: list[float] = []
        for chat, updates in talks.items():
            await self.converse(chat, updates, latencies)
        return latencies

    async def ask(self, talks: dict[int, list[bytes]]) -> list[float]:
        """Every user's conversation at once; the latency of each answer, in ms."""
        latencies: list[float] = []
        await asyncio.gather(
            *(self.converse(c, updates, latencies) for c, updates in talks.items())
        )
        return latencies

    async def timed(self, talks: dict[int, list[bytes]]) -> Burst:
        """`ask`, with the time it took, and the CPU time the instances and this process
        spent meanwhile."""
        unexpected, refused = self.replies.unexpected, self.hooks.refused
        gc.collect()
        pids = [instance.process.proc.pid for instance in self.instances]
        cpu, here = [proc_cpu(pid) for pid in pids], self_cpu()
        servers = servers_cpu(self.redis_port)
        started = time.perf_counter()
        latencies = await self.ask(talks)
        wall = time.perf_counter() - started
        cpu = [proc_cpu(pid) - before for pid, before in zip(pids, cpu, strict=True)]
        here = self_cpu() - here
        servers_s = cpu_between(servers, servers_cpu(self.redis_port))
        await self.fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
        return Burst(
            latencies_ms=sorted(latencies),
            wall_s=wall,
            cpu_s=cpu,
            here_cpu_s=here,
            servers_cpu_s=servers_s,
            refused=self.hooks.refused - refused,
            unexpected=self.replies.unexpected - unexpected,
        )

    def peak_rss_mb(self) -> float:
        """The largest peak RSS of an instance so far."""
        return max(proc_status(i.process.proc.pid)["VmHWM"] for i in self.instances) / 1024


@contextlib.asynccontextmanager
async def running(
    python: str,
    fake: FakeTelegram,
    root: Path,
    count: int,
    settings: dict[str, str],
    redis_port: int,
) -> AsyncIterator[Cluster]:
    instances = await start_instances(python, fake, root, count, settings)
    replies = Replies(fake)
    watcher = asyncio.create_task(replies.watch())
    try:
        async with Webhooks([i.url for i in instances], fake) as hooks:
            yield Cluster(fake, instances, hooks, replies, redis_port)
    finally:
        watcher.cancel()
        await stop_instances(instances)


def database_used(shared: Shared | None, tables: int, instances: Sequence[Instance]) -> str:
    sqlite = any((i.data_dir / "bot.sqlite3").exists() for i in instances)
    if shared is None:
        return "SQLite"
    if tables:
        return f"PostgreSQL ({tables} tables)" + (", and SQLite files too" if sqlite else "")
    return "SQLite per instance: DATABASE_URL not used by this revision"


def redis_used(shared: Shared | None, keys: int) -> str:
    if shared is None:
        return "no Redis"
    if keys:
        return f"Redis ({keys:,} keys)"
    return "no key in Redis: REDIS_URL not used by this revision"


async def measure(
    python: str,
    title: str,
    count: int,
    plan: Plan,
    questions: Sequence[str],
    shared: Shared | None,
    redis_port: int,
) -> Measured:
    """`count` instances (sharing `shared`, else each on its own SQLite) started and warmed up
    (two questions from WARM_UP_USERS users per instance); then `plan.sequential` questions
    one at a time, and `plan.rounds` bursts of `plan.users` new users asking `plan.per_user`
    questions each."""
    cycle = itertools.cycle(questions)
    settings = shared.settings() if shared is not None else {}
    # Every question timed comes from a user new to the bot (no follow-up context, a full
    # flood allowance), each conversation its own.
    alone_users = range(FIRST_USER, FIRST_USER + plan.sequential)
    burst_first = alone_users.stop
    warm_users = range(WARM_UP_FIRST_USER, WARM_UP_FIRST_USER + WARM_UP_USERS * count)
    with tempfile.TemporaryDirectory(prefix="bench-instances-") as tmp:
        root = Path(tmp)
        async with FakeTelegram(token=TOKEN) as fake:
            migrated = None
            if shared is not None:
                env = bot_env(fake.url, root / "migrate" / "data", True, **settings)
                migrated = await migrate(python, root / "migrate", env)
            progress(f"{title}: starting {count} instance(s) ...")
            async with running(python, fake, root, count, settings, redis_port) as cluster:
                await cluster.ask(conversations(fake, cycle, warm_users, 2))
                await fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
                progress(f"{title}: {plan.sequential} questions one at a time ...")
                alone = conversations(fake, cycle, alone_users, 1)
                sequential = sorted(await cluster.one_at_a_time(alone))
                await fake.wait_idle(quiet=0.2, timeout=REPLY_LIMIT)
                bursts: list[Burst] = []
                for n in range(1, plan.rounds + 1):
                    first = burst_first + (n - 1) * plan.users
                    users = range(first, first + plan.users)
                    talks = conversations(fake, cycle, users, plan.per_user)
                    progress(
                        f"{title}: burst {n} of {plan.rounds}, "
                        f"{plan.users} users, {plan.updates:,} questions ..."
                    )
                    bursts.append(await cluster.timed(talks))
                hwm = cluster.peak_rss_mb()
                tables = await shared.tables() if shared is not None else 0
                keys = await shared.keys() if shared is not None else 0
            database = database_used(shared, tables, cluster.instances)
    return Measured(
        **summarise(title, count, plan, sequential, bursts),
        hwm_mb=hwm,
        migrated=migrated,
        database=database,
        redis=redis_used(shared, keys),
    )


def summarise(
    title: str, count: int, plan: Plan, sequential: list[float], bursts: Sequence[Burst]
) -> dict[str, Any]:
    """The figures of Measured that come from the timings."""
    rates = sorted(plan.updates / b.wall_s for b in bursts)
    cpu_rounds = [sum(b.cpu_s) / plan.updates * 1000 for b in bursts]
    pooled = sorted(ms for b in bursts for ms in b.latencies_ms)
    per_instance = [sum(b.cpu_s[i] for b in bursts) for i in range(count)]
    return {
        "title": title,
        "instances": count,
        "users": plan.users,
        "updates": plan.updates,
        "rounds": len(bursts),
        "rate": statistics.median(rates),
        "rate_range": (rates[0], rates[-1]),
        "p50_ms": percentile(pooled, 0.5),
        "p99_ms": percentile(pooled, 0.99),
        "max_ms": pooled[-1],
        "sequential": len(sequential),
        "seq_p50_ms": percentile(sequential, 0.5),
        "seq_p99_ms": percentile(sequential, 0.99),
        "cpu_ms": sum(per_instance) / (plan.updates * len(bursts)) * 1000,
        "cpu_range_ms": (min(cpu_rounds), max(cpu_rounds)),
        "cpu_per_instance_s": per_instance,
        "servers_cpu_ms": sum(b.servers_cpu_s for b in bursts)
        / (plan.updates * len(bursts))
        * 1000,
        "here_cpu_share": sum(b.here_cpu_s for b in bursts) / sum(b.wall_s for b in bursts),
        "refused": sum(b.refused for b in bursts),
        "unexpected": sum(b.unexpected for b in bursts),
    }
