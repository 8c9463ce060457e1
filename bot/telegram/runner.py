"""`python -m bot run` and `python -m bot webhook` come here through `bot.cli.main`: the bot
runs until SIGINT/SIGTERM, and every way it can stop becomes an exit code."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

from bot import texts
from bot.cluster.redis import RedisUnreachable, redis_answers
from bot.engine.assistant import Assistant
from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage import StorageError
from bot.storage.lock import DataDirBusy
from bot.telegram.polling import UpdatesConflict, run_polling
from bot.telegram.runtime import new_event_loop

logger = logging.getLogger("bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def serve(
    settings: Settings, assistant: Assistant, webhook: bool, deferred_import: bool = False
) -> int:
    """Run the bot until SIGINT/SIGTERM. Returns the process exit code: 2 (one line on
    stderr naming the setting) when the configuration cannot work, 1 on a failure.
    `deferred_import`: whether aiogram's types are built on first use (`aiogram_import`)."""
    if settings.bot_token is None:
        print(texts.CONFIG_NO_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    if webhook and settings.webhook_url is None:
        print(texts.CONFIG_NO_WEBHOOK_URL, file=sys.stderr)
        return EXIT_CONFIG
    if webhook and settings.redis_url is not None and settings.webhook_secret is None:
        # Instances sharing Redis share the webhook: each would register a random secret of
        # its own, and refuse every update posted with another's.
        print(texts.CONFIG_WEBHOOK_SECRET_SHARED, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    logger.info(
        "AIOGRAM_DEFERRED_IMPORT=%s: aiogram's types are %s",
        str(settings.aiogram_deferred_import).lower(),
        "built on first use" if deferred_import else "built at import",
    )
    try:
        if settings.redis_url is not None:
            # Before Telegram is asked anything: a bad setting is told at once.
            asyncio.run(redis_answers(settings))
        if webhook:
            # Here, not at the top: polling never loads aiohttp's web server (its import reads
            # the system's MIME table), which is a measurable share of the start-up time.
            from bot.telegram.webhook import run_webhook

            main = run_webhook(settings, assistant)
        else:
            main = run_polling(settings, assistant)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main)
    except TelegramUnauthorizedError:
        print(texts.CONFIG_TOKEN_REJECTED, file=sys.stderr)
        return EXIT_CONFIG
    except DataDirBusy as exc:
        busy = texts.CONFIG_DATA_DIR_BUSY.format(path=exc.data_dir, pid=exc.holder or "?")
        print(busy, file=sys.stderr)
        return EXIT_CONFIG
    except UpdatesConflict as exc:
        print(texts.CONFIG_UPDATES_CONFLICT.format(reason=exc.reason), file=sys.stderr)
        return EXIT_CONFIG
    except RedisUnreachable as exc:
        print(texts.CONFIG_REDIS_UNREACHABLE.format(reason=exc), file=sys.stderr)
        return EXIT_CONFIG
    except StorageError as exc:  # DATA_DIR missing rights, a full disk, a damaged file
        unusable = texts.CONFIG_DATABASE_URL if settings.database_url else texts.CONFIG_DATA_DIR
        print(unusable.format(reason=exc), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except TelegramAPIError as exc:  # Telegram's answer says it all: no traceback
        logger.critical("the bot stopped: %s: %s", type(exc).__name__, exc)
        return EXIT_FAILED
    except Exception as exc:  # logged through the redacting filter, never printed raw
        logger.critical("the bot stopped: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return EXIT_FAILED
    return EXIT_OK
