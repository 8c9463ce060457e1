"""The bot behind a webhook: an aiohttp server taking Telegram's updates (`python -m bot
webhook`), with a /health endpoint."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import MultipartWriter, web

from bot.cluster.updates import Claim, MemoryLedger, RedisLedger, UpdateLedger, redis_problem
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.lock import data_dir_lock
from bot.telegram.app import SHUTDOWN_GRACE, build_bot, build_dispatcher
from bot.telegram.outbox import Outbox
from bot.telegram.polling import MAX_CONCURRENT_UPDATES, open_storage
from bot.telegram.stopping import Stopped, StopSignals

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.cluster.redis import Cluster

logger = logging.getLogger("bot")

# Telegram's connections to the webhook at once (its default is 40): each holds an update until
# it is answered, and a chat whose replies Telegram slows down (429) holds its own for seconds.
MAX_CONNECTIONS = 100


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class AckAfterHandling(SimpleRequestHandler):
    """Telegram's update is acknowledged only once it has been handled (the question
    committed, the reply sent): an instance that dies mid-update answers nothing, and Telegram
    delivers the update again, to this instance or another. A method a handler returns goes
    back in the response body, where Telegram executes it (aiogram's webhook reply).

    The answers Telegram gets, per update:

    * 200 after handling, also when a handler failed and the error handler dealt with it
      (the user got an apology; a redelivery would only fail again). An update the
      database could not record (WriteDeferred) was answered all the same and its record is
      kept for later: 200 too, since a redelivery would answer twice.
    * 500 when the error escaped the error handler: the claim is released and Telegram
      delivers the update again.
    * 200 at once, nothing sent, for an update already handled (`ledger`: another instance,
      or this one, did it; Telegram delivers again after a timeout or a lost answer).
    * 409 while another instance handles the same update: Telegram tries again later.
    * 503 beyond `limit` updates at once: Telegram keeps the update and delivers it again a
      little later, so a slow Bot API cannot pile up handlers without bound (polling has
      aiogram's tasks_concurrency_limit instead).

    aiogram gives an update at most 55 s before it answers Telegram and finishes the update
    in the background (Telegram gives up waiting at about 60 s): such an update counts as
    handled then."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        secret_token: str,
        limit: int,
        ledger: UpdateLedger,
    ) -> None:
        super().__init__(
            dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=secret_token
        )
        self.limit = limit
        self.ledger = ledger
        self.running = 0

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), bot):
            return web.Response(body="Unauthorized", status=401)
        if self.running >= self.limit:
            return web.Response(status=503, text="busy, try again")
        self.running += 1
        try:
            return await self._handle_once(bot, request)
        finally:
            self.running -= 1

    async def _handle_once(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = await request.json(loads=bot.session.json_loads)
            update_id = int(update["update_id"])
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not an update")
        claim = await self.ledger.claim(update_id)
        if claim is Claim.DONE:
            return web.json_response({})
        if claim is Claim.BUSY:
            return web.Response(status=409, text="being handled, try again later")
        try:
            response = await super().handle(request)
        except BaseException:
            await asyncio.shield(self.ledger.release(update_id))
            raise
        # Written before the update is marked done: a method in the body is executed only if
        # Telegram gets it, so an answer lost on the way is released for the redelivery.
        try:
            await response.prepare(request)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            if isinstance(response.body, MultipartWriter):
                await asyncio.shield(self.ledger.release(update_id))
            else:  # the reply went out through the Bot API already
                await asyncio.shield(self.ledger.done(update_id))
            raise
        await self.ledger.done(update_id)
        return response


def health_of(
    storage: Storage | None, redis: Redis | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /health: "ok", or "degraded" and a line per failing part ("database: ...",
    "redis: ..."). Still 200 then: the bot answers all the same (a question the database
    refuses is kept and written later; without Redis an instance answers with its own state),
    and every instance shares the same database and Redis, so a balancer dropping instances
    over them would only silence the bot. A monitor reads the first line. An instance that
    cannot answer at all does not answer /health either (stopped, or not started yet)."""

    async def health(_: web.Request) -> web.Response:
        problems = []
        if storage is not None:
            unread = await storage.ping()  # "database <name>: ..." (no password in the name)
            if unread is not None:
                problems.append(unread)
            fault = storage.write_fault
            if fault is not None:
                problems.append(f"database: {fault.describe()}")
        if redis is not None:
            problem = await redis_problem(redis)
            if problem is not None:
                problems.append(f"redis: {problem}")
        if not problems:
            return web.Response(text="ok")
        return web.Response(text="\n".join(["degraded", *problems]))

    return health


def build_webhook_app(
    settings: Settings,
    dp: Dispatcher,
    bot: Bot,
    secret: str,
    ledger: UpdateLedger | None = None,
    redis: Redis | None = None,
) -> web.Application:
    """The webhook server: POST settings.webhook_path (Telegram's updates, checked against the
    secret token, 401 otherwise) and GET /health. Starting the app starts the dispatcher;
    stopping it waits for the replies in flight and closes the bot's session. `ledger`: the
    updates handled (by default this instance's own memory); `redis`: checked by /health."""
    app = web.Application()
    app.router.add_get("/health", health_of(dp.get("db"), redis))
    # The dispatcher's shutdown (waiting for replies in flight) runs before the handler
    # closes the bot's session: setup_application first, then register.
    setup_application(app, dp, bot=bot)
    ledger = MemoryLedger() if ledger is None else ledger
    dp["outbox"] = Outbox(ledger)  # answers go in the response to Telegram's POST
    AckAfterHandling(dp, bot, secret, MAX_CONCURRENT_UPDATES, ledger).register(
        app, path=settings.webhook_path
    )
    return app


async def register_webhook(settings: Settings, dp: Dispatcher, bot: Bot, secret: str) -> None:
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    url = str(settings.webhook_url)
    await bot.set_webhook(
        url,
        secret_token=secret,
        allowed_updates=dp.resolve_used_update_types(),
        drop_pending_updates=settings.drop_pending_updates,
        max_connections=MAX_CONNECTIONS,
    )
    logger.info("webhook set: %s", url)


def webhook_secret(settings: Settings) -> str:
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    # Never accept unauthenticated updates: without WEBHOOK_SECRET, a random one is given to
    # Telegram at start-up.
    logger.info("WEBHOOK_SECRET is not set: using a random secret for this run")
    return secrets.token_urlsafe(32)


async def run_webhook(settings: Settings, assistant: Assistant) -> None:
    """The webhook server until SIGTERM/SIGINT. A failed start (setWebhook refused, the Bot
    API unreachable) raises, and a signal ends the start wherever it is; either way the
    server, the bot's session and the database are closed before this returns.

    Not aiohttp's `run_app`: it starts the app (the dispatcher's start-up) outside its
    clean-up, so a failed start would leave the database open, its threads keeping the
    process alive, and its own signal handlers swallowing SIGTERM. Raises DataDirBusy when
    another bot runs on DATA_DIR."""
    with data_dir_lock(settings.data_dir), StopSignals() as stop:
        secret = webhook_secret(settings)
        bot = build_bot(settings)
        storage = await open_storage(settings)
        ledger: UpdateLedger = MemoryLedger()
        try:
            dp = build_dispatcher(settings, assistant, storage)
            # The instances' shared Redis (REDIS_URL), closed by the dispatcher's shutdown.
            cluster: Cluster | None = dp["cluster"]
            redis = None if cluster is None else cluster.client
            if redis is not None:
                ledger = RedisLedger(redis, settings.redis_prefix)
            app = build_webhook_app(settings, dp, bot, secret, ledger, redis)
            runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
            try:
                await stop.race(start_server(runner, settings, dp, bot, secret))
                await stop.requested.wait()
            except Stopped:
                pass
            finally:
                await runner.cleanup()  # the dispatcher's shutdown: replies in flight first
        finally:
            await ledger.close()
            await bot.session.close()
            await storage.close()


async def start_server(
    runner: web.AppRunner, settings: Settings, dp: Dispatcher, bot: Bot, secret: str
) -> None:
    """The dispatcher started, the server listening, then Telegram told where to post."""
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
    logger.info(
        "webhook server on http://%s:%s%s",
        settings.webhook_host,
        settings.webhook_port,
        settings.webhook_path,
    )
    await register_webhook(settings, dp, bot, secret)
