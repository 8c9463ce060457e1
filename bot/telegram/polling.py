"""Running the bot by long polling (`python -m bot run`)."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.lock import data_dir_lock
from bot.telegram.app import build_bot, build_dispatcher
from bot.telegram.middlewares import MAX_RUNNING_UPDATES, InFlight
from bot.telegram.stopping import Stopped, StopSignals

logger = logging.getLogger("bot")

# Long polling takes at most this many updates at once (the webhook too): being handled, at
# most MAX_RUNNING_UPDATES of them, or waiting for their chat's turn, at most CHAT_BACKLOG a
# chat (middlewares.ChatOrder). While all are taken (a slow Bot API, a crowd of users) polling
# stops fetching, and the rest wait at Telegram; one chat's backlog is a small share of it.
MAX_CONCURRENT_UPDATES = 8 * MAX_RUNNING_UPDATES

# Failures of the Bot API that waiting can cure: no connection, a 5xx, flood control.
UNREACHABLE = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)


async def open_storage(settings: Settings) -> Storage:
    return await Storage.connect(settings.database, retention_days=settings.retention_days)


async def run_polling(settings: Settings, assistant: Assistant) -> None:
    """Long polling until SIGTERM/SIGINT. A signal during the start (Telegram slow to answer)
    ends it there; the bot's session and the database are closed before this returns.
    Raises DataDirBusy when another bot runs on DATA_DIR, UpdatesConflict when another
    consumer takes this bot's updates."""
    with data_dir_lock(settings.data_dir), StopSignals() as stop:
        bot = build_bot(settings)
        storage = await open_storage(settings)
        try:
            dp = build_dispatcher(settings, assistant, storage)
            try:
                await stop.race(start(bot, settings))
            except Stopped:
                return
            if stop.requested.is_set():
                return
            # From here aiogram's signal handlers take over (polling stops, replies in flight
            # are finished): nothing is awaited before start_polling installs them.
            await poll(bot, dp)
        finally:
            await bot.session.close()
            await storage.close()  # after the dispatcher's shutdown: every reply's record is in


async def start(bot: Bot, settings: Settings) -> None:
    """Before the first getUpdates: Telegram reached and the token accepted, and no webhook
    left to take the updates."""
    await reach(bot)
    try:
        await bot.delete_webhook(drop_pending_updates=settings.drop_pending_updates)
    except TelegramUnauthorizedError:
        raise
    except TelegramAPIError as exc:  # reached a moment ago: getUpdates will say if it matters
        logger.warning("deleteWebhook failed: %s", exc)


async def reach(bot: Bot, backoff: BackoffConfig = DEFAULT_BACKOFF_CONFIG) -> None:
    """getMe until Telegram answers, with `backoff` between attempts and a log line for each:
    aiogram's polling asks once and gives up, so a bot started while the network or the Bot
    API is down would exit. A refused token (401) raises at once. The answer is kept by
    aiogram (`Bot.me`), so polling does not ask again."""
    delays = Backoff(backoff)
    while True:
        try:
            await bot.me()
        except UNREACHABLE as exc:
            logger.warning(
                "the Bot API cannot be reached (attempt %d): %s; retrying in %.1f s",
                delays.counter + 1,
                exc,
                delays.next_delay,
            )
            await delays.asleep()
        else:
            return


class UpdatesConflict(Exception):
    """Telegram answered getUpdates with 409 Conflict: something else takes this bot's updates
    (another instance polling with the same token, or a webhook set elsewhere)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConflictWatch(BaseRequestMiddleware):
    """Stops polling at the first 409 Conflict from getUpdates. aiogram's polling retries
    every failed getUpdates, and two consumers of one bot's updates would go on taking turns:
    each answers some users, both answer others, a live handoff is split between them."""

    def __init__(self, dp: Dispatcher) -> None:
        self.dp = dp
        self.conflict: TelegramConflictError | None = None

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramConflictError as exc:
            if not isinstance(method, GetUpdates) or self.conflict is not None:
                raise
            self.conflict = exc
            # This request runs in aiogram's polling task, which stop_polling cancels: the
            # error never reaches aiogram's retry loop (no "Failed to fetch updates").
            await self.dp.stop_polling()
            raise


async def poll(
    bot: Bot,
    dp: Dispatcher,
    *,
    backoff: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
    handle_signals: bool = True,
) -> None:
    """Long polling until SIGINT/SIGTERM (or `dp.stop_polling()`): at most
    MAX_CONCURRENT_UPDATES updates taken at once, `backoff` between failed getUpdates
    (aiogram's default, 1 s growing to 5 s; tests pass a shorter one). On the way out, after
    the dispatcher's other shutdown handlers (replies in flight first): Telegram is told which
    updates were taken (a getUpdates offset), so that a restart with
    DROP_PENDING_UPDATES=false neither repeats nor loses any; then the HTTP session is
    closed. Raises UpdatesConflict after a 409 Conflict from getUpdates (ConflictWatch)."""
    in_flight: InFlight = dp["in_flight"]
    watch = ConflictWatch(dp)
    bot.session.middleware(watch)

    async def confirm_taken() -> None:
        # After a conflict the updates belong to the other consumer: asking would take them.
        if in_flight.last_update_id is None or watch.conflict is not None:
            return
        try:
            await bot.get_updates(offset=in_flight.last_update_id + 1, limit=1, timeout=0)
        except TelegramAPIError as exc:
            logger.warning("could not confirm the updates taken: %s", exc)

    dp.shutdown.register(confirm_taken)
    await dp.start_polling(
        bot,
        handle_signals=handle_signals,
        close_bot_session=True,
        backoff_config=backoff,
        tasks_concurrency_limit=MAX_CONCURRENT_UPDATES,
    )
    if watch.conflict is not None:
        raise UpdatesConflict(watch.conflict.message)
