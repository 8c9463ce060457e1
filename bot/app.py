"""The Telegram bot: building it, and running it by long polling or as a webhook server.

`python -m bot run` and `python -m bot webhook` come here through `bot.cli.main`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand, TelegramObject
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot import texts
from bot.assistant import Assistant, FollowUpContext
from bot.handlers import build_routers
from bot.handlers.errors import on_error
from bot.settings import Settings

logger = logging.getLogger("bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
SHUTDOWN_GRACE = 10.0  # seconds given to replies still being sent when the bot stops
REDACTED = "[REDACTED]"


# --------------------------------------------------------------------------- logging


class RedactingFilter(logging.Filter):
    """Removes secrets (the bot token, the webhook secret) from every record that passes a
    handler: message, arguments and traceback. aiogram puts the token only in request URLs,
    and network errors can quote those URLs; this is the safety net."""

    def __init__(self, secrets_: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets_ if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secret_values(settings: Settings) -> list[str]:
    values: list[str] = []
    if settings.bot_token is not None:
        token = settings.bot_token.get_secret_value()
        values.append(token)
        tail = token.partition(":")[2]
        if len(tail) >= 8:  # the secret half of a real token, alone
            values.append(tail)
    if settings.webhook_secret is not None:
        values.append(settings.webhook_secret.get_secret_value())
    return values


def configure_logging(settings: Settings) -> None:
    """Log lines on stderr at settings.log_level, with the token redacted from all of them."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    redacting = RedactingFilter(secret_values(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- building


class RetryAfter(BaseRequestMiddleware):
    """Telegram's 429 says how long to wait; aiogram raises instead of waiting. Wait and
    retry a couple of times when the wait is short, so a burst does not lose a reply."""

    def __init__(self, attempts: int = 2, max_wait: float = 30.0) -> None:
        self.attempts = attempts
        self.max_wait = max_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if attempt > self.attempts or exc.retry_after > self.max_wait:
                    raise
                logger.warning(
                    "%s: flood control, retrying in %s s", method.__api_method__, exc.retry_after
                )
                await asyncio.sleep(exc.retry_after)


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The bot, talking to settings.api_base in HTML parse mode. Tests pass their own
    `session` (a recording one); the 429 retry is installed on it either way."""
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base))
    session.middleware(RetryAfter())
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


class InFlight(BaseMiddleware):
    """Tracks updates being handled, so that shutdown can wait for their replies (polling
    stops on SIGTERM without waiting for handler tasks)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def wait(self, grace: float) -> None:
        current = asyncio.current_task()
        pending = [task for task in self.tasks if task is not current and not task.done()]
        if pending:
            logger.info("waiting for %d update(s) still being handled", len(pending))
            await asyncio.wait(pending, timeout=grace)


class ChatOrder(BaseMiddleware):
    """Updates from one chat are handled one after another, in the order they arrived (polling
    handles updates concurrently): two quick questions get their answers in order, and the
    follow-up context sees the first before the second. Different chats stay concurrent."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        if chat is None:
            return await handler(event, data)
        key: int = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


def bot_commands() -> list[BotCommand]:
    return [BotCommand(command=name, description=text) for name, text in texts.COMMANDS]


async def on_startup(bot: Bot) -> None:
    """Both modes: the command menu, in Vietnamese."""
    try:
        await bot.set_my_commands(bot_commands())
    except TelegramUnauthorizedError:
        raise
    except TelegramAPIError as exc:  # not worth refusing to start over a menu
        logger.warning("setMyCommands failed: %s", exc)


def build_dispatcher(settings: Settings, assistant: Assistant) -> Dispatcher:
    """The conversation: every router, the error handler and the start/stop hooks. The
    Assistant, Settings and the follow-up context reach handlers by name (aiogram's
    dependency injection): `assistant`, `settings`, `follow_ups`."""
    in_flight = InFlight()
    dp = Dispatcher(
        assistant=assistant,
        settings=settings,
        follow_ups=FollowUpContext(settings.follow_up_ttl),
        in_flight=in_flight,
    )
    dp.update.outer_middleware(in_flight)
    dp.update.outer_middleware(ChatOrder())
    dp.include_routers(*build_routers())
    dp.errors.register(on_error)
    dp.startup.register(on_startup)

    async def on_shutdown() -> None:
        await in_flight.wait(SHUTDOWN_GRACE)
        logger.info("stopped")

    dp.shutdown.register(on_shutdown)
    return dp


# --------------------------------------------------------------------------- running


async def run_polling(settings: Settings, assistant: Assistant) -> None:
    bot = build_bot(settings)
    dp = build_dispatcher(settings, assistant)
    try:
        await bot.delete_webhook(drop_pending_updates=settings.drop_pending_updates)
    except TelegramUnauthorizedError:
        await bot.session.close()
        raise
    except TelegramAPIError as exc:  # Telegram unreachable: polling retries with backoff
        logger.warning("deleteWebhook failed: %s", exc)
    await dp.start_polling(bot, handle_signals=True, close_bot_session=True)


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_webhook_app(
    settings: Settings, assistant: Assistant, bot: Bot, secret: str
) -> web.Application:
    """The webhook server: POST settings.webhook_path (Telegram's updates, checked against the
    secret token, 401 otherwise) and GET /health."""
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    dp = build_dispatcher(settings, assistant)
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
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(
        app, path=settings.webhook_path
    )
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
    )


def serve(settings: Settings, assistant: Assistant, webhook: bool) -> int:
    """Run the bot until SIGINT/SIGTERM. Returns the process exit code: 2 (one line on
    stderr naming the setting) when the configuration cannot work, 1 on a failure."""
    if settings.bot_token is None:
        print(texts.CONFIG_NO_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    if webhook and settings.webhook_url is None:
        print(texts.CONFIG_NO_WEBHOOK_URL, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    try:
        if webhook:
            run_webhook(settings, assistant)
        else:
            asyncio.run(run_polling(settings, assistant))
    except TelegramUnauthorizedError:
        print(texts.CONFIG_TOKEN_REJECTED, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # logged through the redacting filter, never printed raw
        logger.critical("the bot stopped: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return EXIT_FAILED
    return EXIT_OK
