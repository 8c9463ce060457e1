"""The bot behind a webhook: an aiohttp server taking Telegram's updates (`python -m bot
webhook`), with a /health endpoint."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.lock import data_dir_lock
from bot.telegram.app import SHUTDOWN_GRACE, build_bot, build_dispatcher
from bot.telegram.polling import MAX_CONCURRENT_UPDATES, open_storage
from bot.telegram.stopping import Stopped, StopSignals

logger = logging.getLogger("bot")


class BoundedWebhookHandler(SimpleRequestHandler):
    """Webhook updates are handled in the background (Telegram gets its 200 at once, as with
    aiogram's own handler), but at most `limit` at a time. Beyond that the bot answers 503:
    Telegram keeps the update and delivers it again a little later, so a slow Bot API cannot
    pile up tasks without bound (polling has aiogram's tasks_concurrency_limit instead)."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, secret_token: str, limit: int) -> None:
        super().__init__(dispatcher=dispatcher, bot=bot, secret_token=secret_token)
        self.limit = limit
        self.running = 0

    async def _handle_request_background(self, bot: Bot, request: web.Request) -> web.Response:
        if self.running >= self.limit:
            return web.Response(status=503, text="busy, try again")
        self.running += 1
        try:
            return await super()._handle_request_background(bot, request)
        except BaseException:  # no task was started (an unreadable body)
            self.running -= 1
            raise

    async def _background_feed_update(self, bot: Bot, update: dict[str, Any]) -> None:
        try:
            await super()._background_feed_update(bot, update)
        finally:
            self.running -= 1


def health_of(storage: Storage | None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /health: "ok", or "degraded" and a line saying what fails (the database cannot be
    written). Still 200 then: the bot answers, and a balancer that took it out of service
    on a failing status would silence that; a monitor reads the first line."""

    async def health(_: web.Request) -> web.Response:
        fault = None if storage is None else storage.write_fault
        if fault is None:
            return web.Response(text="ok")
        return web.Response(text=f"degraded\ndatabase: {fault.describe()}")

    return health


def build_webhook_app(settings: Settings, dp: Dispatcher, bot: Bot, secret: str) -> web.Application:
    """The webhook server: POST settings.webhook_path (Telegram's updates, checked against the
    secret token, 401 otherwise) and GET /health. Starting the app starts the dispatcher;
    stopping it waits for the replies in flight and closes the bot's session."""
    app = web.Application()
    app.router.add_get("/health", health_of(dp.get("db")))
    # The dispatcher's shutdown (waiting for replies in flight) runs before the handler
    # closes the bot's session: setup_application first, then register.
    setup_application(app, dp, bot=bot)
    BoundedWebhookHandler(dp, bot, secret, MAX_CONCURRENT_UPDATES).register(
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
        try:
            dp = build_dispatcher(settings, assistant, storage)
            app = build_webhook_app(settings, dp, bot, secret)
            runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
            try:
                await stop.race(start_server(runner, settings, dp, bot, secret))
                await stop.requested.wait()
            except Stopped:
                pass
            finally:
                await runner.cleanup()  # the dispatcher's shutdown: replies in flight first
        finally:
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
