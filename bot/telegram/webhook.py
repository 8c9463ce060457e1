"""The bot behind a webhook: an aiohttp server taking Telegram's updates (`python -m bot
webhook`), with a /health endpoint."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.telegram.app import SHUTDOWN_GRACE, build_bot, build_dispatcher
from bot.telegram.polling import MAX_CONCURRENT_UPDATES, open_storage
from bot.telegram.runtime import new_event_loop

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


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def build_webhook_app(
    settings: Settings, assistant: Assistant, bot: Bot, secret: str
) -> web.Application:
    """The webhook server: POST settings.webhook_path (Telegram's updates, checked against the
    secret token, 401 otherwise) and GET /health. The database opens here and closes when
    the server has stopped."""
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    storage = await open_storage(settings)
    dp = build_dispatcher(settings, assistant, storage)
    url = str(settings.webhook_url)

    async def register_webhook(bot: Bot) -> None:
        await bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=dp.resolve_used_update_types(),
            drop_pending_updates=settings.drop_pending_updates,
        )
        logger.info("webhook set: %s", url)

    dp.startup.register(register_webhook)
    app = web.Application()
    app.router.add_get("/health", health)
    # The dispatcher's shutdown (waiting for replies in flight) runs before the handler
    # closes the bot's session: setup_application first, then register.
    setup_application(app, dp, bot=bot)
    BoundedWebhookHandler(dp, bot, secret, MAX_CONCURRENT_UPDATES).register(
        app, path=settings.webhook_path
    )

    async def close_storage(_: web.Application) -> None:
        await storage.close()

    app.on_cleanup.append(close_storage)
    return app


def run_webhook(settings: Settings, assistant: Assistant) -> None:
    bot = build_bot(settings)
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
    else:
        # Never accept unauthenticated updates: without WEBHOOK_SECRET, a random one is
        # given to Telegram at start-up.
        secret = secrets.token_urlsafe(32)
        logger.info("WEBHOOK_SECRET is not set: using a random secret for this run")
    app = build_webhook_app(settings, assistant, bot, secret)
    logger.info(
        "webhook server on http://%s:%s%s",
        settings.webhook_host,
        settings.webhook_port,
        settings.webhook_path,
    )
    web.run_app(
        app,
        host=settings.webhook_host,
        port=settings.webhook_port,
        print=None,
        handle_signals=True,
        shutdown_timeout=SHUTDOWN_GRACE,
        loop=new_event_loop(),
    )
