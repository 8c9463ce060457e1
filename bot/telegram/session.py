"""The bot's connection to the Bot API: aiogram's aiohttp session sending JSON bodies, and
the request middleware installed on every session the bot uses (the tests' and the
benchmark's too)."""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any, cast

import orjson
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, InputFile
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError

logger = logging.getLogger("bot")

# Exactly these types (not their subclasses: an IntEnum is an int) go out as they are.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool})


def json_dumps(value: Any) -> str:
    """JSON text as aiogram's sessions want it (a `str`), written by orjson: the letters as
    UTF-8, an answer's body in about a microsecond, where the standard library writes each
    Vietnamese letter as a `\\u` escape in over ten. What orjson refuses (a lone surrogate, an
    integer past 64 bits) is written by the standard library, as aiogram would."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    """JSON read by orjson; what only the standard library reads (a lone surrogate escape,
    NaN) by the standard library, so that no answer aiogram could read becomes unreadable,
    least of all a batch of updates, which polling would then ask for again and again."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _plain_json(fields: dict[str, Any]) -> bool:
    """Whether aiogram's `prepare_value` would leave `fields` as they are: nothing but JSON's
    own types and enums (written as their values, as aiogram writes them), and no null inside.
    orjson answers that in C, where walking a dump in Python was a tenth of a request; a date,
    a file or anything else orjson is told not to write goes the walk's way."""
    try:
        body = orjson.dumps(
            fields,
            option=orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_SUBCLASS
            | orjson.OPT_PASSTHROUGH_DATACLASS,
        )
    except TypeError:
        return False
    return b"null" not in body  # a None (or NaN) deep inside; or "null" in a text: the walk


class BotApiSession(AiohttpSession):
    """aiogram's aiohttp session, posting JSON where aiogram posts a form.

    aiogram dumps a method with every field, walks the dump to drop the empty ones (an
    answer's five buttons carry some sixty), and URL-encodes what is left byte by byte, in
    Python: together the largest cost of a reply. The Bot API takes JSON bodies as well (all
    but uploads), so the method is dumped without its empty fields and sent as one JSON
    document, with the bot's defaults (the parse mode) filled in. A request with a
    file goes aiogram's way, as multipart. Answers are parsed from their JSON text in one
    pass, and a keyboard that comes back as it was sent is not parsed again (`read_answer`).
    JSON is written and read by orjson unless the caller passes its own `json_dumps` and
    `json_loads` (aiogram's parameters).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_dumps", json_dumps)
        kwargs.setdefault("json_loads", json_loads)
        super().__init__(*args, **kwargs)
        # Each answer type's Response[T] model, held here: pydantic caches parametrised
        # generic models weakly, so the garbage collector would drop `Response[Message]`
        # between requests now and then, and the next answer would pay for building it again
        # (tens of milliseconds on a slow machine: once the bot's worst latencies).
        self._response_models: dict[Any, type[Response[Any]]] = {}

    def request_fields(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The JSON body's fields for `method`, None when it uploads a file. They are aiogram's:
        the same names and, dumped to JSON, the same values (tests/test_telegram_session.py)."""
        files: dict[str, InputFile] = {}
        # The bot's defaults (the parse mode), set before the dump: pydantic spends most of a
        # method's dump on aiogram's Default placeholders, which fit no field's type.
        defaults = {
            name: bot.default[value.name]
            for name, value in method.__dict__.items()
            if isinstance(value, Default)
        }
        if defaults:
            method = method.model_copy(update=defaults)
        dump = method.model_dump(warnings=False, exclude_none=True)
        fields = {key: value for key, value in dump.items() if value != ""}
        if _plain_json(fields):
            return fields
        fields = {}
        for key, value in dump.items():
            prepared = self._prepare(value, bot, files)
            if prepared is not None and prepared != "":
                fields[key] = prepared
        return None if files else fields

    def _prepare(self, value: Any, bot: Bot, files: dict[str, InputFile]) -> Any:
        """aiogram's `prepare_value(value, _dumps_json=False)`, answering the plain JSON types
        a dump is mostly made of (a keyboard's strings) before its chain of checks."""
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict:
            return {
                key: prepared
                for key, item in value.items()
                if (prepared := self._prepare(item, bot, files)) is not None
            }
        if kind is list:
            return [
                prepared
                for item in value
                if (prepared := self._prepare(item, bot, files)) is not None
            ]
        return self.prepare_value(value, bot=bot, files=files, _dumps_json=False)

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        """aiogram's check, with a successful answer parsed straight from its JSON text.

        aiogram decodes the text (`json_loads`), then validates the objects; pydantic does
        both in one pass. Anything but a well-formed success (an error, a 429, text that is not
        JSON or not the expected object) goes to aiogram's check, which raises its exceptions.
        """
        return self.read_answer(bot, method, status_code, content)

    def read_answer(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
        sent: dict[str, Any] | None = None,
    ) -> Response[TelegramType]:
        """`check_response`, given the fields just `sent` (`request_fields`).

        The Bot API returns a sent message with its inline keyboard, and most of the bot's
        answers carry a few buttons: validating them again, each a pydantic object, is a
        measurable share of a text update. When the keyboard that comes back is, value for
        value, the one sent, the answer gets the method's own keyboard object instead.
        """
        model = self._response_model(method)  # aiogram's check below uses it too
        if not HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            return super().check_response(bot, method, status_code, content)
        markup = getattr(method, "reply_markup", None)
        try:
            if sent is not None and isinstance(markup, InlineKeyboardMarkup):
                response = self._with_sent_keyboard(bot, model, content, markup, sent)
            else:
                response = model.model_validate_json(content, context={"bot": bot})
        except (ValidationError, ValueError):
            response = None
        if response is not None and response.ok:
            return cast(Response[TelegramType], response)
        return super().check_response(bot, method, status_code, content)

    def _response_model(self, method: TelegramMethod[Any]) -> type[Response[Any]]:
        returning = method.__returning__
        model = self._response_models.get(returning)
        if model is None:
            model = self._response_models[returning] = Response[returning]  # type: ignore[valid-type]
        return model

    def _with_sent_keyboard(
        self,
        bot: Bot,
        model: type[Response[Any]],
        content: str,
        markup: InlineKeyboardMarkup,
        sent: dict[str, Any],
    ) -> Response[Any]:
        answer = self.json_loads(content)
        result = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(result, dict) and result.get("reply_markup") == sent.get("reply_markup"):
            # An instance is taken as it is (pydantic does not validate it again).
            result["reply_markup"] = markup.as_(bot)
        return model.model_validate(answer, context={"bot": bot})

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        fields = self.request_fields(bot, method)
        if fields is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(fields).encode(),
                headers={"Content-Type": "application/json"},
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except ClientError as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TelegramNetworkError(method=method, message=message) from exc
        response = self.read_answer(bot, method, resp.status, raw_result, sent=fields)
        return cast(TelegramType, response.result)


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
