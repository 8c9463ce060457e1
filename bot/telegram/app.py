"""Building the bot: the Bot object on the bot's Bot API session, and the dispatcher with its
middlewares, routers, start-up and shutdown hooks. Running it is in `polling` and `webhook`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import BotCommand

from bot import texts
from bot.cluster.redis import Cluster
from bot.cluster.state import ChatState, LocalChatState
from bot.engine.assistant import Assistant, FollowUpContext
from bot.settings import Settings
from bot.storage import Storage
from bot.support.handoff import FailureStreak, HandoffDesk
from bot.support.learning import LiveKnowledge
from bot.telegram import handlers
from bot.telegram.flood import FloodControl
from bot.telegram.handlers.errors import on_error
from bot.telegram.middlewares import CHAT_BACKLOG, MAX_RUNNING_UPDATES, ChatOrder, InFlight
from bot.telegram.outbox import Outbox
from bot.telegram.runtime import tune_gc
from bot.telegram.session import BotApiSession, RetryAfter

if TYPE_CHECKING:
    from bot.cluster.order import ChatLocks

logger = logging.getLogger("bot")

SHUTDOWN_GRACE = 10.0  # seconds given to replies still being sent when the bot stops
RETENTION_INTERVAL = 3600.0  # seconds between retention purges (Storage.run_retention's own)


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


def chat_backlog(settings: Settings) -> int:
    """Updates of one chat taken at once: room for what flood control lets through at once,
    within a share of the processing slots (a huge FLOOD_BURST must not let one chat take
    every update polling holds)."""
    burst = max(CHAT_BACKLOG, settings.flood_burst, settings.group_flood_burst)
    return min(burst, MAX_RUNNING_UPDATES)


def build_dispatcher(settings: Settings, assistant: Assistant, storage: Storage) -> Dispatcher:
    """The conversation: every router, the error handler and the start/stop hooks.

    What handlers need reaches them by name (aiogram's dependency injection): `assistant`,
    `settings`, `chat_state` (follow-up context and failure streaks; in one process it reads
    `follow_ups` and `streaks`), `db` (the Storage; not `storage=`, which aiogram's
    Dispatcher takes for its FSM storage) and `desk` (live handoff, None when OPERATOR_CHAT_ID
    is not set). The caller opens the Storage and closes it after the dispatcher has stopped.

    With REDIS_URL, `cluster` (the shared Redis) holds what the instances share: the chat
    state, the per-chat lock, flood control, the operators' rate and the periodic jobs'
    leases, and shutdown closes the client (whether Redis answers is checked before, by
    `serve`). Without it, `cluster` is None and all of that lives in this process.
    """
    in_flight = InFlight()
    cluster = None if settings.redis_url is None else Cluster.from_settings(settings)
    desk = None
    if settings.operator_chat_id is not None:
        window = timeouts_lease = peers = None
        if cluster is not None:
            from bot.cluster.instances import Instances
            from bot.cluster.leases import Lease
            from bot.cluster.limits import SharedWindow

            window = SharedWindow(cluster, settings.operator_rate)
            timeouts_lease = Lease(cluster, "handoff-timeouts")
            peers = Instances(cluster)
        desk = HandoffDesk(
            settings.operator_chat_id,
            storage,
            assistant,
            timeout=settings.handoff_timeout,
            rate=settings.operator_rate,
            window=window,
            timeouts_lease=timeouts_lease,
            peers=peers,
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
        cluster=cluster,
        # How a question's answer leaves; the webhook server switches it to its response.
        outbox=Outbox(),
    )
    dp["chat_state"] = chat_state(settings, cluster, dp)
    operators = () if settings.operator_chat_id is None else (settings.operator_chat_id,)
    order = ChatOrder(
        MAX_RUNNING_UPDATES,
        chat_backlog(settings),
        exempt_chats=operators,
        exempt_users=settings.admin_ids,
        shared=None if cluster is None else chat_locks(cluster),
    )
    dp.update.outer_middleware(in_flight)
    # Before ChatOrder: an update dropped by flood control never waits for its chat's turn.
    dp.update.outer_middleware(FloodControl.from_settings(settings, order, cluster))
    dp.update.outer_middleware(order)
    # The admin commands' way to change the knowledge file and reload it live; with several
    # instances, what one is taught reaches the others.
    live_knowledge = LiveKnowledge(settings.knowledge_file, assistant, settings.contact_email)
    dp["live_knowledge"] = live_knowledge
    broadcast = None
    if cluster is not None:
        from bot.cluster.knowledge import KnowledgeBroadcast

        broadcast = KnowledgeBroadcast(cluster.client, cluster.prefix, live_knowledge)
    handlers.register(dp)
    dp.errors.register(on_error)
    dp.startup.register(on_startup)
    background: list[asyncio.Task[None]] = []

    async def start_support(bot: Bot) -> None:
        background.append(asyncio.create_task(retention(storage, cluster), name="retention"))
        tune_gc()
        if broadcast is not None:
            broadcast.start()
        if desk is not None:
            await desk.start(bot)

    async def on_shutdown() -> None:
        # Replies in flight first, then what they queued for the operators.
        await in_flight.wait(SHUTDOWN_GRACE)
        if desk is not None:
            await desk.stop(SHUTDOWN_GRACE)
        for task in background:
            task.cancel()
        if broadcast is not None:
            await broadcast.stop()
        if cluster is not None:
            # The jobs give their leases back before the client goes.
            await asyncio.gather(*background, return_exceptions=True)
            await cluster.close()
        logger.info("stopped")

    dp.startup.register(start_support)
    dp.shutdown.register(on_shutdown)
    return dp


def chat_state(settings: Settings, cluster: Cluster | None, dp: Dispatcher) -> ChatState:
    if cluster is None:
        return LocalChatState(dp.workflow_data)
    from aiogram.utils.token import extract_bot_id

    from bot.cluster.state import SharedChatState

    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    bot_id = extract_bot_id(settings.bot_token.get_secret_value())
    return SharedChatState(cluster, bot_id, settings.follow_up_ttl)


def chat_locks(cluster: Cluster) -> ChatLocks:
    from bot.cluster.order import ChatLocks

    return ChatLocks(cluster)


def retention(storage: Storage, cluster: Cluster | None) -> Coroutine[Any, Any, None]:
    """The retention purge: in this process, or once across the instances under a lease."""
    if cluster is None:
        return storage.run_retention()
    from bot.cluster.leases import Lease, under_lease

    lease = Lease(cluster, "retention")
    return under_lease(lease, RETENTION_INTERVAL, storage.purge_expired, "retention purge")
