"""Log lines on stderr, with the bot's secrets (its token, the webhook secret) removed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from bot.settings import Settings

REDACTED = "[REDACTED]"


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
