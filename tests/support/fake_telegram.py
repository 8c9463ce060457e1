"""A stand-in for the Telegram Bot API, for tests.

``FakeTelegram`` is an ``aiohttp.web`` server bound to ``127.0.0.1`` on a free port. It answers
``{url}/bot{token}/{method}`` the way the Bot API does (``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": ...}``), records every call, holds a queue of
updates for ``getUpdates`` (a real long poll) and lets a test act as users.

Wire a real aiogram bot to it::

    async with FakeTelegram() as fake:
        bot = fake.make_bot()          # or Bot(token, session=AiohttpSession(api=...))
        fake.user_text("/start")
        ...
        call = await fake.wait_for("sendMessage", lambda c: c.chat_id == 111)

Behaviour worth knowing (it follows the real Bot API, so bugs show up in tests):

* HTML text and captions are parsed like Telegram does (``tests.support.telegram_html``). A bad
  tag answers 400 ``Bad Request: can't parse entities: Unsupported start tag "br" at byte offset
  5``. The returned Message carries the plain text and the entities, the recorded ``Call.params``
  keep what was sent.
* Text longer than 4096 UTF-16 units answers 400 ``Bad Request: message is too long`` (captions:
  1024, ``message caption is too long``); empty text ``Bad Request: message text is empty``.
* ``callback_data`` longer than 64 bytes answers 400 ``BUTTON_DATA_INVALID``; a callback query
  answered twice answers 400 ``query is too old ... or query ID is invalid``.
* Editing a message to the same text and keyboard answers 400 ``message is not modified``;
  editing or deleting a deleted message answers 400. Messages the fake never saw (for instance ones
  fed to ``Dispatcher.feed_update`` by hand) are accepted as the bot's own.
* Updates whose type is not in ``allowed_updates`` are dropped, as Telegram does. ``getUpdates``
  while a webhook is set answers 409.
* As Telegram with a webhook: ``async with fake.deliver_webhooks([url, ...]) as delivery`` posts
  the queued updates to the instances in turn with setWebhook's secret token, delivers again
  (to the next one) what is not acknowledged with a 2xx, and runs a method found in a
  response's body (``Call.webhook_reply``); ``post_webhook`` posts one update by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import socket
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import UpdateType
from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, web

from tests.support.telegram_html import HtmlParseError, checked_link, parse_html, utf16_len

__all__ = [
    "ApiError",
    "Call",
    "FakeTelegram",
    "HtmlParseError",
    "Topic",
    "UploadedFile",
    "WebhookDelivery",
    "parse_html",
    "utf16_len",
]

JSON = dict[str, Any]

UPDATE_KINDS: frozenset[str] = frozenset(kind.value for kind in UpdateType)
DEFAULT_ALLOWED_UPDATES: frozenset[str] = UPDATE_KINDS - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

#: Fields whose form value is a plain string, never JSON (``text="123"`` stays a string).
STRING_FIELDS: frozenset[str] = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_title",
        "description",
        "document",
        "emoji",
        "explanation",
        "first_name",
        "foursquare_id",
        "foursquare_type",
        "game_short_name",
        "google_place_id",
        "google_place_type",
        "icon_custom_emoji_id",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "provider_token",
        "question",
        "secret_token",
        "short_description",
        "start_parameter",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "vcard",
        "video",
        "video_note",
        "voice",
    }
)

CHAT_ACTIONS: frozenset[str] = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

#: Message fields that carry content (copied by copyMessage / forwardMessage).
CONTENT_KEYS: frozenset[str] = frozenset(
    {
        "animation",
        "audio",
        "caption",
        "caption_entities",
        "contact",
        "dice",
        "document",
        "entities",
        "has_media_spoiler",
        "link_preview_options",
        "location",
        "photo",
        "poll",
        "show_caption_above_media",
        "sticker",
        "text",
        "venue",
        "video",
        "video_note",
        "voice",
    }
)

DEFAULT_TOPIC_COLOR = 7322096  # 0x6FB9F0, Telegram's default topic icon colour
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

ERR_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a content and reply markup of the current message"
)
ERR_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
ERR_THREAD_NOT_FOUND = "Bad Request: message thread not found"
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_TERMINATED = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)
ERR_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)


class ApiError(Exception):
    """A Bot API error answer: HTTP ``status`` with ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class UploadedFile:
    """A file sent in a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One request received by the fake, recorded when it arrives (before it is answered).

    ``params`` are decoded: numbers, booleans and JSON fields (``reply_markup``, ``entities``,
    ``allowed_updates``, ``commands``...) are Python values; ``text`` and ``caption`` are exactly
    what was sent. Uploads are in ``files`` under the parameter name (``files["document"]``).
    After the answer: ``status`` (HTTP), ``result`` (on success) or ``error`` (the description);
    ``dropped`` when the connection was closed without an answer; ``webhook_reply`` when the
    bot returned it in a webhook's response instead of calling it.
    """

    method: str
    params: JSON
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None
    result: Any = None
    error: str | None = None
    dropped: bool = False
    webhook_reply: bool = False  # found in a webhook's response body, run by the fake

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def text(self) -> str | None:
        value = self.params.get("text")
        return value if isinstance(value, str) else None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    def __repr__(self) -> str:
        params = json.dumps(self.params, ensure_ascii=False, default=str)
        if len(params) > 300:
            params = params[:300] + "..."
        outcome = "dropped" if self.dropped else (self.status or "in flight")
        extra = f" error={self.error!r}" if self.error else ""
        return f"Call({self.method} {params} -> {outcome}{extra})"


@dataclass
class Topic:
    """A forum topic the fake knows about."""

    message_thread_id: int
    name: str
    icon_color: int = DEFAULT_TOPIC_COLOR
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False

    def as_dict(self) -> JSON:
        topic: JSON = {
            "message_thread_id": self.message_thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool | None = None
    last_message_id: int = 0
    messages: dict[int, JSON] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    topics: dict[int, Topic] = field(default_factory=dict)

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def as_dict(self) -> JSON:
        chat: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                chat[key] = value
        if self.is_forum:
            chat["is_forum"] = True
        return chat


@dataclass
class _Fault:
    kind: str  # "error" or "drop"
    status: int = 0
    description: str = ""
    retry_after: int | None = None


@dataclass
class _Poller:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    superseded: bool = False


# --------------------------------------------------------------------------- misc helpers


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return default


def _decode_field(name: str, value: Any) -> Any:
    if not isinstance(value, str) or name in STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _strip_nested_reply(message: JSON) -> JSON:
    copy = dict(message)
    copy.pop("reply_to_message", None)
    return copy


def _inline_markup(markup: Any) -> JSON | None:
    if isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list):
        return markup
    return None


_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    inline = markup.get("inline_keyboard")
    if inline is None:
        return
    if not isinstance(inline, list) or not all(isinstance(row, list) for row in inline):
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: Field "
            '"inline_keyboard" must be an Array of Arrays',
        )
    for row in inline:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    'Field "text" must be of type String',
                )
            if not any(key in button for key in _BUTTON_ACTIONS):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and checked_link(str(url)) is None:
                raise ApiError(
                    400,
                    f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL",
                )


def _markup_has_data(message: JSON, data: str) -> bool:
    markup = _inline_markup(message.get("reply_markup"))
    if markup is None:
        return False
    return any(
        isinstance(button, dict) and button.get("callback_data") == data
        for row in markup["inline_keyboard"]
        for button in row
    )


_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_/<>])")

Handler = Callable[[Call], Awaitable[Any]]


class FakeTelegram:
    """A Bot API stand-in on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        token: str = "123456:TEST",
        username: str = "cso_cmo_support_bot",
        first_name: str = "Support Bot",
        port: int = 0,
    ) -> None:
        """``port``: 0 for a free one (the usual); a fixed one lets a test start the stand-in
        where a bot is already trying to reach it."""
        self.token = token
        self.port = port
        self.username = username
        self.first_name = first_name
        self.bot_id = int(token.split(":", 1)[0])
        self.calls: list[Call] = []

        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._bots: list[Bot] = []

        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._delivered_max = 0
        self._polled = False
        self._allowed: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._allowed_explicit = False
        self._pollers: list[_Poller] = []
        self._closing = False

        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, JSON] = {}
        self._hidden_forwards: set[int] = set()
        self._forbidden: set[int] = set()
        self._paced: dict[int, float] = {}  # chat id: seconds between sends
        self._last_send: dict[int, float] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._callback_ids = itertools.count(1)
        self._answered_callbacks: set[str] = set()
        self._file_ids = itertools.count(1)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._webhook: JSON | None = None
        self._delivery: WebhookDelivery | None = None

        self._call_waiters: list[asyncio.Future[None]] = []
        self._inflight = 0
        self._last_activity = time.monotonic()

        table: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendContact": self._send_contact,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendSticker": self._send_sticker,
            "sendVideo": self._send_video,
            "sendVoice": self._send_voice,
            "sendAudio": self._send_audio,
            "sendAnimation": self._send_animation,
            "sendLocation": self._send_location,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "createForumTopic": self._create_forum_topic,
            "closeForumTopic": self._close_forum_topic,
            "reopenForumTopic": self._reopen_forum_topic,
            "deleteForumTopic": self._delete_forum_topic,
            "editForumTopic": self._edit_forum_topic,
            "getChat": self._get_chat,
            "pinChatMessage": self._chat_true,
            "unpinChatMessage": self._chat_true,
            "setMyDescription": self._true,
            "setMyShortDescription": self._true,
            "setMyName": self._true,
            "setChatMenuButton": self._true,
            "close": self._true,
            "logOut": self._true,
        }
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in table.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on ``port`` (by default a free one, see ``url``)."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self._url = f"http://127.0.0.1:{port}"
        self._closing = False

    async def stop(self) -> None:
        """Answer pending long polls, close bots made by ``make_bot`` and stop the server."""
        self._closing = True
        if self._delivery is not None:
            await self._delivery.stop()
        for poller in self._pollers:
            poller.wake.set()
        for bot in self._bots:
            await bot.session.close()
        self._bots.clear()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._url = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, like ``http://127.0.0.1:PORT`` (for ``TelegramAPIServer.from_base``)."""
        if self._url is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._url

    def make_bot(self, token: str | None = None, parse_mode: str | None = "HTML") -> Bot:
        """An aiogram Bot pointed at the fake; its session is closed by ``stop()``."""
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.url))
        bot = Bot(
            token or self.token,
            session=session,
            default=DefaultBotProperties(parse_mode=parse_mode),
        )
        self._bots.append(bot)
        return bot

    # ------------------------------------------------------------------ inspection

    def sent_messages(self, chat_id: int | str | None = None) -> list[Call]:
        """``sendMessage`` calls that were not refused (optionally to one chat), in order."""
        return [
            call
            for call in self.calls
            if call.method == "sendMessage"
            and call.status in (None, 200)
            and not call.dropped
            and call.error is None
            and (chat_id is None or str(call.params.get("chat_id")) == str(chat_id))
        ]

    def mark(self) -> int:
        """The number of calls so far, to pass as ``after=`` to ``wait_for``."""
        return len(self.calls)

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain number reads best in tests
        after: int = 0,
    ) -> Call:
        """The first call to ``method`` at index >= ``after`` matching ``predicate``.

        Waits for it up to ``timeout`` seconds, then raises AssertionError listing the calls.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wanted = method.lower()
        while True:
            for call in self.calls[after:]:
                if call.method.lower() == wanted and (predicate is None or predicate(call)):
                    return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no {method} call matching the predicate at index >= {after} within "
                    f"{timeout}s; calls:\n{self.describe_calls()}"
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._call_waiters.append(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, remaining)
            finally:
                if waiter in self._call_waiters:
                    self._call_waiters.remove(waiter)

    async def wait_idle(
        self,
        quiet: float = 0.3,
        timeout: float = 5,  # noqa: ASYNC109 - a plain number reads best in tests
    ) -> None:
        """Wait until the bot is quiet: no request in flight (long polls aside), no queued update
        waiting for a poller that is polling, and no new call for ``quiet`` seconds.

        Raises AssertionError after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = self._inflight > 0 or self._undelivered()
            if not busy and time.monotonic() - self._last_activity >= quiet:
                return
            if loop.time() >= deadline:
                raise AssertionError(
                    f"not idle after {timeout}s (in flight: {self._inflight}, undelivered "
                    f"updates: {self._undelivered()}); calls:\n{self.describe_calls(20)}"
                )
            await asyncio.sleep(0.02)

    def describe_calls(self, last: int | None = None) -> str:
        calls = list(enumerate(self.calls))
        if last is not None:
            calls = calls[-last:]
        return "\n".join(f"  #{index} {call!r}" for index, call in calls) or "  (none)"

    def messages(self, chat_id: int) -> list[JSON]:
        """Messages the fake holds for a chat (bot's and users', not deleted), oldest first."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [chat.messages[key] for key in sorted(chat.messages)]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        chat = self._chats.get(chat_id)
        return None if chat is None else chat.messages.get(message_id)

    def topics(self, chat_id: int) -> dict[int, Topic]:
        chat = self._chats.get(chat_id)
        return {} if chat is None else dict(chat.topics)

    def my_commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        return list(self._commands.get((self._scope_key(scope), language_code), []))

    @property
    def webhook(self) -> JSON | None:
        """The webhook set with setWebhook (url, secret_token, ...) or None."""
        return None if self._webhook is None else dict(self._webhook)

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._updates)

    # ------------------------------------------------------------------ configuration

    def add_chat(
        self,
        chat_id: int,
        type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        is_forum: bool | None = None,
    ) -> None:
        """Register (or update) a chat: its type ('private', 'group', 'supergroup', 'channel'),
        names and whether it is a forum."""
        chat = self._get_chat_obj(chat_id, type)
        if type is not None:
            chat.type = type
        for key, value in (
            ("title", title),
            ("username", username),
            ("first_name", first_name),
            ("last_name", last_name),
        ):
            if value is not None:
                setattr(chat, key, value)
        if is_forum is not None:
            chat.is_forum = is_forum

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls to ``method`` answer this Bot API error."""
        if status == 429 and retry_after is None:
            retry_after = 1
        queue = self._faults.setdefault(method.lower(), [])
        queue.extend(_Fault("error", status, description, retry_after) for _ in range(times))

    def drop_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` get their connection closed, no answer."""
        queue = self._faults.setdefault(method.lower(), [])
        queue.extend(_Fault("drop") for _ in range(times))

    def set_delay(self, method: str, seconds: float) -> None:
        """Every call to ``method`` waits ``seconds`` before being answered (0 to stop)."""
        if seconds > 0:
            self._delays[method.lower()] = seconds
        else:
            self._delays.pop(method.lower(), None)

    def hold(self, method: str) -> None:
        """Calls to ``method`` wait, unanswered, until ``release(method)``."""
        self._held.setdefault(method.lower(), asyncio.Event())

    def release(self, method: str) -> None:
        gate = self._held.pop(method.lower(), None)
        if gate is not None:
            gate.set()

    def forbid_chat(self, chat_id: int) -> None:
        """Sends to this chat answer 403 (the user blocked the bot / the bot was kicked)."""
        self._forbidden.add(chat_id)

    def allow_chat(self, chat_id: int) -> None:
        self._forbidden.discard(chat_id)

    def pace_chat(self, chat_id: int, interval: float) -> None:
        """Sends to this chat within ``interval`` seconds of the last one accepted answer 429
        with ``retry_after`` (whole seconds, at least 1), as Telegram answers a bot sending more
        than about 20 messages a minute to a group (``interval`` 3). 0 to stop."""
        if interval > 0:
            self._paced[chat_id] = interval
        else:
            self._paced.pop(chat_id, None)

    def hide_forwards(self, user_id: int) -> None:
        """This user's privacy hides their account in forwards (forward_origin 'hidden_user')."""
        self._hidden_forwards.add(user_id)

    # ------------------------------------------------------------------ updates

    def make_update(self, kind: str, payload: JSON) -> JSON:
        """An update dict with a fresh update_id, not queued (for webhooks or feed_update)."""
        if kind not in UPDATE_KINDS:
            raise ValueError(f"unknown update kind {kind!r}")
        return {"update_id": next(self._update_ids), kind: payload}

    def push_update(self, kind: str, payload: JSON) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update = self.make_update(kind, payload)
        self._updates.append(update)
        self._touch()
        for poller in self._pollers:
            poller.wake.set()
        if self._delivery is not None:
            self._delivery.wake()
        return int(update["update_id"])

    def deliver_webhooks(
        self,
        targets: Sequence[str],
        *,
        connections: int = 40,
        retry_delay: float = 0.1,
        timeout: float = 60.0,
        in_order: bool = True,
    ) -> WebhookDelivery:
        """Act as Telegram with a webhook set: queued updates are POSTed to ``targets`` (the
        instances behind the webhook's URL) in turn; see WebhookDelivery. Use it as
        ``async with fake.deliver_webhooks([...]) as delivery:``."""
        if self._delivery is not None:
            raise RuntimeError("the fake delivers to webhooks already")
        self._delivery = WebhookDelivery(
            self,
            targets,
            connections=connections,
            retry_delay=retry_delay,
            timeout=timeout,
            in_order=in_order,
        )
        return self._delivery

    def _take_updates(self) -> list[JSON]:
        """The queued updates Telegram would send (their kind allowed), taken off the queue."""
        taken = [u for u in self._updates if self._kind(u) in self._allowed]
        self._updates = []
        return taken

    async def post_webhook(self, url: str, update: JSON, secret: str | None = None) -> int:
        """POST ``update`` as JSON to a webhook, like Telegram; returns the HTTP status. A
        method in a 2xx response's body is run, as Telegram runs it."""
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with (
            ClientSession() as session,
            session.post(url, json=update, headers=headers) as resp,
        ):
            reply = None
            if 200 <= resp.status < 300:
                reply = await WebhookDelivery.reply_in(resp)  # reads the body
            else:
                await resp.read()
            status = resp.status
        if reply is not None:
            await self.execute_webhook_reply(*reply)
        return status

    # --- acting as users

    def text_message(
        self,
        text: str,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Lan",
        username: str | None = None,
        reply_to: int | JSON | None = None,
        entities: list[JSON] | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        from_bot: bool = False,
    ) -> JSON:
        """The message dict ``user_text`` would queue (stored in the chat, not queued)."""
        content: JSON = {"text": text}
        if entities is None:
            match = _COMMAND_RE.match(text)
            if match:
                entities = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}
                ]
        if entities:
            content["entities"] = entities
        return self._user_message(
            content,
            user_id=user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            reply_to=reply_to,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            from_bot=from_bot,
        )

    def user_text(
        self,
        text: str,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Lan",
        username: str | None = None,
        reply_to: int | JSON | None = None,
        entities: list[JSON] | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        from_bot: bool = False,
    ) -> int:
        """A user sends ``text`` (a ``message`` update). ``/cmd`` text gets a bot_command entity
        unless ``entities`` is given. ``chat_id`` defaults to ``user_id`` (private chat)."""
        message = self.text_message(
            text,
            user_id,
            chat_id,
            chat_type,
            first_name,
            username,
            reply_to,
            entities,
            message_thread_id,
            is_topic_message,
            from_bot,
        )
        return self.push_update("message", message)

    def user_edit(
        self,
        text: str,
        message_id: int | None = None,
        *,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Lan",
        username: str | None = None,
        entities: list[JSON] | None = None,
    ) -> int:
        """The user edits their message ``message_id`` (default: their latest in the chat) to
        ``text`` (an ``edited_message`` update)."""
        self._remember_user(user_id, first_name, username, False)
        chat = self._user_chat(chat_id, chat_type, user_id)
        if message_id is None:
            mine = [
                mid
                for mid, msg in chat.messages.items()
                if msg.get("from", {}).get("id") == user_id
            ]
            if not mine:
                raise ValueError(f"user {user_id} has no message in chat {chat.id} to edit")
            message_id = max(mine)
        original = chat.messages.get(message_id)
        if original is None:
            original = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat.as_dict(),
                "from": self._users[user_id],
            }
        edited = dict(original)
        edited.pop("entities", None)
        edited["text"] = text
        if entities:
            edited["entities"] = entities
        edited["edit_date"] = int(time.time())
        chat.messages[message_id] = edited
        return self.push_update("edited_message", edited)

    def user_sticker(
        self,
        emoji: str = "\N{THUMBS UP SIGN}",
        *,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Lan",
        username: str | None = None,
        reply_to: int | JSON | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        from_bot: bool = False,
    ) -> int:
        """The user sends a sticker."""
        content: JSON = {"sticker": self._media("sticker", None, {"emoji": emoji})}
        message = self._user_message(
            content,
            user_id=user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            reply_to=reply_to,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            from_bot=from_bot,
        )
        return self.push_update("message", message)

    def user_photo(
        self,
        caption: str | None = None,
        *,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Lan",
        username: str | None = None,
        reply_to: int | JSON | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        from_bot: bool = False,
    ) -> int:
        """The user sends a photo (two sizes), with an optional caption."""
        content: JSON = {"photo": self._photo_sizes(None)}
        if caption is not None:
            content["caption"] = caption
        message = self._user_message(
            content,
            user_id=user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            reply_to=reply_to,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            from_bot=from_bot,
        )
        return self.push_update("message", message)

    def user_media(
        self,
        kind: str,
        caption: str | None = None,
        *,
        fields: JSON | None = None,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Lan",
        username: str | None = None,
        reply_to: int | JSON | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        from_bot: bool = False,
    ) -> int:
        """The user sends a voice, video, document, audio, animation, video_note, location or
        contact (their own by default). ``fields`` override the object's defaults."""
        if kind == "location":
            obj: JSON = {"latitude": 21.0285, "longitude": 105.8542, **(fields or {})}
        elif kind == "contact":
            obj = {
                "phone_number": "+84901234567",
                "first_name": first_name,
                "user_id": user_id,
                **(fields or {}),
            }
        elif kind in {"voice", "video", "document", "audio", "animation", "video_note"}:
            obj = self._media(kind, None, fields or {})
        else:
            raise ValueError(f"unsupported media kind {kind!r}")
        content: JSON = {kind: obj}
        if kind == "animation":
            content["document"] = dict(obj)
        if caption is not None:
            content["caption"] = caption
        message = self._user_message(
            content,
            user_id=user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            reply_to=reply_to,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            from_bot=from_bot,
        )
        return self.push_update("message", message)

    def press(
        self,
        data: str,
        user_id: int = 111,
        chat_id: int | None = None,
        message_id: int | None = None,
        first_name: str = "Lan",
        username: str | None = None,
    ) -> int:
        """The user presses an inline button with ``callback_data == data`` (a
        ``callback_query`` update). Its ``message`` is the bot's message ``message_id``, or the
        latest bot message in the chat with such a button, or the latest bot message."""
        user = self._remember_user(user_id, first_name, username, False)
        chat = self._get_chat_obj(user_id if chat_id is None else chat_id)
        bot_messages = [
            msg
            for _, msg in sorted(chat.messages.items())
            if msg.get("from", {}).get("id") == self.bot_id
        ]
        message: JSON | None
        if message_id is not None:
            message = chat.messages.get(message_id)
            if message is None:
                message = self._synth_bot_message(chat, message_id)
        else:
            with_button = [msg for msg in bot_messages if _markup_has_data(msg, data)]
            with_markup = [msg for msg in bot_messages if _inline_markup(msg.get("reply_markup"))]
            candidates = with_button or with_markup or bot_messages
            if candidates:
                message = candidates[-1]
            else:
                message = self._synth_bot_message(chat, chat.last_message_id + 1)
        query_id = f"{user_id}{next(self._callback_ids):08d}"
        query: JSON = {
            "id": query_id,
            "from": user,
            "chat_instance": str(abs(hash((self.bot_id, chat.id)))),
            "data": data,
            "message": dict(message),
        }
        return self.push_update("callback_query", query)

    def channel_post(
        self, text: str, chat_id: int = -1001000000001, title: str = "Test channel"
    ) -> int:
        """A post in a channel the bot is in (a ``channel_post`` update)."""
        chat = self._get_chat_obj(chat_id, "channel")
        chat.type = "channel"
        chat.title = chat.title or title
        message: JSON = {
            "message_id": chat.next_message_id(),
            "date": int(time.time()),
            "chat": chat.as_dict(),
            "sender_chat": chat.as_dict(),
            "text": text,
        }
        chat.messages[message["message_id"]] = message
        return self.push_update("channel_post", message)

    # ------------------------------------------------------------------ internals: state

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _undelivered(self) -> int:
        if self._delivery is not None:
            return self._delivery.pending
        if not self._polled or self._webhook is not None:
            return 0
        return sum(
            1
            for update in self._updates
            if update["update_id"] > self._delivered_max and self._kind(update) in self._allowed
        )

    @staticmethod
    def _kind(update: JSON) -> str:
        return next((key for key in update if key != "update_id"), "")

    def _bot_user(self, full: bool = False) -> JSON:
        user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }
        if full:
            user.update(
                can_join_groups=True,
                can_read_all_group_messages=False,
                supports_inline_queries=False,
                can_connect_to_business=False,
                has_main_web_app=False,
            )
        return user

    def _remember_user(
        self, user_id: int, first_name: str, username: str | None, is_bot: bool
    ) -> JSON:
        user: JSON = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def _get_chat_obj(self, chat_id: int, type: str | None = None) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat_type = type or ("private" if chat_id > 0 else "supergroup")
            chat = _Chat(id=chat_id, type=chat_type)
            if chat_type == "private":
                user = self._users.get(chat_id)
                if user is not None:
                    chat.first_name = user.get("first_name")
                    chat.username = user.get("username")
            else:
                chat.title = f"Chat {chat_id}"
            self._chats[chat_id] = chat
        return chat

    def _user_chat(self, chat_id: int | None, chat_type: str, user_id: int) -> _Chat:
        if chat_id is None:
            if chat_type != "private":
                raise ValueError(f"chat_id is required for a {chat_type} chat")
            chat_id = user_id
        if chat_id < 0 and chat_type == "private":
            known = self._chats.get(chat_id)
            chat_type = known.type if known is not None else "supergroup"
        chat = self._get_chat_obj(chat_id, chat_type)
        if chat_id < 0:
            chat.type = chat_type  # an explicit type given by the test wins
        if chat.type == "private":
            user = self._users.get(user_id, {})
            chat.first_name = user.get("first_name", chat.first_name)
            chat.username = user.get("username", chat.username)
        return chat

    def _user_message(
        self,
        content: JSON,
        *,
        user_id: int,
        chat_id: int | None,
        chat_type: str,
        first_name: str,
        username: str | None,
        reply_to: int | JSON | None,
        message_thread_id: int | None,
        is_topic_message: bool | None,
        from_bot: bool,
    ) -> JSON:
        user = self._remember_user(user_id, first_name, username, from_bot)
        chat = self._user_chat(chat_id, chat_type, user_id)
        message: JSON = {
            "message_id": chat.next_message_id(),
            "from": user,
            "date": int(time.time()),
            "chat": chat.as_dict(),
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            if is_topic_message is None:
                is_topic_message = chat.type == "supergroup"
        if is_topic_message:
            message["is_topic_message"] = True
        if isinstance(reply_to, dict):
            message["reply_to_message"] = _strip_nested_reply(reply_to)
        elif reply_to is not None:
            target = chat.messages.get(reply_to)
            message["reply_to_message"] = (
                _strip_nested_reply(target)
                if target is not None
                else {"message_id": reply_to, "date": int(time.time()), "chat": chat.as_dict()}
            )
        elif is_topic_message and message_thread_id in chat.messages:
            # Telegram makes a topic message a reply to the topic's creation message.
            message["reply_to_message"] = _strip_nested_reply(chat.messages[message_thread_id])
        message.update(content)
        chat.messages[message["message_id"]] = message
        return message

    def _synth_bot_message(self, chat: _Chat, message_id: int) -> JSON:
        message: JSON = {
            "message_id": message_id,
            "from": self._bot_user(),
            "date": int(time.time()),
            "chat": chat.as_dict(),
            "text": "...",
        }
        chat.messages[message_id] = message
        chat.last_message_id = max(chat.last_message_id, message_id)
        return message

    def _new_file_id(self, prefix: str) -> tuple[str, str]:
        number = next(self._file_ids)
        return f"{prefix}{number:06d}-fake-file-id", f"U{prefix}{number:06d}"

    def _photo_sizes(self, file_id: str | None) -> list[JSON]:
        sizes = []
        for width, height, size in ((90, 67, 1200), (800, 600, 48000)):
            new_id, unique = self._new_file_id("AgAC")
            sizes.append(
                {
                    "file_id": file_id or new_id,
                    "file_unique_id": unique,
                    "width": width,
                    "height": height,
                    "file_size": size,
                }
            )
        return sizes

    def _media(self, kind: str, file_id: str | None, extra: JSON) -> JSON:
        new_id, unique = self._new_file_id(kind[:4].upper())
        obj: JSON = {"file_id": file_id or new_id, "file_unique_id": unique}
        defaults: dict[str, JSON] = {
            "sticker": {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
            "voice": {"duration": 3, "mime_type": "audio/ogg", "file_size": 4000},
            "audio": {"duration": 30, "mime_type": "audio/mpeg", "file_size": 300000},
            "video": {
                "width": 640,
                "height": 360,
                "duration": 5,
                "mime_type": "video/mp4",
                "file_size": 500000,
            },
            "animation": {"width": 320, "height": 240, "duration": 2, "mime_type": "video/mp4"},
            "video_note": {"length": 240, "duration": 4},
            "document": {
                "file_name": "file.pdf",
                "mime_type": "application/pdf",
                "file_size": 1024,
            },
        }
        obj.update(defaults.get(kind, {}))
        obj.update(extra)
        return obj

    # ------------------------------------------------------------------ internals: HTTP

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    def _notify(self) -> None:
        """Wake ``wait_for``: a call arrived or was answered."""
        self._touch()
        waiters, self._call_waiters = self._call_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: JSON object expected")
                raw.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            value.filename, value.content_type, value.file.read()
                        )
                    else:
                        raw[key] = value
        params = {key: _decode_field(key, value) for key, value in raw.items()}
        named: dict[str, UploadedFile] = {}
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                upload = files.pop(value[len("attach://") :], None)
                if upload is not None:
                    named[key] = upload
        for key, upload in files.items():
            params.setdefault(key, f"attach://{key}")
            named[key] = upload
        return params, named

    def _answer(self, call: Call, status: int, body: JSON) -> web.Response:
        call.status = status
        if body.get("ok"):
            call.result = body.get("result")
        else:
            call.error = body.get("description")
        self._notify()
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z0-9_]+)", request.path)
        if match is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        token, raw_method = match.groups()
        entry = self._handlers.get(raw_method.lower())
        method = entry[0] if entry is not None else raw_method
        try:
            params, files = await self._read_params(request)
        except (ValueError, ApiError) as exc:
            call = Call(method, {})
            self._record(call)
            error = (
                exc
                if isinstance(exc, ApiError)
                else ApiError(400, "Bad Request: can't parse JSON object")
            )
            return self._answer(call, error.status, error.payload())
        call = Call(method, params, files)
        self._record(call)
        return await self._perform(call, token, entry, request)

    async def _perform(
        self,
        call: Call,
        token: str,
        entry: tuple[str, Handler] | None,
        request: web.Request | None,
    ) -> web.Response:
        """Answer a recorded call (`request`: None for a method in a webhook's response)."""
        method = call.method
        params = call.params
        polling = method == "getUpdates"
        if not polling:
            self._inflight += 1
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found: method not found")
            delay = self._delays.get(method.lower())
            if delay:
                await asyncio.sleep(delay)
            gate = self._held.get(method.lower())
            if gate is not None:
                await gate.wait()
            faults = self._faults.get(method.lower())
            if faults:
                fault = faults.pop(0)
                if fault.kind == "drop":
                    call.dropped = True
                    if request is not None and request.transport is not None:
                        request.transport.close()
                    return web.Response()
                raise ApiError(fault.status, fault.description, fault.retry_after)
            self._check_forbidden(method, params)
            self._check_pace(method, params)
            result = await entry[1](call)
            return self._answer(call, 200, {"ok": True, "result": result})
        except ApiError as exc:
            return self._answer(call, exc.status, exc.payload())
        except asyncio.CancelledError:
            call.error = "the client went away before the answer"
            raise
        finally:
            if not polling:
                self._inflight -= 1
            self._touch()

    async def execute_webhook_reply(
        self, method: str, raw: JSON, files: dict[str, UploadedFile] | None = None
    ) -> Call:
        """Run a method found in a webhook's response, as Telegram does once the update is
        acknowledged: recorded (``Call.webhook_reply``) and answered like any call, the result
        going nowhere. ``raw``: the fields as received (form values or JSON)."""
        entry = self._handlers.get(method.lower())
        name = entry[0] if entry is not None else method
        params = {key: _decode_field(key, value) for key, value in raw.items() if key != "method"}
        named = dict(files or {})
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                upload = named.pop(value[len("attach://") :], None)
                if upload is not None:
                    named[key] = upload
        call = Call(name, params, named, webhook_reply=True)
        self._record(call)
        await self._perform(call, self.token, entry, None)
        return call

    def _check_pace(self, method: str, params: JSON) -> None:
        if not (method.startswith("send") or method in {"copyMessage", "forwardMessage"}):
            return
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._paced:
            return
        interval = self._paced[chat_id]
        now = time.monotonic()
        wait = self._last_send.get(chat_id, now - interval) + interval - now
        if wait > 0:
            seconds = math.ceil(wait)
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)
        self._last_send[chat_id] = now

    def _check_forbidden(self, method: str, params: JSON) -> None:
        if not (method.startswith("send") or method in {"copyMessage", "forwardMessage"}):
            return
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and chat_id in self._forbidden:
            if chat_id > 0:
                raise ApiError(403, ERR_BLOCKED)
            chat = self._chats.get(chat_id)
            kind = "group" if chat is not None and chat.type == "group" else "supergroup"
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")

    # ------------------------------------------------------------------ internals: helpers

    @staticmethod
    def _require(params: JSON, name: str) -> Any:
        value = params.get(name)
        if value is None or value == "":
            raise ApiError(400, f'Bad Request: parameter "{name}" is required')
        return value

    def _chat(self, chat_id: Any) -> _Chat:
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                for chat in self._chats.values():
                    if chat.username and "@" + chat.username.lower() == chat_id.lower():
                        return chat
                raise ApiError(400, "Bad Request: chat not found")
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise ApiError(400, "Bad Request: chat not found") from None
        if isinstance(chat_id, bool) or not isinstance(chat_id, int) or chat_id == 0:
            raise ApiError(400, "Bad Request: chat not found")
        return self._get_chat_obj(chat_id)

    def _formatted(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
        if parse_mode is None or parse_mode == "":
            if entities is None:
                return text, []
            if not isinstance(entities, list):
                raise ApiError(400, "Bad Request: can't parse entities JSON object")
            return text, [dict(entity) for entity in entities if isinstance(entity, dict)]
        mode = str(parse_mode).lower()
        if mode == "html":
            try:
                return parse_html(text)
            except HtmlParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        if mode in {"markdown", "markdownv2"}:
            return text, []
        raise ApiError(400, "Bad Request: unsupported parse_mode")

    def _text_content(self, params: JSON) -> JSON:
        text = params.get("text")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not text:
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._formatted(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        content: JSON = {"text": plain}
        if entities:
            content["entities"] = entities
        if isinstance(params.get("link_preview_options"), dict):
            content["link_preview_options"] = params["link_preview_options"]
        return content

    def _caption_content(self, params: JSON) -> JSON:
        caption = params.get("caption")
        if caption is None or caption == "":
            return {}
        plain, entities = self._formatted(
            str(caption), params.get("parse_mode"), params.get("caption_entities")
        )
        if utf16_len(plain) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        content: JSON = {"caption": plain}
        if entities:
            content["caption_entities"] = entities
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return content

    def _thread(self, chat: _Chat, thread_id: Any) -> int | None:
        if thread_id is None or thread_id == "":
            return None
        tid = _as_int(thread_id, 0)
        topic = chat.topics.get(tid)
        if topic is not None and topic.deleted:
            raise ApiError(400, ERR_THREAD_NOT_FOUND)
        return tid

    def _reply_target(self, chat: _Chat, params: JSON) -> JSON | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            mid = _as_int(reply.get("message_id"), 0)
            allow = bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.id):
                chat = self._chat(reply.get("chat_id"))
        else:
            mid = _as_int(params.get("reply_to_message_id"), 0)
            allow = bool(params.get("allow_sending_without_reply"))
        if not mid:
            return None
        if mid in chat.deleted:
            if allow:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        target = chat.messages.get(mid)
        return None if target is None else _strip_nested_reply(target)

    def _new_bot_message(self, params: JSON, content: JSON) -> JSON:
        """Validate the common send parameters and store a new bot message in the chat."""
        chat = self._chat(params.get("chat_id"))
        thread = self._thread(chat, params.get("message_thread_id"))
        reply = self._reply_target(chat, params)
        markup = params.get("reply_markup")
        _check_markup(markup)
        message: JSON = {
            "message_id": chat.next_message_id(),
            "from": self._bot_user(),
            "date": int(time.time()),
            "chat": chat.as_dict(),
        }
        if thread is not None:
            message["message_thread_id"] = thread
            if chat.type == "supergroup":
                message["is_topic_message"] = True
        if reply is not None:
            message["reply_to_message"] = reply
        message.update(content)
        inline = _inline_markup(markup)
        if inline is not None:
            message["reply_markup"] = inline
        if params.get("protect_content"):
            message["has_protected_content"] = True
        chat.messages[message["message_id"]] = message
        return message

    def _file(self, call: Call, name: str) -> tuple[str | None, UploadedFile | None]:
        """The file_id to reuse (None for a new upload or URL) and the upload, if any."""
        upload = call.files.get(name)
        value = call.params.get(name)
        if upload is None and (value is None or value == ""):
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        if upload is not None or not isinstance(value, str) or "://" in value:
            return None, upload
        return value, None

    async def _send_media(self, call: Call, kind: str, caption: bool = True) -> JSON:
        file_id, upload = self._file(call, kind)
        extra: JSON = {}
        if upload is not None:
            extra["file_size"] = len(upload.data)
            if kind in {"document", "audio", "video", "animation"} and upload.filename:
                extra["file_name"] = upload.filename
            if upload.content_type and kind != "sticker":
                extra["mime_type"] = upload.content_type
        if kind == "sticker" and call.params.get("emoji"):
            extra["emoji"] = call.params["emoji"]
        content: JSON = {kind: self._media(kind, file_id, extra)}
        if kind == "animation":
            content["document"] = dict(content[kind])
        if caption:
            content.update(self._caption_content(call.params))
        return self._new_bot_message(call.params, content)

    def _editable(self, params: JSON) -> tuple[_Chat, JSON, bool] | None:
        """(chat, message, known) for an edit, or None for an inline message."""
        if params.get("inline_message_id"):
            return None
        chat = self._chat(params.get("chat_id"))
        mid = _as_int(params.get("message_id"), 0)
        if not mid:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if mid in chat.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        message = chat.messages.get(mid)
        if message is None:
            message = {
                "message_id": mid,
                "from": self._bot_user(),
                "date": int(time.time()),
                "chat": chat.as_dict(),
            }
            chat.last_message_id = max(chat.last_message_id, mid)
            return chat, message, False
        if message.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, message, True

    def _store_edit(self, chat: _Chat, message: JSON, changes: JSON, markup: JSON | None) -> JSON:
        edited = dict(message)
        for key, value in changes.items():
            if value:
                edited[key] = value
            else:
                edited.pop(key, None)
        if markup is None:
            edited.pop("reply_markup", None)
        else:
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        chat.messages[edited["message_id"]] = edited
        return edited

    def _topic(self, chat: _Chat, params: JSON) -> Topic:
        tid = _as_int(self._require(params, "message_thread_id"), 0)
        topic = chat.topics.get(tid)
        if topic is None:
            topic = Topic(tid, f"Topic {tid}")
            chat.topics[tid] = topic
        if topic.deleted:
            raise ApiError(400, ERR_THREAD_NOT_FOUND)
        return topic

    def _service_message(
        self, chat: _Chat, thread_id: int, content: JSON, message_id: int | None = None
    ) -> JSON:
        message: JSON = {
            "message_id": message_id or chat.next_message_id(),
            "from": self._bot_user(),
            "date": int(time.time()),
            "chat": chat.as_dict(),
            "message_thread_id": thread_id,
            "is_topic_message": True,
            **content,
        }
        chat.messages[message["message_id"]] = message
        return message

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict):
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    def _set_allowed(self, allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list):
            raise ApiError(400, "Bad Request: can't parse allowed updates")
        if allowed:
            self._allowed = frozenset(str(kind) for kind in allowed)
        else:
            self._allowed = DEFAULT_ALLOWED_UPDATES
        self._allowed_explicit = True

    # ------------------------------------------------------------------ methods

    async def _true(self, call: Call) -> bool:
        return True

    async def _chat_true(self, call: Call) -> bool:
        self._chat(call.params.get("chat_id"))
        return True

    async def _get_me(self, call: Call) -> JSON:
        return self._bot_user(full=True)

    async def _get_updates(self, call: Call) -> list[JSON]:
        params = call.params
        if self._webhook is not None:
            raise ApiError(409, ERR_WEBHOOK_ACTIVE)
        self._polled = True
        for other in self._pollers:
            other.superseded = True
            other.wake.set()
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(_as_int(params.get("timeout"), 0), 0)
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poller = _Poller()
        self._pollers.append(poller)
        try:
            while True:
                self._updates = [u for u in self._updates if self._kind(u) in self._allowed]
                batch = self._updates[:limit]
                if batch or self._closing:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                poller.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poller.wake.wait(), remaining)
                if poller.superseded:
                    raise ApiError(409, ERR_TERMINATED)
        finally:
            self._pollers.remove(poller)
        if batch:
            self._delivered_max = max(self._delivered_max, batch[-1]["update_id"])
        return batch

    async def _send_message(self, call: Call) -> JSON:
        return self._new_bot_message(call.params, self._text_content(call.params))

    async def _send_contact(self, call: Call) -> JSON:
        params = call.params
        contact: JSON = {
            "phone_number": str(self._require(params, "phone_number")),
            "first_name": str(self._require(params, "first_name")),
        }
        for key in ("last_name", "vcard"):
            if params.get(key):
                contact[key] = str(params[key])
        return self._new_bot_message(params, {"contact": contact})

    async def _send_photo(self, call: Call) -> JSON:
        file_id, _ = self._file(call, "photo")
        content: JSON = {"photo": self._photo_sizes(file_id)}
        content.update(self._caption_content(call.params))
        return self._new_bot_message(call.params, content)

    async def _send_document(self, call: Call) -> JSON:
        return await self._send_media(call, "document")

    async def _send_sticker(self, call: Call) -> JSON:
        return await self._send_media(call, "sticker", caption=False)

    async def _send_video(self, call: Call) -> JSON:
        return await self._send_media(call, "video")

    async def _send_voice(self, call: Call) -> JSON:
        return await self._send_media(call, "voice")

    async def _send_audio(self, call: Call) -> JSON:
        return await self._send_media(call, "audio")

    async def _send_animation(self, call: Call) -> JSON:
        return await self._send_media(call, "animation")

    async def _send_location(self, call: Call) -> JSON:
        params = call.params
        location = {
            "latitude": float(self._require(params, "latitude")),
            "longitude": float(self._require(params, "longitude")),
        }
        return self._new_bot_message(params, {"location": location})

    def _source_message(self, params: JSON, verb: str) -> tuple[_Chat, JSON]:
        source_chat = self._chat(params.get("from_chat_id"))
        mid = _as_int(params.get("message_id"), 0)
        if not mid:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if mid in source_chat.deleted:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        source = source_chat.messages.get(mid)
        if source is None:
            source = {
                "message_id": mid,
                "date": int(time.time()),
                "chat": source_chat.as_dict(),
                "text": f"message {mid} of chat {source_chat.id}",
            }
        return source_chat, source

    async def _copy_message(self, call: Call) -> JSON:
        params = call.params
        _, source = self._source_message(params, "copy")
        content = {key: value for key, value in source.items() if key in CONTENT_KEYS}
        if not content:
            raise ApiError(400, "Bad Request: message can't be copied")
        if "caption" in params and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption_content(params))
        message = self._new_bot_message(params, content)
        return {"message_id": message["message_id"]}

    async def _forward_message(self, call: Call) -> JSON:
        params = call.params
        source_chat, source = self._source_message(params, "forward")
        content = {key: value for key, value in source.items() if key in CONTENT_KEYS}
        if not content:
            raise ApiError(400, "Bad Request: message can't be forwarded")
        origin: JSON
        if "forward_origin" in source:
            origin = source["forward_origin"]
        elif source_chat.type == "channel":
            origin = {
                "type": "channel",
                "date": source["date"],
                "chat": source_chat.as_dict(),
                "message_id": source["message_id"],
            }
        else:
            sender = source.get("from") or {"id": 0, "is_bot": False, "first_name": "Unknown"}
            if sender.get("id") in self._hidden_forwards:
                origin = {
                    "type": "hidden_user",
                    "date": source["date"],
                    "sender_user_name": sender.get("first_name", ""),
                }
            else:
                origin = {"type": "user", "date": source["date"], "sender_user": sender}
        content["forward_origin"] = origin
        clean = {key: value for key, value in params.items() if key != "reply_markup"}
        return self._new_bot_message(clean, content)

    async def _send_chat_action(self, call: Call) -> bool:
        params = call.params
        chat = self._chat(params.get("chat_id"))
        self._thread(chat, params.get("message_thread_id"))
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(self._require(call.params, "callback_query_id"))
        if query_id in self._answered_callbacks:
            raise ApiError(400, ERR_QUERY_INVALID)
        self._answered_callbacks.add(query_id)
        return True

    async def _edit_message_text(self, call: Call) -> JSON | bool:
        params = call.params
        content = self._text_content(params)
        markup = params.get("reply_markup")
        _check_markup(markup)
        target = self._editable(params)
        if target is None:
            return True
        chat, message, known = target
        if known and "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        new_markup = _inline_markup(markup)
        if (
            known
            and message.get("text") == content["text"]
            and message.get("entities", []) == content.get("entities", [])
            and message.get("reply_markup") == new_markup
        ):
            raise ApiError(400, ERR_NOT_MODIFIED)
        changes = {"text": content["text"], "entities": content.get("entities")}
        return self._store_edit(chat, message, changes, new_markup)

    async def _edit_message_caption(self, call: Call) -> JSON | bool:
        params = call.params
        content = self._caption_content(params)
        markup = params.get("reply_markup")
        _check_markup(markup)
        target = self._editable(params)
        if target is None:
            return True
        chat, message, known = target
        if known and "text" in message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        new_markup = _inline_markup(markup)
        if (
            known
            and message.get("caption") == content.get("caption")
            and message.get("caption_entities") == content.get("caption_entities")
            and message.get("reply_markup") == new_markup
        ):
            raise ApiError(400, ERR_NOT_MODIFIED)
        changes = {
            "caption": content.get("caption"),
            "caption_entities": content.get("caption_entities"),
        }
        return self._store_edit(chat, message, changes, new_markup)

    async def _edit_message_reply_markup(self, call: Call) -> JSON | bool:
        params = call.params
        markup = params.get("reply_markup")
        _check_markup(markup)
        target = self._editable(params)
        if target is None:
            return True
        chat, message, known = target
        new_markup = _inline_markup(markup)
        if known and message.get("reply_markup") == new_markup:
            raise ApiError(400, ERR_NOT_MODIFIED)
        return self._store_edit(chat, message, {}, new_markup)

    def _delete_one(self, chat: _Chat, mid: int) -> None:
        if mid in chat.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        chat.deleted.add(mid)
        chat.messages.pop(mid, None)

    async def _delete_message(self, call: Call) -> bool:
        chat = self._chat(call.params.get("chat_id"))
        mid = _as_int(call.params.get("message_id"), 0)
        if not mid:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        self._delete_one(chat, mid)
        return True

    async def _delete_messages(self, call: Call) -> bool:
        chat = self._chat(call.params.get("chat_id"))
        ids = call.params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        for mid in ids:
            chat.deleted.add(_as_int(mid, 0))
            chat.messages.pop(_as_int(mid, 0), None)
        return True

    async def _set_my_commands(self, call: Call) -> bool:
        params = call.params
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: parameter "commands" is required')
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        stored: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(
                    400,
                    "Bad Request: command description is empty"
                    if not description
                    else "Bad Request: BOT_COMMAND_INVALID",
                )
            stored.append({"command": name, "description": description})
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands[key] = stored
        return True

    async def _get_my_commands(self, call: Call) -> list[JSON]:
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code") or ""),
        )
        return list(self._commands.get(key, []))

    async def _delete_my_commands(self, call: Call) -> bool:
        key = (
            self._scope_key(call.params.get("scope")),
            str(call.params.get("language_code") or ""),
        )
        self._commands.pop(key, None)
        return True

    async def _set_webhook(self, call: Call) -> bool:
        params = call.params
        url = params.get("url")
        if url is None:
            raise ApiError(400, 'Bad Request: parameter "url" is required')
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if url == "":
            self._webhook = None
            return True
        parts = urllib.parse.urlsplit(str(url))
        if parts.scheme != "https" or not parts.hostname:
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if parts.port not in (None, 80, 88, 443, 8443):
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self._set_allowed(params.get("allowed_updates"))
        if self._delivery is not None:
            self._delivery.wake()
        self._webhook = {
            "url": str(url),
            "secret_token": secret,
            "max_connections": _as_int(params.get("max_connections"), 40),
            "ip_address": params.get("ip_address"),
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    async def _delete_webhook(self, call: Call) -> bool:
        self._webhook = None
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, call: Call) -> JSON:
        info: JSON = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("ip_address"):
                info["ip_address"] = self._webhook["ip_address"]
        if self._allowed_explicit:
            info["allowed_updates"] = sorted(self._allowed)
        return info

    async def _create_forum_topic(self, call: Call) -> JSON:
        params = call.params
        chat = self._chat(params.get("chat_id"))
        if chat.type in {"channel", "group"} or chat.is_forum is False:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        name = str(self._require(params, "name"))
        if len(name) > 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_INVALID")
        if chat.type != "private":
            chat.is_forum = True
        tid = chat.next_message_id()
        topic = Topic(
            tid,
            name,
            _as_int(params.get("icon_color"), DEFAULT_TOPIC_COLOR),
            params.get("icon_custom_emoji_id") or None,
        )
        chat.topics[tid] = topic
        created: JSON = {"name": topic.name, "icon_color": topic.icon_color}
        if topic.icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
        self._service_message(chat, tid, {"forum_topic_created": created}, message_id=tid)
        return topic.as_dict()

    async def _close_forum_topic(self, call: Call) -> bool:
        chat = self._chat(call.params.get("chat_id"))
        topic = self._topic(chat, call.params)
        if topic.closed:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.closed = True
        self._service_message(chat, topic.message_thread_id, {"forum_topic_closed": {}})
        return True

    async def _reopen_forum_topic(self, call: Call) -> bool:
        chat = self._chat(call.params.get("chat_id"))
        topic = self._topic(chat, call.params)
        if not topic.closed:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.closed = False
        self._service_message(chat, topic.message_thread_id, {"forum_topic_reopened": {}})
        return True

    async def _edit_forum_topic(self, call: Call) -> bool:
        params = call.params
        chat = self._chat(params.get("chat_id"))
        topic = self._topic(chat, params)
        edited: JSON = {}
        name = params.get("name")
        if name is not None and str(name) != topic.name:
            if not str(name) or len(str(name)) > 128:
                raise ApiError(400, "Bad Request: TOPIC_TITLE_INVALID")
            topic.name = edited["name"] = str(name)
        emoji = params.get("icon_custom_emoji_id")
        if emoji is not None and (emoji or None) != topic.icon_custom_emoji_id:
            topic.icon_custom_emoji_id = emoji or None
            edited["icon_custom_emoji_id"] = emoji
        if not edited:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        self._service_message(chat, topic.message_thread_id, {"forum_topic_edited": edited})
        return True

    async def _delete_forum_topic(self, call: Call) -> bool:
        chat = self._chat(call.params.get("chat_id"))
        topic = self._topic(chat, call.params)
        topic.deleted = True
        for mid, message in list(chat.messages.items()):
            if message.get("message_thread_id") == topic.message_thread_id:
                chat.messages.pop(mid)
                chat.deleted.add(mid)
        return True

    async def _get_chat(self, call: Call) -> JSON:
        chat = self._chat(call.params.get("chat_id"))
        info = chat.as_dict()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return info


# --------------------------------------------------------------------------- webhooks


@dataclass
class Delivery:
    """One POST of an update to a webhook: its HTTP status, or what went wrong instead."""

    update_id: int
    target: str
    status: int | None = None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDelivery:
    """The fake as Telegram with a webhook set, and a round-robin balancer in front of the
    instances: every queued update (``user_text``...) is POSTed, with the secret token of
    setWebhook, to the next of ``targets``, at most ``connections`` at once per target. An
    update not acknowledged with a 2xx (an error status, a refused or broken connection, no
    answer within ``timeout`` seconds) is delivered again ``retry_delay`` seconds later, to
    the next target. A method in an acknowledged response's body (JSON or a form, as aiogram
    writes it) is run as Telegram runs it (``Call.webhook_reply``). Nothing is delivered
    before setWebhook. As Telegram does, one chat's updates go one at a time, in order: the
    next once the previous is acknowledged (``in_order=False``: all at once); different
    chats' updates go concurrently."""

    def __init__(
        self,
        fake: FakeTelegram,
        targets: Sequence[str],
        *,
        connections: int,
        retry_delay: float,
        timeout: float,
        in_order: bool = True,
    ) -> None:
        if not targets or connections < 1:
            raise ValueError("at least one target and one connection are needed")
        self.fake = fake
        self.targets = list(targets)
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.in_order = in_order
        self.attempts: list[Delivery] = []
        self.acknowledged: dict[int, str] = {}  # update_id: the target that acknowledged it
        self._queue: deque[JSON] = deque()
        self._slots = {target: asyncio.Semaphore(connections) for target in self.targets}
        self._turn = itertools.count()
        self._posting = 0
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: ClientSession | None = None
        self._loop: asyncio.Task[None] | None = None
        self._ack_waiters: list[asyncio.Future[None]] = []
        self._busy_chats: set[int | None] = set()  # chats with an update being delivered

    async def __aenter__(self) -> WebhookDelivery:
        self._session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        self._loop = asyncio.create_task(self._run(), name="fake-webhook-delivery")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        tasks = [task for task in (self._loop, *self._tasks) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.fake._delivery is self:
            self.fake._delivery = None

    @property
    def pending(self) -> int:
        """Updates not acknowledged yet: queued, being posted or waiting to be posted again."""
        return len(self._queue) + self._posting + len(self.fake._updates)

    def wake(self) -> None:
        self._wake.set()

    def attempts_of(self, update_id: int) -> list[Delivery]:
        return [attempt for attempt in self.attempts if attempt.update_id == update_id]

    async def wait_acknowledged(self, update_id: int, within: float = 10.0) -> str:
        """The target that acknowledged ``update_id`` (waiting for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while update_id not in self.acknowledged:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"update {update_id} not acknowledged within {within}s; attempts: "
                    f"{self.attempts_of(update_id)}"
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._ack_waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)
        return self.acknowledged[update_id]

    async def _run(self) -> None:
        while True:
            self._queue.extend(self.fake._take_updates())
            webhook = self.fake._webhook
            if webhook is not None:
                held: deque[JSON] = deque()  # their chat's previous update is not done
                while self._queue:
                    update = self._queue.popleft()
                    chat = _chat_of(update) if self.in_order else None
                    if chat is not None and chat in self._busy_chats:
                        held.append(update)
                        continue
                    if chat is not None:
                        self._busy_chats.add(chat)
                    target = self.targets[next(self._turn) % len(self.targets)]
                    self._posting += 1
                    task = asyncio.create_task(
                        self._deliver(update, chat, target, webhook.get("secret_token"))
                    )
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                self._queue = held
            await self._wake.wait()
            self._wake.clear()

    async def _deliver(
        self, update: JSON, chat: int | None, target: str, secret: str | None
    ) -> None:
        assert self._session is not None
        attempt = Delivery(int(update["update_id"]), target)
        self.attempts.append(attempt)
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        reply: tuple[str, JSON, dict[str, UploadedFile]] | None = None
        try:
            async with (
                self._slots[target],
                self._session.post(target, json=update, headers=headers) as response,
            ):
                attempt.status = response.status
                if attempt.acknowledged:
                    reply = await self.reply_in(response)
                else:
                    await response.read()
        except (ClientError, TimeoutError, ConnectionError) as exc:
            attempt.error = type(exc).__name__
        try:
            if attempt.acknowledged:
                self.acknowledged.setdefault(attempt.update_id, target)
                waiters, self._ack_waiters = self._ack_waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                if reply is not None:
                    await self.fake.execute_webhook_reply(*reply)
            else:
                await asyncio.sleep(self.retry_delay)
                self._queue.appendleft(update)  # ahead of its chat's later updates
        finally:
            self._busy_chats.discard(chat)
            self._posting -= 1
            self.wake()
            self.fake._touch()

    @staticmethod
    async def reply_in(response: Any) -> tuple[str, JSON, dict[str, UploadedFile]] | None:
        """The method in a webhook's response body, if any: (method, fields, files)."""
        fields: JSON = {}
        files: dict[str, UploadedFile] = {}
        if response.content_type == "multipart/form-data":
            reader = MultipartReader.from_response(response)
            while True:
                part = await reader.next()
                if part is None:
                    break
                assert not isinstance(part, MultipartReader)
                name = part.name or ""
                if part.filename is not None:
                    data = await part.read()
                    files[name] = UploadedFile(
                        part.filename, part.headers.get("Content-Type"), bytes(data)
                    )
                else:
                    fields[name] = await part.text()
        else:
            body = await response.read()
            if body.strip():
                decoded = json.loads(body)
                if isinstance(decoded, dict):
                    fields = decoded
        method = fields.get("method")
        if not isinstance(method, str) or not method:
            return None
        return method, fields, files


def _chat_of(update: JSON) -> int | None:
    """The chat an update belongs to (a button press: the chat of its message), if any."""
    payload = next((value for key, value in update.items() if key != "update_id"), None)
    if not isinstance(payload, dict):
        return None
    chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
    if isinstance(chat, dict) and isinstance(chat.get("id"), int):
        return int(chat["id"])
    return None
