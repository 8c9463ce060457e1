"""The Bot API stand-in works with a real aiogram Bot (and Dispatcher)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientSession, web

from tests.support.fake_telegram import (
    FakeTelegram,  # tests/ has no __init__.py: pytest puts it on sys.path
)

ADMIN_CHAT = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    # aiogram's own session, posting forms (the bot posts JSON: test_telegram_session.py).
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    created = Bot(
        fake.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    yield created
    await created.session.close()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data)] for text, data in pairs
        ]
    )


# --------------------------------------------------------------------------- basics


async def test_serves_only_on_localhost(fake: FakeTelegram) -> None:
    assert fake.url.startswith("http://127.0.0.1:")


async def test_get_me_returns_the_bot_user(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123456
    assert me.is_bot
    assert me.username == "cso_cmo_support_bot"
    assert [call.method for call in fake.calls] == ["getMe"]


async def test_send_message_with_inline_keyboard_is_recorded_decoded(
    fake: FakeTelegram, bot: Bot
) -> None:
    markup = keyboard(("CSO là gì?", "intent:cso_role"), ("Liên hệ", "intent:contact"))

    sent = await bot.send_message(111, "<b>Xin chào</b> bạn!", reply_markup=markup)

    assert sent.message_id == 1
    assert sent.chat.id == 111
    assert sent.chat.type == "private"
    assert sent.from_user is not None
    assert sent.from_user.id == fake.bot_id
    assert sent.text == "Xin chào bạn!"  # Telegram answers the parsed text...
    assert sent.entities is not None
    assert sent.entities[0].type == "bold"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)

    [call] = fake.sent_messages(111)
    assert call.params["chat_id"] == 111
    assert call.text == "<b>Xin chào</b> bạn!"  # ...the record keeps what the bot sent
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "CSO là gì?", "callback_data": "intent:cso_role"}],
            [{"text": "Liên hệ", "callback_data": "intent:contact"}],
        ]
    }
    assert call.result["message_id"] == 1


async def test_message_ids_increment_per_chat_and_chat_types_follow_ids(
    fake: FakeTelegram, bot: Bot
) -> None:
    first = await bot.send_message(111, "một")
    second = await bot.send_message(111, "hai")
    elsewhere = await bot.send_message(222, "ba")
    group = await bot.send_message(ADMIN_CHAT, "bốn")
    fake.add_chat(-42, "group", title="Old group")
    old_group = await bot.send_message(-42, "năm")

    assert (first.message_id, second.message_id, elsewhere.message_id) == (1, 2, 1)
    assert group.chat.type == "supergroup"
    assert old_group.chat.type == "group"
    assert old_group.chat.title == "Old group"
    assert [call.text for call in fake.sent_messages(111)] == ["một", "hai"]


async def test_send_contact(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_contact(111, phone_number="+84 28 1234 5678", first_name="Hỗ trợ")

    assert sent.contact is not None
    assert sent.contact.phone_number == "+84 28 1234 5678"
    assert sent.contact.first_name == "Hỗ trợ"
    call = await fake.wait_for("sendContact")
    assert call.params["first_name"] == "Hỗ trợ"


async def test_uploads_are_parsed_from_multipart(fake: FakeTelegram, bot: Bot) -> None:
    document = BufferedInputFile(b"hello", filename="notes.txt")

    sent = await bot.send_document(111, document, caption="Tài liệu <i>mới</i>")

    assert sent.document is not None
    assert sent.document.file_name == "notes.txt"
    assert sent.caption == "Tài liệu mới"
    call = await fake.wait_for("sendDocument")
    assert call.files["document"].data == b"hello"
    assert call.files["document"].filename == "notes.txt"


async def test_json_bodies_and_unknown_methods(fake: FakeTelegram) -> None:
    async with ClientSession() as http:
        url = f"{fake.url}/bot{fake.token}/sendMessage"
        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        async with http.post(url, json={"chat_id": 5, "text": "hi", "reply_markup": markup}) as r:
            body = await r.json()
        async with http.post(f"{fake.url}/bot{fake.token}/noSuchMethod") as r:
            missing = (r.status, await r.json())

    assert body["ok"] is True
    assert body["result"]["reply_markup"] == markup
    assert fake.sent_messages(5)[0].params["reply_markup"] == markup
    assert missing == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )


# --------------------------------------------------------------------------- updates


async def test_get_updates_honours_offset(fake: FakeTelegram, bot: Bot) -> None:
    first = fake.user_text("xin chào")
    second = fake.user_text("CSO là gì?", user_id=222, first_name="Minh")

    updates = await bot.get_updates()
    assert [update.update_id for update in updates] == [first, second]
    assert updates[1].message is not None
    assert updates[1].message.text == "CSO là gì?"
    assert updates[1].message.from_user is not None
    assert updates[1].message.from_user.first_name == "Minh"

    again = await bot.get_updates(offset=second)  # confirms `first` and drops it
    assert [update.update_id for update in again] == [second]
    assert await bot.get_updates(offset=second + 1) == []
    assert fake.pending_updates == []


async def test_long_poll_returns_as_soon_as_a_user_writes(fake: FakeTelegram, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for("getUpdates")
    await asyncio.sleep(0.2)
    assert not poll.done()  # really waiting

    update_id = fake.user_text("/start")
    updates = await asyncio.wait_for(poll, 2)

    assert loop.time() - started < 2
    assert [update.update_id for update in updates] == [update_id]
    message = updates[0].message
    assert message is not None
    assert message.text == "/start"
    assert message.entities is not None
    assert message.entities[0].type == "bot_command"


async def test_long_poll_times_out_empty(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == []


async def test_allowed_updates_filter_what_is_delivered(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_text("hello")
    fake.press("intent:cso_role")

    updates = await bot.get_updates(allowed_updates=["callback_query"])

    assert [update.callback_query is not None for update in updates] == [True]


async def test_delete_webhook_can_drop_pending_updates(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_text("old question")

    await bot.delete_webhook(drop_pending_updates=True)

    assert await bot.get_updates() == []


async def test_webhook_set_blocks_get_updates(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook(
        "https://bot.example.com/tg", secret_token="s3cret", allowed_updates=["message"]
    )

    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.com/tg"
    assert info.allowed_updates == ["message"]
    assert fake.webhook is not None
    assert fake.webhook["secret_token"] == "s3cret"
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://bot.example.com/tg")


async def test_post_webhook_sends_the_secret_header(fake: FakeTelegram, bot: Bot) -> None:
    seen: list[str] = []
    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> None:
        seen.append(message.text or "")

    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token="s3cret").register(app, "/tg")
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/tg"
    try:
        update = fake.make_update("message", fake.text_message("qua webhook"))
        assert await fake.post_webhook(url, update, "wrong") == 401
        assert await fake.post_webhook(url, update, None) == 401
        assert await fake.post_webhook(url, update, "s3cret") == 200
    finally:
        await runner.cleanup()

    assert seen == ["qua webhook"]
    assert fake.pending_updates == []  # make_update does not queue


async def test_dispatcher_polling_end_to_end(fake: FakeTelegram, bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Chào <b>bạn</b>!", reply_markup=keyboard(("CSO", "intent:cso")))

    @router.callback_query(F.data == "intent:cso")
    async def chosen(query: CallbackQuery) -> None:
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.edit_text("CSO là Giám đốc Chiến lược.")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        await fake.wait_for("getUpdates")
        fake.user_text("/start")
        greeting = await fake.wait_for("sendMessage", lambda call: call.chat_id == 111)
        assert greeting.text == "Chào <b>bạn</b>!"

        mark = fake.mark()
        fake.press("intent:cso")
        await fake.wait_for("answerCallbackQuery", after=mark)
        edit = await fake.wait_for("editMessageText", after=mark)
        assert edit.params["message_id"] == greeting.result["message_id"]
        await fake.wait_idle()
    finally:
        await dp.stop_polling()
        await polling

    first_poll = next(call for call in fake.calls if call.method == "getUpdates")
    assert first_poll.params["allowed_updates"] == ["callback_query", "message"]
    assert fake.message(111, greeting.result["message_id"]) is not None


# --------------------------------------------------------------------------- webhook delivery


class Instance:
    """A webhook server: aiogram's handler answering after the update is handled, or a fixed
    status, counting the requests it is handling at once."""

    def __init__(self, dp: Dispatcher, bot: Bot, status: int | None = None) -> None:
        self.status = status
        self.received: list[int] = []
        self.running = 0
        self.most_running = 0
        self.aiogram = SimpleRequestHandler(
            dispatcher=dp, bot=bot, handle_in_background=False, secret_token="s3cret"
        )
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((await request.json())["update_id"])
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.status is not None:
                return web.Response(status=self.status)
            return await self.aiogram.handle(request)
        finally:
            self.running -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/tg", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/tg"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def instances(bot: Bot) -> AsyncIterator[Callable[..., Awaitable[Instance]]]:
    started: list[Instance] = []

    async def start(dp: Dispatcher, status: int | None = None) -> Instance:
        instance = Instance(dp, bot, status)
        await instance.start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        await instance.stop()


def replying_dispatcher(seen: list[str] | None = None) -> Dispatcher:
    """Answers every message with "đã nhận: <text>" in the webhook's response."""
    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> Any:
        if seen is not None:
            seen.append(message.text or "")
        return message.answer(f"đã nhận: {message.text}")

    return dp


async def test_delivery_sends_each_update_to_the_instances_in_turn_with_the_secret(
    fake: FakeTelegram, bot: Bot, instances: Callable[..., Awaitable[Instance]]
) -> None:
    first, second = await instances(replying_dispatcher()), await instances(replying_dispatcher())
    await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")

    async with fake.deliver_webhooks([first.url, second.url]) as delivery:
        ids = [fake.user_text(f"câu {n}", user_id=100 + n) for n in range(4)]
        for update_id in ids:
            await delivery.wait_acknowledged(update_id)
        await fake.wait_idle()

    assert [delivery.acknowledged[update_id] for update_id in ids] == [
        first.url,
        second.url,
        first.url,
        second.url,
    ]
    # The answers came in the responses: the fake sent them as Telegram does.
    replies = [call for call in fake.calls if call.method == "sendMessage"]
    assert all(call.webhook_reply and call.ok for call in replies)
    assert sorted(call.text or "" for call in replies) == [f"đã nhận: câu {n}" for n in range(4)]
    assert fake.messages(100)[-1]["text"] == "đã nhận: câu 0"


async def test_delivery_waits_for_set_webhook(
    fake: FakeTelegram, bot: Bot, instances: Callable[..., Awaitable[Instance]]
) -> None:
    instance = await instances(replying_dispatcher())

    async with fake.deliver_webhooks([instance.url]) as delivery:
        update_id = fake.user_text("sớm quá")
        assert delivery.pending == 1
        assert instance.received == []

        await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")
        assert await delivery.wait_acknowledged(update_id) == instance.url


async def test_an_update_refused_is_delivered_again_to_the_next_instance(
    fake: FakeTelegram, bot: Bot, instances: Callable[..., Awaitable[Instance]]
) -> None:
    seen: list[str] = []
    busy = await instances(Dispatcher(), status=503)
    well = await instances(replying_dispatcher(seen))
    gone = await instances(Dispatcher())
    await gone.stop()  # its port refuses connections now
    await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")

    async with fake.deliver_webhooks([busy.url, gone.url, well.url]) as delivery:
        update_id = fake.user_text("có ai không")
        assert await delivery.wait_acknowledged(update_id) == well.url
        await fake.wait_idle()

    attempts = delivery.attempts_of(update_id)
    assert [(a.target, a.status) for a in attempts] == [
        (busy.url, 503),
        (gone.url, None),
        (well.url, 200),
    ]
    assert attempts[1].error == "ClientConnectorError"
    assert seen == ["có ai không"]  # handled once: the refusals did not reach a handler
    assert [call.text for call in fake.sent_messages(111)] == ["đã nhận: có ai không"]


async def test_an_update_not_answered_in_time_is_delivered_again_to_the_next_instance(
    fake: FakeTelegram, bot: Bot, instances: Callable[..., Awaitable[Instance]]
) -> None:
    stuck = asyncio.Event()
    hanging = Dispatcher()

    @hanging.message()
    async def never_answers(message: Message) -> None:
        await stuck.wait()

    slow = await instances(hanging)
    well = await instances(replying_dispatcher())
    await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")

    try:
        async with fake.deliver_webhooks([slow.url, well.url], timeout=0.5) as delivery:
            update_id = fake.user_text("có ai không")
            assert await delivery.wait_acknowledged(update_id) == well.url
    finally:
        stuck.set()

    first, second = delivery.attempts_of(update_id)
    assert (first.target, first.status) == (slow.url, None)
    assert first.error is not None
    assert (second.target, second.status) == (well.url, 200)


async def test_one_chats_updates_are_delivered_one_at_a_time_and_other_chats_meanwhile(
    fake: FakeTelegram, bot: Bot, instances: Callable[..., Awaitable[Instance]]
) -> None:
    first_taken, go_on = asyncio.Event(), asyncio.Event()
    seen: list[str] = []
    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> Any:
        seen.append(message.text or "")
        if message.text == "một":
            first_taken.set()
            await go_on.wait()
        return message.answer(f"đã nhận: {message.text}")

    one, two = await instances(dp), await instances(dp)
    await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")

    async with fake.deliver_webhooks([one.url, two.url]) as delivery:
        lan = [fake.user_text(text, user_id=111) for text in ("một", "hai", "ba")]
        other = fake.user_text("chào", user_id=222)
        await first_taken.wait()
        # Lan's next messages wait for her first to be acknowledged; Minh's does not.
        await delivery.wait_acknowledged(other)
        assert seen == ["một", "chào"]
        go_on.set()
        for update_id in lan:
            await delivery.wait_acknowledged(update_id)
        await fake.wait_idle()

    assert seen == ["một", "chào", "hai", "ba"]
    assert [call.text for call in fake.sent_messages(111)] == [
        "đã nhận: một",
        "đã nhận: hai",
        "đã nhận: ba",
    ]
    # Still round-robin over the instances.
    assert {delivery.acknowledged[update_id] for update_id in lan} == {one.url, two.url}


async def test_delivery_keeps_to_the_connections_allowed_per_instance(
    fake: FakeTelegram, bot: Bot, instances: Callable[..., Awaitable[Instance]]
) -> None:
    arrived: asyncio.Queue[asyncio.Event] = asyncio.Queue()
    dp = Dispatcher()

    @dp.message()
    async def slow(message: Message) -> None:
        done = asyncio.Event()
        await arrived.put(done)
        await done.wait()

    instance = await instances(dp)
    await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")

    async with fake.deliver_webhooks([instance.url], connections=2) as delivery:
        ids = [fake.user_text(f"câu {n}", user_id=200 + n) for n in range(5)]
        # Two are handled at once; each one finished lets the next one in.
        first = await arrived.get()
        handling = [await arrived.get()]
        first.set()
        for _ in range(3):
            handling.append(await arrived.get())
            handling.pop(0).set()
        handling.pop(0).set()
        for update_id in ids:
            await delivery.wait_acknowledged(update_id)

    assert instance.most_running == 2
    assert sorted(instance.received) == ids


# --------------------------------------------------------------------------- errors


async def test_fail_next_429_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(111, "quá nhanh")
    assert caught.value.retry_after == 7

    await bot.send_message(111, "lần sau thì được")  # only the next call fails
    assert [call.status for call in fake.calls] == [429, 200]
    assert [call.text for call in fake.sent_messages()] == ["lần sau thì được"]


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    stranger = fake.make_bot("654321:WRONG")

    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()
    assert fake.calls[-1].status == 401


async def test_dropped_connection_is_a_network_error(fake: FakeTelegram, bot: Bot) -> None:
    fake.drop_next("sendMessage")

    with pytest.raises(TelegramNetworkError):
        await bot.send_message(111, "mất kết nối")
    assert fake.calls[-1].dropped
    assert fake.sent_messages() == []


async def test_blocked_user_is_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    fake.forbid_chat(111)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(111, "bạn còn đó không?")
    await bot.send_message(222, "người khác vẫn nhận được")
    assert [call.chat_id for call in fake.sent_messages()] == [222]


async def test_delay_makes_a_request_slow(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_delay("getMe", 0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()

    await bot.get_me()

    assert loop.time() - started >= 0.3


async def test_bad_html_is_rejected_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br" at byte offset 7'):
        await bot.send_message(111, "Dòng 1<br>Dòng 2")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(111, "a" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(111, "x", reply_markup=keyboard(("Dài", "x" * 65)))


async def test_callback_answered_twice_and_unchanged_edit_are_rejected(
    fake: FakeTelegram, bot: Bot
) -> None:
    sent = await bot.send_message(111, "Chọn:", reply_markup=keyboard(("A", "a")))
    fake.press("a")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id

    await bot.answer_callback_query(query.id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Chọn:", chat_id=111, message_id=sent.message_id, reply_markup=keyboard(("A", "a"))
        )
    edited = await bot.edit_message_text("Đã chọn A", chat_id=111, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.reply_markup is None


async def test_forward_and_copy_carry_the_users_message(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_text("Tôi cần gặp người thật", user_id=333, first_name="Hà")
    [update] = await bot.get_updates()
    assert update.message is not None

    forwarded = await bot.forward_message(ADMIN_CHAT, 333, update.message.message_id)
    copied = await bot.copy_message(ADMIN_CHAT, 333, update.message.message_id)

    assert forwarded.text == "Tôi cần gặp người thật"
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.type == "user"
    assert copied.message_id == forwarded.message_id + 1


# --------------------------------------------------------------------------- forum topics


async def test_forum_topics_and_deleted_topic(fake: FakeTelegram, bot: Bot) -> None:
    first = await bot.create_forum_topic(ADMIN_CHAT, "Lan #111")
    second = await bot.create_forum_topic(ADMIN_CHAT, "Minh #222")
    assert second.message_thread_id > first.message_thread_id

    in_topic = await bot.send_message(
        ADMIN_CHAT, "Câu hỏi mới", message_thread_id=first.message_thread_id
    )
    assert in_topic.message_thread_id == first.message_thread_id
    assert in_topic.is_topic_message

    await bot.close_forum_topic(ADMIN_CHAT, first.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(ADMIN_CHAT, first.message_thread_id)
    await bot.reopen_forum_topic(ADMIN_CHAT, first.message_thread_id)
    await bot.edit_forum_topic(ADMIN_CHAT, first.message_thread_id, name="Lan (xong)")
    assert fake.topics(ADMIN_CHAT)[first.message_thread_id].name == "Lan (xong)"

    await bot.delete_forum_topic(ADMIN_CHAT, first.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(ADMIN_CHAT, "trễ rồi", message_thread_id=first.message_thread_id)
    await bot.send_message(ADMIN_CHAT, "vẫn ổn", message_thread_id=second.message_thread_id)


async def test_admin_reply_in_topic_reaches_the_bot(fake: FakeTelegram, bot: Bot) -> None:
    topic = await bot.create_forum_topic(ADMIN_CHAT, "Lan #111")
    fake.user_text(
        "Chào Lan, mình hỗ trợ nhé",
        user_id=999,
        chat_id=ADMIN_CHAT,
        chat_type="supergroup",
        first_name="Admin",
        message_thread_id=topic.message_thread_id,
    )

    [update] = await bot.get_updates()

    message = update.message
    assert message is not None
    assert message.chat.type == "supergroup"
    assert message.message_thread_id == topic.message_thread_id
    assert message.is_topic_message
    # Telegram makes a topic message a reply to the topic's creation message.
    assert message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None


# --------------------------------------------------------------------------- commands, chat


async def test_commands_round_trip(fake: FakeTelegram, bot: Bot) -> None:
    commands = [
        BotCommand(command="start", description="Bắt đầu"),
        BotCommand(command="help", description="Trợ giúp"),
    ]

    await bot.set_my_commands(commands)

    stored = await bot.get_my_commands()
    assert [(c.command, c.description) for c in stored] == [
        ("start", "Bắt đầu"),
        ("help", "Trợ giúp"),
    ]
    assert fake.my_commands()[0] == {"command": "start", "description": "Bắt đầu"}
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


async def test_get_chat_and_chat_action(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_text("hi", username="lan_nguyen")

    chat = await bot.get_chat(111)

    assert chat.type == "private"
    assert chat.username == "lan_nguyen"
    assert await bot.send_chat_action(111, "typing")


async def test_every_user_builder_makes_updates_aiogram_accepts(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.user_text("câu hỏi", username="lan")
    fake.user_edit("câu hỏi đã sửa")
    fake.user_sticker()
    fake.user_photo("ảnh chụp màn hình")
    for kind in ("voice", "video", "document", "location", "contact"):
        fake.user_media(kind)
    fake.press("intent:contact")
    fake.channel_post("tin kênh")
    fake.user_text("reply", reply_to=1, chat_id=ADMIN_CHAT, chat_type="supergroup")

    updates = await bot.get_updates(
        allowed_updates=["message", "edited_message", "callback_query", "channel_post"]
    )

    assert len(updates) == 12
    first, edit, *media, press, post, reply = updates
    assert first.message is not None
    assert edit.edited_message is not None
    assert edit.edited_message.message_id == first.message.message_id
    assert edit.edited_message.text == "câu hỏi đã sửa"
    messages = [update.message for update in media]
    assert [message.message_id for message in messages if message] == [2, 3, 4, 5, 6, 7, 8]
    assert messages[0] is not None
    assert messages[0].sticker is not None
    assert messages[-1] is not None
    assert messages[-1].contact is not None
    assert messages[-1].contact.user_id == 111
    assert press.callback_query is not None
    assert press.callback_query.data == "intent:contact"
    assert post.channel_post is not None
    assert post.channel_post.chat.type == "channel"
    assert reply.message is not None
    assert reply.message.chat.type == "supergroup"


# --------------------------------------------------------------------------- waiting helpers


async def test_wait_for_times_out_with_the_recorded_calls(fake: FakeTelegram, bot: Bot) -> None:
    await bot.get_me()

    with pytest.raises(AssertionError, match="getMe"):
        await fake.wait_for("sendMessage", timeout=0.2)


async def test_wait_for_after_mark_ignores_earlier_calls(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(111, "cũ")
    mark = fake.mark()

    later = asyncio.create_task(fake.wait_for("sendMessage", after=mark))
    await asyncio.sleep(0.05)
    assert not later.done()
    await bot.send_message(111, "mới")

    assert (await later).text == "mới"
