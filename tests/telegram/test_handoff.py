"""Live handoff through the Bot API stand-in: a customer asks for a person, the operators talk
to them from a forum topic, and the bot hands them back with a rating."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot import texts
from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.settings import Settings
from bot.storage import Storage
from bot.support import handoff
from bot.support.handoff import HandoffDesk
from bot.telegram.app import build_dispatcher
from bot.telegram.keyboards import PersonCb, RateCb
from bot.telegram.middlewares import InFlight
from tests.support.fake_telegram import Call, FakeTelegram
from tests.support.live_polling import until

LAN = 111  # a customer
MAI = 222  # another customer
OPS = -1001234567890  # the operators' forum group
HUNG = 900  # an operator


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def data_of(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


class Support:
    """The bot polling the stand-in, with an operators' group that has topics."""

    def __init__(
        self, fake: FakeTelegram, data_dir: Path, operators: int = OPS, **settings: Any
    ) -> None:
        self.fake = fake
        self.data_dir = data_dir
        self.operators = operators
        self.settings = Settings(
            _env_file=None,
            bot_token=fake.token,
            data_dir=data_dir,
            operator_chat_id=operators,
            **{"operator_rate": 600, "flood_burst": 100, **settings},
        )
        self.assistant: Assistant = build_assistant(self.settings)
        self.bot: Bot = fake.make_bot()
        self.dp: Dispatcher | None = None
        self.storage: Storage | None = None
        self.polling: asyncio.Task[None] | None = None
        fake.add_chat(operators, "supergroup", title="Hỗ trợ khách hàng", is_forum=True)

    async def start(self) -> None:
        self.storage = await Storage.open(self.data_dir, retention_days=90)
        self.dp = build_dispatcher(self.settings, self.assistant, self.storage)
        mark = self.fake.mark()
        self.polling = asyncio.create_task(
            self.dp.start_polling(self.bot, handle_signals=False, close_bot_session=False)
        )
        await self.fake.wait_for("getUpdates", after=mark)

    async def stop(self) -> None:
        if self.dp is not None and self.polling is not None:
            await self.dp.stop_polling()
            await self.polling
        if self.storage is not None:
            await self.storage.close()
        self.dp = self.polling = self.storage = None

    @property
    def desk(self) -> HandoffDesk:
        assert self.dp is not None
        desk: HandoffDesk = self.dp["desk"]
        return desk

    async def handled(self, update_id: int) -> None:
        """Until every update up to `update_id` has been handled."""
        assert self.dp is not None
        in_flight: InFlight = self.dp["in_flight"]
        await until(
            lambda: (in_flight.last_update_id or 0) >= update_id and not in_flight.tasks,
            within=15,
        )

    @property
    def db(self) -> Storage:
        assert self.dp is not None
        db: Storage = self.dp["db"]
        return db

    # -- what people do

    async def customer_says(self, text: str, user: int = LAN, name: str = "Lan") -> Call:
        mark = self.fake.mark()
        self.fake.user_text(text, user_id=user, first_name=name)
        return await self.fake.wait_for("sendMessage", lambda c: c.chat_id == user, after=mark)

    async def customer_asks_for_a_person(self, user: int = LAN, name: str = "Lan") -> int:
        """Returns the customer's topic id once the card is in it."""
        mark = self.fake.mark()
        reply = await self.customer_says("cho tôi gặp nhân viên", user, name)
        assert reply.text == texts.HANDOFF_STARTED
        card = await self.fake.wait_for(
            "sendMessage", lambda c: c.chat_id == self.operators, after=mark
        )
        topic: int = card.params["message_thread_id"]
        return topic

    def operator_writes(self, topic: int, text: str) -> None:
        self.fake.user_text(
            text,
            user_id=HUNG,
            first_name="Hùng",
            chat_id=self.operators,
            chat_type="supergroup",
            message_thread_id=topic,
            is_topic_message=True,
        )

    def copies_to(self, chat_id: int, after: int) -> list[Call]:
        return [
            c
            for c in self.fake.calls[after:]
            if c.method == "copyMessage" and c.chat_id == chat_id and c.error is None
        ]

    async def copied(self, chat_id: int, after: int, count: int) -> list[Call]:
        """The messages copied to `chat_id` since `after`, once there are `count` of them."""
        await until(lambda: len(self.copies_to(chat_id, after)) >= count, within=15)
        return self.copies_to(chat_id, after)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def support(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[Support]:
    support = Support(fake, tmp_path)
    await support.start()
    try:
        yield support
    finally:
        await support.stop()


async def test_asking_for_a_person_opens_a_topic_with_a_card(
    support: Support, fake: FakeTelegram
) -> None:
    await support.customer_says("lương CSO bao nhiêu một tháng")
    topic = await support.customer_asks_for_a_person()

    assert fake.topics(OPS)[topic].name.startswith("Lan · ")
    card = await fake.wait_for("sendMessage", lambda c: c.chat_id == OPS)
    assert "Lan" in (card.text or "")
    assert "lương CSO bao nhiêu một tháng" in (card.text or "")
    assert buttons(card) == [texts.CLOSE_BUTTON]


async def test_text_and_a_photo_go_from_the_customer_to_the_topic_and_back(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()

    mark = fake.mark()
    fake.user_text("Mình cần tư vấn tuyển CMO cho công ty 20 người")
    fake.user_photo("ảnh sơ đồ tổ chức")
    to_topic = await support.copied(OPS, mark, 2)
    assert [c.params["message_thread_id"] for c in to_topic] == [topic, topic]
    relayed = [fake.message(OPS, c.result["message_id"]) for c in to_topic]
    assert relayed[0] is not None
    assert relayed[0]["text"].startswith("Mình cần tư vấn")
    assert relayed[1] is not None
    assert "photo" in relayed[1]

    mark = fake.mark()
    support.operator_writes(topic, "Chào Lan, mình là Hùng. Công ty bạn bán hàng B2B phải không?")
    fake.user_photo(
        "Sơ đồ tham khảo",
        user_id=HUNG,
        chat_id=OPS,
        chat_type="supergroup",
        message_thread_id=topic,
        is_topic_message=True,
    )
    to_lan = await support.copied(LAN, mark, 2)
    first = fake.message(LAN, to_lan[0].result["message_id"])
    second = fake.message(LAN, to_lan[1].result["message_id"])
    assert first is not None
    assert first["text"].startswith("Chào Lan, mình là Hùng")
    assert second is not None
    assert "photo" in second
    assert second["caption"] == "Sơ đồ tham khảo"


async def test_the_bot_stays_silent_while_a_person_handles_the_conversation(
    support: Support, fake: FakeTelegram
) -> None:
    await support.customer_asks_for_a_person()

    mark = fake.mark()
    fake.user_text("CSO là gì?")  # a question the bot would answer on its own
    assert len(await support.copied(OPS, mark, 1)) == 1  # passed on; the handler is done
    assert fake.sent_messages(LAN)[-1].text == texts.HANDOFF_STARTED

    # Other customers still get answers from the bot.
    reply = await support.customer_says("CSO là gì?", user=MAI, name="Mai")
    assert "CSO" in (reply.text or "")


async def test_close_hands_the_customer_back_and_asks_for_a_rating(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    mark = fake.mark()
    support.operator_writes(topic, "Bạn cần gì thêm không ạ?")
    await support.copied(LAN, mark, 1)

    mark = fake.mark()
    support.operator_writes(topic, "/close")
    ask = await fake.wait_for("sendMessage", lambda c: c.chat_id == LAN, after=mark)
    assert ask.text == texts.HANDOFF_CLOSED_USER
    assert buttons(ask) == [texts.RATING_LABEL.format(stars=n) for n in range(1, 6)]
    note = await fake.wait_for("sendMessage", lambda c: c.chat_id == OPS, after=mark)
    assert note.text == texts.OPERATOR_CLOSED

    # Back with the bot: a question is answered again.
    reply = await support.customer_says("CMO cần kỹ năng gì?")
    assert reply.text != texts.HANDOFF_STARTED
    assert "CMO" in (reply.text or "")

    mark = fake.mark()
    handoff_id = RateCb.unpack(data_of(ask)[3]).h
    fake.press(RateCb(h=handoff_id, stars=4).pack(), message_id=ask.result["message_id"])
    answer = await fake.wait_for("answerCallbackQuery", after=mark)
    assert answer.params["text"] == texts.RATING_THANKS
    rated = await fake.wait_for("sendMessage", lambda c: c.chat_id == OPS, after=mark)
    assert rated.text == texts.OPERATOR_RATED.format(stars="⭐⭐⭐⭐")
    handoff = await support.db.handoff(handoff_id)
    assert handoff is not None
    assert handoff.rating == 4
    assert handoff.status == "closed"

    # A second rating of the same conversation is not counted.
    mark = fake.mark()
    fake.press(RateCb(h=handoff_id, stars=1).pack(), message_id=ask.result["message_id"])
    again = await fake.wait_for("answerCallbackQuery", after=mark)
    assert again.params["text"] == texts.RATING_TOO_LATE


async def test_the_close_button_under_the_card_works_like_close(
    support: Support, fake: FakeTelegram
) -> None:
    await support.customer_asks_for_a_person()
    card = fake.sent_messages(OPS)[-1]

    mark = fake.mark()
    fake.press(
        data_of(card)[0],
        user_id=HUNG,
        chat_id=OPS,
        message_id=card.result["message_id"],
        first_name="Hùng",
    )
    ask = await fake.wait_for("sendMessage", lambda c: c.chat_id == LAN, after=mark)
    assert ask.text == texts.HANDOFF_CLOSED_USER


async def test_a_deleted_topic_is_recreated_on_the_next_message(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    fake.topics(OPS)[topic].deleted = True  # an operator deleted it

    mark = fake.mark()
    fake.user_text("Alo, còn ai ở đó không?")
    await support.copied(OPS, mark, 1)
    new_topics = [t for t in fake.topics(OPS).values() if not t.deleted]
    assert len(new_topics) == 1
    assert new_topics[0].message_thread_id != topic
    fresh = new_topics[0].message_thread_id
    copied = support.copies_to(OPS, mark)
    assert [c.params["message_thread_id"] for c in copied] == [fresh]
    card = [c for c in fake.sent_messages(OPS)[-2:] if c.params["message_thread_id"] == fresh]
    assert card
    assert texts.OPERATOR_CARD_TITLE.format(name="Lan") in (card[0].text or "")

    # The operators' replies from the new topic reach the customer.
    mark = fake.mark()
    support.operator_writes(fresh, "Có mình đây ạ.")
    assert len(await support.copied(LAN, mark, 1)) == 1


async def test_two_unanswered_questions_in_a_row_offer_a_person(
    support: Support, fake: FakeTelegram
) -> None:
    first = await support.customer_says("CSO là gì?")
    fake.press(data_of(first)[-1], message_id=first.result["message_id"])  # 👎
    second = await support.customer_says("CMO là gì?")  # handled after the 👎, in order
    assert texts.PERSON_OFFER not in [c.text for c in fake.sent_messages(LAN)]

    mark = fake.mark()
    fake.press(data_of(second)[-1], message_id=second.result["message_id"])  # 👎 again
    offer = await fake.wait_for("sendMessage", lambda c: c.chat_id == LAN, after=mark)
    assert offer.text == texts.PERSON_OFFER
    assert data_of(offer) == [PersonCb().pack()]

    mark = fake.mark()
    fake.press(PersonCb().pack(), message_id=offer.result["message_id"])
    started = await fake.wait_for("sendMessage", lambda c: c.chat_id == LAN, after=mark)
    assert started.text == texts.HANDOFF_STARTED


async def test_a_handoff_reply_carries_the_person_button(
    support: Support, fake: FakeTelegram
) -> None:
    reply = await support.customer_says("thời tiết Hà Nội hôm nay thế nào")
    assert texts.HANDOFF_INTRO in (reply.text or "")
    assert buttons(reply) == [texts.PERSON_BUTTON]


async def test_no_operator_reply_in_time_tells_the_customer_once_with_the_phone(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    support = Support(fake, tmp_path, handoff_timeout=0.5)
    await support.start()
    try:
        await support.customer_asks_for_a_person()
        notice = await fake.wait_for(
            "sendMessage",
            lambda c: c.chat_id == LAN and c.text != texts.HANDOFF_STARTED,
            timeout=10,
        )
        phone = support.assistant.knowledge.contact.phone_display
        assert notice.text == texts.HANDOFF_TIMEOUT_NOTICE.format(phone=phone)
        await asyncio.sleep(1.5)  # several more checks go by: no second notice
        notices = [c for c in fake.sent_messages(LAN) if c.text == notice.text]
        assert len(notices) == 1
    finally:
        await support.stop()


async def test_conversations_and_questions_survive_a_restart(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    support = Support(fake, tmp_path)
    await support.start()
    await support.customer_says("CSO là gì?")
    topic = await support.customer_asks_for_a_person()
    await support.stop()

    support = Support(fake, tmp_path)
    await support.start()
    try:
        mark = fake.mark()
        fake.user_text("Mình vẫn đang chờ ạ")  # still with the operator: relayed, not answered
        support.operator_writes(topic, "Xin lỗi đã để bạn chờ!")
        to_topic = await support.copied(OPS, mark, 1)
        assert [c.params["message_thread_id"] for c in to_topic] == [topic]
        assert len(await support.copied(LAN, mark, 1)) == 1
        asked = await support.db.recent_questions(LAN)
        assert [q.text for q in asked] == ["CSO là gì?"]
    finally:
        await support.stop()


async def test_without_an_operator_group_the_person_button_gives_the_contacts(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    support = Support(fake, tmp_path)
    support.settings = support.settings.model_copy(update={"operator_chat_id": None})
    await support.start()
    try:
        reply = await support.customer_says("thời tiết Hà Nội hôm nay thế nào")
        assert buttons(reply) == []
        mark = fake.mark()
        fake.press(PersonCb().pack())
        contacts = await fake.wait_for("sendMessage", lambda c: c.chat_id == LAN, after=mark)
        assert texts.HANDOFF_CHOSEN in (contacts.text or "")
        assert not fake.topics(OPS)
    finally:
        await support.stop()


async def test_an_operator_writing_after_close_takes_the_customer_back(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    mark = fake.mark()
    support.operator_writes(topic, "/close")
    await fake.wait_for("sendMessage", lambda c: c.text == texts.HANDOFF_CLOSED_USER, after=mark)

    mark = fake.mark()
    support.operator_writes(topic, "À, mình gửi thêm tài liệu cho bạn nhé.")
    assert len(await support.copied(LAN, mark, 1)) == 1

    mark = fake.mark()
    fake.user_text("CSO là gì?")  # with the operator again: passed on, not answered
    assert len(await support.copied(OPS, mark, 1)) == 1
    assert fake.sent_messages(LAN)[-1].text == texts.HANDOFF_CLOSED_USER


async def test_a_reply_to_a_customer_who_blocked_the_bot_is_reported_in_the_topic(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    fake.forbid_chat(LAN)

    mark = fake.mark()
    support.operator_writes(topic, "Bạn còn cần hỗ trợ không?")
    note = await fake.wait_for(
        "sendMessage", lambda c: c.chat_id == OPS and c.error is None, after=mark
    )
    assert note.text == texts.HANDOFF_RELAY_FAILED.format(reason=texts.OPERATOR_BLOCKED)
    assert note.params["message_thread_id"] == topic


async def test_the_customer_can_end_the_conversation_and_rate_it(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    mark = fake.mark()
    support.operator_writes(topic, "Mình gửi bạn tài liệu rồi nhé.")
    await support.copied(LAN, mark, 1)

    mark = fake.mark()
    ask = await support.customer_says("/ketthuc")
    assert ask.text == texts.HANDOFF_ENDED_USER
    assert buttons(ask) == [texts.RATING_LABEL.format(stars=n) for n in range(1, 6)]
    note = await fake.wait_for("sendMessage", lambda c: c.chat_id == OPS, after=mark)
    assert note.text == texts.OPERATOR_CUSTOMER_ENDED
    assert support.copies_to(OPS, mark) == []  # the command itself is not relayed

    # Back with the bot: a question is answered, not passed to the operators.
    mark = fake.mark()
    reply = await support.customer_says("CMO cần kỹ năng gì?")
    assert "CMO" in (reply.text or "")
    assert support.copies_to(OPS, mark) == []

    # Outside a handoff the command is one the bot does not know.
    unknown = await support.customer_says("/ketthuc")
    assert unknown.text == texts.UNKNOWN_COMMAND


NEW_OPS = -1009876543210  # the operators' new forum group


async def test_a_new_operator_group_never_mixes_its_topics_with_the_old_groups(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    support = Support(fake, tmp_path)
    await support.start()
    old_topic = await support.customer_asks_for_a_person()  # Lan is with the operators
    await support.stop()

    # OPERATOR_CHAT_ID moves to a new forum group, where the operators open a topic of their
    # own that happens to get the id of Lan's topic in the old group.
    support = Support(fake, tmp_path, operators=NEW_OPS)
    await support.start()
    try:
        internal = 0
        while internal < old_topic:
            created = await support.bot.create_forum_topic(NEW_OPS, "Nội bộ")
            internal = created.message_thread_id
        assert internal == old_topic

        mark = fake.mark()
        support.operator_writes(internal, "Họp giao ban lúc 15 giờ nhé mọi người")
        fake.user_text("Alo, mình vẫn đang chờ ạ")  # Lan, still with the operators
        to_group = await support.copied(NEW_OPS, mark, 1)
        await fake.wait_idle()

        # Lan's message went to a topic the bot opened in the new group, with a card …
        fresh = to_group[0].params["message_thread_id"]
        assert fresh != internal
        assert fake.topics(NEW_OPS)[fresh].name.startswith("Lan · ")
        card = [c for c in fake.sent_messages(NEW_OPS) if c.params["message_thread_id"] == fresh]
        assert texts.OPERATOR_CARD_TITLE.format(name="Lan") in (card[0].text or "")
        # … and the operators' internal talk never reached Lan.
        assert support.copies_to(LAN, mark) == []
        seen_by_lan = [m.get("text", "") for m in fake.messages(LAN)]
        assert not any("Họp giao ban" in text for text in seen_by_lan)

        # The operators' reply in the new topic does reach her.
        mark = fake.mark()
        support.operator_writes(fresh, "Chào Lan, mình là Hùng.")
        assert len(await support.copied(LAN, mark, 1)) == 1
    finally:
        await support.stop()


async def test_a_message_in_a_topic_the_bot_did_not_open_is_not_relayed(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    created = await support.bot.create_forum_topic(OPS, "Nội bộ")  # the operators' own topic
    assert created.message_thread_id != topic

    mark = fake.mark()
    support.operator_writes(created.message_thread_id, "Ai trực ca tối nay?")
    support.operator_writes(topic, "Chào Lan, mình là Hùng.")
    copies = await support.copied(LAN, mark, 1)
    await fake.wait_idle()
    assert len(support.copies_to(LAN, mark)) == 1
    copied = fake.message(LAN, copies[0].result["message_id"])
    assert copied is not None
    assert copied["text"] == "Chào Lan, mình là Hùng."


ANONYMOUS_ADMIN = 1087968824  # Telegram's GroupAnonymousBot: the `from` of an anonymous admin
CHANNEL = -1001111111111  # a channel someone in the group posts as


def post_as(fake: FakeTelegram, topic: int, text: str, sender_chat: dict[str, Any]) -> None:
    """A message in the operators' group written as a chat, not as a person: an anonymous
    admin (the group itself) or a channel identity."""
    is_group = sender_chat["id"] == OPS
    message = fake.text_message(
        text,
        user_id=ANONYMOUS_ADMIN if is_group else 136817688,  # Channel_Bot for a channel
        first_name="Group" if is_group else "Channel",
        username="GroupAnonymousBot" if is_group else "Channel_Bot",
        chat_id=OPS,
        chat_type="supergroup",
        message_thread_id=topic,
        is_topic_message=True,
        from_bot=True,
    )
    message["sender_chat"] = sender_chat
    fake.push_update("message", message)


async def test_an_anonymous_admins_reply_reaches_the_customer(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()

    mark = fake.mark()
    group = {"id": OPS, "type": "supergroup", "title": "Hỗ trợ khách hàng"}
    post_as(fake, topic, "Chào Lan, bên mình đã nhận yêu cầu của bạn.", group)
    copies = await support.copied(LAN, mark, 1)
    copied = fake.message(LAN, copies[0].result["message_id"])
    assert copied is not None
    assert copied["text"] == "Chào Lan, bên mình đã nhận yêu cầu của bạn."


async def test_a_reply_posted_as_a_channel_is_not_relayed_and_the_topic_says_why(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()

    mark = fake.mark()
    channel = {"id": CHANNEL, "type": "channel", "title": "Tin tức công ty"}
    post_as(fake, topic, "Khuyến mãi tháng này!", channel)
    note = await fake.wait_for(
        "sendMessage", lambda c: c.chat_id == OPS and c.error is None, after=mark
    )
    assert note.text == texts.OPERATOR_NOT_RELAYED_AS_CHANNEL.format(name="Tin tức công ty")
    assert note.params["message_thread_id"] == topic
    assert support.copies_to(LAN, mark) == []


async def test_an_operators_edit_corrects_the_customers_copy(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    mark = fake.mark()
    support.operator_writes(topic, "Bạn gọi số 0901 234 567 nhé.")
    copy = (await support.copied(LAN, mark, 1))[0]
    wrong = fake.messages(OPS)[-1]
    assert wrong["text"] == "Bạn gọi số 0901 234 567 nhé."

    mark = fake.mark()
    fake.user_edit(
        "Bạn gọi số 0901 234 765 nhé.",
        wrong["message_id"],
        user_id=HUNG,
        chat_id=OPS,
        chat_type="supergroup",
        first_name="Hùng",
    )
    await fake.wait_for("editMessageText", lambda c: c.chat_id == LAN and c.ok, after=mark)
    seen = fake.message(LAN, copy.result["message_id"])
    assert seen is not None
    assert seen["text"] == "Bạn gọi số 0901 234 765 nhé."
    assert support.copies_to(LAN, mark) == []  # corrected in place, not sent twice


async def test_an_edited_caption_corrects_the_customers_copy(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    mark = fake.mark()
    fake.user_photo(
        "Bảng giá 2024",
        user_id=HUNG,
        first_name="Hùng",
        chat_id=OPS,
        chat_type="supergroup",
        message_thread_id=topic,
        is_topic_message=True,
    )
    copy = (await support.copied(LAN, mark, 1))[0]
    edited = dict(fake.messages(OPS)[-1])
    edited["caption"] = "Bảng giá 2025"
    edited["edit_date"] = edited["date"] + 30

    mark = fake.mark()
    fake.push_update("edited_message", edited)
    await fake.wait_for("editMessageCaption", lambda c: c.chat_id == LAN and c.ok, after=mark)
    seen = fake.message(LAN, copy.result["message_id"])
    assert seen is not None
    assert seen["caption"] == "Bảng giá 2025"
    assert "photo" in seen


async def test_an_edit_the_customers_copy_cannot_take_is_sent_marked_as_corrected(
    support: Support, fake: FakeTelegram
) -> None:
    topic = await support.customer_asks_for_a_person()
    mark = fake.mark()
    support.operator_writes(topic, "Hẹn bạn thứ <b>Ba</b> lúc 9 giờ.")
    copy = (await support.copied(LAN, mark, 1))[0]
    wrong = fake.messages(OPS)[-1]
    await support.bot.delete_message(LAN, copy.result["message_id"])  # gone from Lan's chat

    mark = fake.mark()
    fake.user_edit(
        "Hẹn bạn thứ <b>Tư</b> lúc 9 giờ.",
        wrong["message_id"],
        user_id=HUNG,
        chat_id=OPS,
        chat_type="supergroup",
        first_name="Hùng",
    )
    corrected = await fake.wait_for("sendMessage", lambda c: c.chat_id == LAN and c.ok, after=mark)
    seen = fake.message(LAN, corrected.result["message_id"])
    assert seen is not None
    assert seen["text"] == texts.HANDOFF_CORRECTED + "\n" + "Hẹn bạn thứ <b>Tư</b> lúc 9 giờ."


def texts_in(fake: FakeTelegram, chat_id: int, calls: list[Call]) -> list[str]:
    """What the messages copied by `calls` say in `chat_id`."""
    said = []
    for call in calls:
        message = fake.message(chat_id, call.result["message_id"])
        assert message is not None
        said.append(message.get("text", ""))
    return said


async def test_a_new_customers_topic_is_not_stuck_behind_another_customers_backlog(
    support: Support, fake: FakeTelegram
) -> None:
    lan_topic = await support.customer_asks_for_a_person()
    # The operators' group is slow to take Lan's first message; the others pile up behind it.
    fake.set_delay("copyMessage", 3)

    mark = fake.mark()
    for n in range(1, 26):
        last = fake.user_text(f"Tin số {n} của Lan")
    await support.handled(last)  # all 25 wait for the operators' group
    await support.customer_says("cho tôi gặp nhân viên", user=MAI, name="Mai")
    fake.set_delay("copyMessage", 0)  # the group is quick again once the first is through
    mai_topic = await fake.wait_for("createForumTopic", after=mark, timeout=30)
    mai_card = await fake.wait_for(
        "sendMessage",
        lambda c: c.params.get("message_thread_id") == mai_topic.result["message_thread_id"],
        after=mark,
    )

    to_group = [c for c in fake.calls[mark:] if c.chat_id == OPS]
    assert len(to_group[: to_group.index(mai_topic)]) <= 2  # Lan's sends before Mai's topic
    assert to_group.index(mai_card) == to_group.index(mai_topic) + 1
    assert texts.OPERATOR_CARD_TITLE.format(name="Mai") in (mai_card.text or "")

    # Lan loses nothing: all 25 reach her topic, in order.
    lan = await support.copied(OPS, mark, 25)
    assert all(c.params["message_thread_id"] == lan_topic for c in lan)
    assert texts_in(fake, OPS, lan) == [f"Tin số {n} của Lan" for n in range(1, 26)]


async def test_relays_waiting_at_shutdown_are_sent_after_the_restart_in_order(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    support = Support(fake, tmp_path)
    await support.start()
    topic = await support.customer_asks_for_a_person()
    await support.stop()

    # The operators' group takes one message a minute: Lan's messages wait.
    support = Support(fake, tmp_path, operator_rate=1)
    await support.start()
    mark = fake.mark()
    for n in range(1, 22):
        last = fake.user_text(f"Tin số {n}")
    await support.copied(OPS, mark, 1)  # the minute's one message
    await support.handled(last)
    with caplog.at_level(logging.WARNING, logger=handoff.__name__):
        await support.desk.stop(0)  # the shutdown's grace ends before the rest could go
        await support.stop()
    assert texts_in(fake, OPS, support.copies_to(OPS, mark)) == ["Tin số 1"]

    mark = fake.mark()
    support = Support(fake, tmp_path)
    await support.start()
    try:
        await support.copied(OPS, mark, 20)
        await fake.wait_idle()
        after = support.copies_to(OPS, mark)
        assert texts_in(fake, OPS, after) == [f"Tin số {n}" for n in range(2, 22)]
        assert {c.params["message_thread_id"] for c in after} == {topic}
    finally:
        await support.stop()
    kept = [r.getMessage() for r in caplog.records if "after the restart" in r.getMessage()]
    assert kept
    assert kept[0].startswith("20 ")


async def test_a_customer_over_the_queue_limit_is_told_once_and_drops_are_logged(
    support: Support,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handoff, "CUSTOMER_QUEUE_LIMIT", 5)
    await support.customer_asks_for_a_person()
    fake.set_delay("copyMessage", 3)  # the group is slow to take her first message

    mark = fake.mark()
    with caplog.at_level(logging.WARNING, logger=handoff.__name__):
        for n in range(1, 11):
            last = fake.user_text(f"Tin số {n}")
        await support.handled(last)
    fake.set_delay("copyMessage", 0)
    notices = [c for c in fake.calls[mark:] if c.chat_id == LAN and c.method == "sendMessage"]
    assert [c.text for c in notices] == [texts.HANDOFF_QUEUE_FULL]

    await support.copied(OPS, mark, 5)
    await fake.wait_idle()
    relayed = texts_in(fake, OPS, support.copies_to(OPS, mark))
    # Five wait at most, plus the first if it was on its way when the others came.
    assert len(relayed) in (5, 6)
    assert relayed == [f"Tin số {n}" for n in range(1, len(relayed) + 1)]
    dropped = [r for r in caplog.records if "not relayed" in r.getMessage()]
    assert len(dropped) == 10 - len(relayed)

    # Once her messages have gone, the next ones are relayed again.
    mark = fake.mark()
    fake.user_text("Mình gửi lại các tin sau nhé")
    assert texts_in(fake, OPS, await support.copied(OPS, mark, 1)) == [
        "Mình gửi lại các tin sau nhé"
    ]
