"""The Telegram bot: building it, and running it by long polling (the webhook server is in
`bot.webhook`, loaded only when asked for).

`python -m bot run` and `python -m bot webhook` come here through `bot.cli.main`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import BotCommand, TelegramObject, Update
from aiogram.utils.backoff import BackoffConfig

from bot import handlers, texts
from bot.assistant import Assistant, FollowUpContext
from bot.flood import FloodControl
from bot.handlers.errors import on_error
from bot.handoff import FailureStreak, HandoffDesk
from bot.knowledge_edit import LiveKnowledge
from bot.settings import Settings
from bot.storage import Storage, StorageError
from bot.telegram_session import BotApiSession, RetryAfter

logger = logging.getLogger("bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
SHUTDOWN_GRACE = 10.0  # seconds given to replies still being sent when the bot stops
# Long polling handles at most this many updates at once; while they are all busy (a slow Bot
# API, a crowd of users) polling stops fetching, and the rest wait at Telegram.
MAX_CONCURRENT_UPDATES = 64
GC_YOUNG_THRESHOLD = 50_000  # allocations between young-generation collections (default 700)
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
    if settings.log_level != "DEBUG":
        # aiogram logs every update at INFO ("Update id=… is handled"): at a thousand updates a
        # second that is most of the log and a measurable share of the work. DEBUG shows it.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- building


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The bot, talking to settings.api_base in HTML parse mode. Tests pass their own
    `session` (a recording one); the 429 retry is installed on it either way."""
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    if session is None:
        session = BotApiSession(api=TelegramAPIServer.from_base(settings.api_base))
    session.middleware(RetryAfter())
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


class InFlight(BaseMiddleware):
    """Tracks updates being handled, so that shutdown can wait for their replies (polling
    stops on SIGTERM without waiting for handler tasks), and the last update taken."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.last_update_id: int | None = None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        if isinstance(event, Update):
            self.last_update_id = max(self.last_update_id or 0, event.update_id)
        try:
            return await handler(event, data)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def wait(self, grace: float) -> None:
        """Until no update is being handled, `grace` seconds at most (updates that polling
        handed over just before it stopped are waited for too)."""
        current = asyncio.current_task()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        announced = False
        while True:
            pending = [task for task in self.tasks if task is not current and not task.done()]
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                logger.warning("%d update(s) not finished after %s s", len(pending), grace)
                return
            if not announced:
                logger.info("waiting for %d update(s) still being handled", len(pending))
                announced = True
            await asyncio.wait(pending, timeout=remaining)


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


def build_dispatcher(settings: Settings, assistant: Assistant, storage: Storage) -> Dispatcher:
    """The conversation: every router, the error handler and the start/stop hooks.

    What handlers need reaches them by name (aiogram's dependency injection): `assistant`,
    `settings`, `follow_ups`, `streaks`, `db` (the Storage; not `storage=`, which aiogram's
    Dispatcher takes for its FSM storage) and `desk` (live handoff, None when OPERATOR_CHAT_ID
    is not set). The caller opens the Storage and closes it after the dispatcher has stopped.
    """
    in_flight = InFlight()
    desk = None
    if settings.operator_chat_id is not None:
        desk = HandoffDesk(
            settings.operator_chat_id,
            storage,
            assistant,
            timeout=settings.handoff_timeout,
            rate=settings.operator_rate,
        )
    dp = Dispatcher(
        disable_fsm=True,  # no conversation states: the FSM middleware would be pure overhead
        assistant=assistant,
        settings=settings,
        follow_ups=FollowUpContext(settings.follow_up_ttl),
        streaks=FailureStreak(),
        in_flight=in_flight,
        db=storage,
        desk=desk,
    )
    dp.update.outer_middleware(in_flight)
    # Before ChatOrder: an update dropped by flood control never waits for its chat's lock.
    dp.update.outer_middleware(FloodControl.from_settings(settings))
    dp.update.outer_middleware(ChatOrder())
    # The admin commands' way to change the knowledge file and reload it live.
    dp["live_knowledge"] = LiveKnowledge(settings.knowledge_file, assistant, settings.contact_email)
    handlers.register(dp)
    dp.errors.register(on_error)
    dp.startup.register(on_startup)
    background: list[asyncio.Task[None]] = []

    async def start_support(bot: Bot) -> None:
        background.append(asyncio.create_task(storage.run_retention(), name="retention"))
        # Everything built so far (aiogram's types, the knowledge, the engine's index) lives as
        # long as the process: out of the garbage collector's sight, its full collections stay
        # short, and so do the worst per-update latencies.
        gc.collect()
        gc.freeze()
        # An update allocates thousands of short-lived objects (aiogram's pydantic models), and
        # up to MAX_CONCURRENT_UPDATES of them are in flight at once: with the default
        # threshold (700) young collections run several times per update and keep promoting
        # live in-flight objects to the older generations. Collecting every GC_YOUNG_THRESHOLD
        # allocations instead costs a few MB and measurably less CPU per update (benchmarks/).
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        if desk is not None:
            await desk.start(bot)

    async def on_shutdown() -> None:
        # Replies in flight first, then what they queued for the operators.
        await in_flight.wait(SHUTDOWN_GRACE)
        if desk is not None:
            await desk.stop(SHUTDOWN_GRACE)
        for task in background:
            task.cancel()
        logger.info("stopped")

    dp.startup.register(start_support)
    dp.shutdown.register(on_shutdown)
    return dp


# --------------------------------------------------------------------------- running


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (not on Windows), else asyncio's own. The
    bot is one event loop doing many small things per update (tasks, futures, socket reads):
    uvloop does the loop's part of them in C."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def open_storage(settings: Settings) -> Storage:
    return await Storage.open(settings.data_dir, retention_days=settings.retention_days)


async def run_polling(settings: Settings, assistant: Assistant) -> None:
    storage = await open_storage(settings)
    try:
        bot = build_bot(settings)
        dp = build_dispatcher(settings, assistant, storage)
        try:
            await bot.delete_webhook(drop_pending_updates=settings.drop_pending_updates)
        except TelegramUnauthorizedError:
            await bot.session.close()
            raise
        except TelegramAPIError as exc:  # Telegram unreachable: polling retries with backoff
            logger.warning("deleteWebhook failed: %s", exc)
        await poll(bot, dp)
    finally:
        await storage.close()  # after the dispatcher's shutdown: every reply's record is in


async def poll(
    bot: Bot,
    dp: Dispatcher,
    *,
    backoff: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
    handle_signals: bool = True,
) -> None:
    """Long polling until SIGINT/SIGTERM (or `dp.stop_polling()`): at most
    MAX_CONCURRENT_UPDATES updates handled at once, `backoff` between failed getUpdates
    (aiogram's default, 1 s growing to 5 s; tests pass a shorter one). On the way out, after
    the dispatcher's other shutdown handlers (replies in flight first): Telegram is told which
    updates were taken (a getUpdates offset), so that a restart with
    DROP_PENDING_UPDATES=false neither repeats nor loses any; then the HTTP session is
    closed."""
    in_flight: InFlight = dp["in_flight"]

    async def confirm_taken() -> None:
        if in_flight.last_update_id is None:
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


def serve(
    settings: Settings, assistant: Assistant, webhook: bool, deferred_import: bool = False
) -> int:
    """Run the bot until SIGINT/SIGTERM. Returns the process exit code: 2 (one line on
    stderr naming the setting) when the configuration cannot work, 1 on a failure.
    `deferred_import`: whether aiogram's types are built on first use (bot.aiogram_import)."""
    if settings.bot_token is None:
        print(texts.CONFIG_NO_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    if webhook and settings.webhook_url is None:
        print(texts.CONFIG_NO_WEBHOOK_URL, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    logger.info(
        "AIOGRAM_DEFERRED_IMPORT=%s: aiogram's types are %s",
        str(settings.aiogram_deferred_import).lower(),
        "built on first use" if deferred_import else "built at import",
    )
    try:
        if webhook:
            # Here, not at the top: polling never loads aiohttp's web server (its import reads
            # the system's MIME table), which is a measurable share of the start-up time.
            from bot.webhook import run_webhook

            run_webhook(settings, assistant)
        else:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(run_polling(settings, assistant))
    except TelegramUnauthorizedError:
        print(texts.CONFIG_TOKEN_REJECTED, file=sys.stderr)
        return EXIT_CONFIG
    except StorageError as exc:  # DATA_DIR missing rights, a full disk, a damaged file
        print(texts.CONFIG_DATA_DIR.format(reason=exc), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # logged through the redacting filter, never printed raw
        logger.critical("the bot stopped: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return EXIT_FAILED
    return EXIT_OK
