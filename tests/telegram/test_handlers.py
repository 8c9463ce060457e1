"""The Telegram conversation, update by update, through the real Dispatcher.

A recording session stands in for Telegram (tests/conversation.py): it keeps every request the
bot makes, checks the HTML the way Telegram parses it (and the 4,096-character limit, and that
each callback query is answered only once), and returns what Telegram would. Each test reads as
a conversation: the user writes or presses, and we look at what they are shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    SendContact,
    SendMessage,
)
from aiogram.types import Message

from bot import texts
from bot.cli import build_assistant, main
from bot.engine.assistant import Assistant, FollowUpContext
from bot.logs import RedactingFilter
from bot.settings import PROJECT_ROOT, ConfigError, Settings, load_settings
from bot.storage import IntentVotes, Storage
from bot.telegram.keyboards import FeedbackCb, TopicCb
from bot.telegram.runner import serve
from tests.support.conversation import (
    GROUP,
    LAN,
    TOKEN,
    Conversation,
    connect,
    inline,
    join,
    labels,
    message_and_card,
    messages,
    only,
    seen,
    settings,
    single_message,
)
from tests.support.storage_faults import writes_fail

PHONE_DISPLAY = "028 3817 2459"
PHONE = "02838172459"
UNCLEAR = ("kỹ năng", "vai trò", "trách nhiệm", "vai tro", "hợp tác", "làm gì", "CSO CMO")


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return build_assistant(settings())


class ManualClock(FollowUpContext):
    """Follow-up context on a clock the test moves."""

    now = 0.0

    def get(self, key: int, now: float | None = None) -> str | None:
        return super().get(key, self.now)

    def remember(self, key: int, intent: str | None, now: float | None = None) -> None:
        super().remember(key, intent, self.now)


@pytest.fixture
async def chat(assistant: Assistant, storage: Storage) -> Conversation:
    config = settings(follow_up_ttl=600)
    conversation = await connect(config, assistant, storage)
    conversation.dp["follow_ups"] = ManualClock(config.follow_up_ttl)
    return conversation


# --------------------------------------------------------------------------- /start and topics


async def test_start_greets_says_what_the_bot_does_and_offers_topics(chat: Conversation) -> None:
    calls = await chat.says("/start")

    reply = single_message(calls)
    text = seen(reply)
    assert text.startswith("Xin chào Lan! 👋")
    assert "CSO (Giám đốc Kinh doanh) và CMO (Giám đốc Tiếp thị)" in text
    assert text.endswith(texts.START_TOPICS)
    assert labels(reply.reply_markup) == [
        ["CSO", "CMO"],
        ["Khác biệt", "Hợp tác"],
        ["Khi nào cần", "Kỹ năng CSO"],
        ["Kỹ năng CMO", "Liên hệ"],
    ]


async def test_start_typed_in_capitals_greets_too(chat: Conversation) -> None:
    reply = single_message(await chat.says("/START"))
    assert seen(reply).startswith("Xin chào Lan! 👋")


async def test_another_business_file_runs_the_bot_in_telegram(storage: Storage) -> None:
    # The internet provider's file as it comes: its own help text, its topics, its answers.
    internet = PROJECT_ROOT / "tests" / "data" / "domains" / "internet" / "knowledge.json"
    config = settings(knowledge_file=internet)
    business = build_assistant(config)
    conversation = await connect(config, business, storage)

    start = single_message(await conversation.says("/start"))
    assert seen(start).startswith("Xin chào Lan! 👋")
    assert business.choose("help").text in seen(start)
    menu = [label for row in labels(start.reply_markup) for label in row]
    assert menu == [label for _, label in business.knowledge.menu_items()]
    assert "Lắp mạng mới" in menu

    reply = single_message(await conversation.says("gói rẻ nhất bao nhiêu một tháng?"))
    assert seen(reply).startswith(business.choose("plans_prices").text)


async def test_a_message_of_invisible_characters_asks_for_a_question(chat: Conversation) -> None:
    reply = single_message(await chat.says("\u200b\u200d\u2060\ufeff"))
    assert seen(reply) == texts.EMPTY_QUESTION


async def test_pressing_a_topic_answers_it(chat: Conversation) -> None:
    start = await chat.says("/start")

    calls = await chat.press("Kỹ năng CMO", on=start)

    answer, sent = only(calls, AnswerCallbackQuery), messages(calls)
    assert len(answer) == 1
    assert answer[0].text is None
    assert seen(sent[0]).startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")
    assert seen(sent[0]).endswith(texts.FEEDBACK_QUESTION)
    assert labels(sent[0].reply_markup)[-1] == ["👍", "👎"]


async def test_the_contact_topic_shows_the_phone_and_a_contact_card(chat: Conversation) -> None:
    start = await chat.says("/start")

    calls = await chat.press("Liên hệ", on=start)

    assert PHONE_DISPLAY in seen(messages(calls)[0])
    [card] = only(calls, SendContact)
    assert (card.phone_number, card.first_name) == (PHONE, texts.CONTACT_CARD_NAME)


# --------------------------------------------------------------------------- questions


async def test_a_question_without_diacritics_is_answered_with_related_topics(
    chat: Conversation,
) -> None:
    calls = await chat.says("cmo can ky nang gi")

    reply = single_message(calls)
    text = seen(reply)
    assert text.startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")
    assert text.endswith("\n\n" + texts.FEEDBACK_QUESTION)
    assert labels(reply.reply_markup) == [
        ["Kỹ năng CSO", "Trách nhiệm CMO"],
        ["Vai trò CMO"],
        ["👍", "👎"],
    ]


async def test_a_related_topic_button_answers_that_topic(chat: Conversation) -> None:
    first = await chat.says("cmo can ky nang gi")

    calls = await chat.press("Kỹ năng CSO", on=first)

    assert seen(messages(calls)[0]).startswith("Để làm tốt vai trò CSO, cần có những kỹ năng sau:")


def unclear_question(assistant: Assistant) -> tuple[str, list[str]]:
    """A short question the engine is unsure about, and the intents it offers. (Picked from a
    few, since the engine's tuning moves; what is under test is how a suggestion looks.)"""
    for question in UNCLEAR:
        decision = assistant.ask(question).decision
        if decision.action == "suggest":
            return question, list(decision.suggestions)
    raise AssertionError(f"the engine is sure about all of {UNCLEAR}: add an unclear question")


async def test_an_unclear_question_offers_titles_and_a_way_to_a_person(
    chat: Conversation, assistant: Assistant
) -> None:
    question, intents = unclear_question(assistant)

    reply = single_message(await chat.says(question))

    assert seen(reply) == texts.SUGGEST_INTRO
    titles = [[assistant.knowledge.entry(intent).title] for intent in intents]
    assert labels(reply.reply_markup) == [*titles, ["Không phải — gặp nhân viên hỗ trợ"]]
    assert not any(intent in str(labels(reply.reply_markup)) for intent in intents)  # no ids


async def test_choosing_a_suggestion_answers_it(chat: Conversation, assistant: Assistant) -> None:
    question, intents = unclear_question(assistant)
    suggestion = await chat.says(question)

    calls = await chat.press(assistant.knowledge.entry(intents[-1]).title, on=suggestion)

    assert len(only(calls, AnswerCallbackQuery)) == 1
    assert seen(messages(calls)[0]).startswith(assistant.choose(intents[-1]).text)


async def test_none_of_the_suggestions_hands_off_to_a_person(
    chat: Conversation, assistant: Assistant
) -> None:
    suggestion = await chat.says(unclear_question(assistant)[0])

    calls = await chat.press("Không phải — gặp nhân viên hỗ trợ", on=suggestion)

    text = seen(messages(calls)[0])
    assert text.startswith(texts.HANDOFF_CHOSEN)
    assert PHONE_DISPLAY in text
    assert only(calls, SendContact)[0].phone_number == PHONE


async def test_an_off_topic_question_is_handed_off_with_phone_and_contact_card(
    chat: Conversation,
) -> None:
    calls = await chat.says("Thời tiết Hà Nội hôm nay thế nào?")

    reply, card = message_and_card(calls)
    text = seen(reply)
    assert text.startswith(texts.HANDOFF_INTRO)
    assert f"📞 Điện thoại: {PHONE_DISPLAY}" in text
    assert "Câu hỏi bạn đã gửi: «Thời tiết Hà Nội hôm nay thế nào?»" in text
    assert reply.reply_markup is None
    assert card.phone_number == PHONE
    assert card.first_name == texts.CONTACT_CARD_NAME


async def test_help_explains_what_the_bot_can_do(chat: Conversation) -> None:
    reply = single_message(await chat.says("/help"))

    assert seen(reply).startswith("Mình là trợ lý tự động")
    assert ["👍", "👎"] not in labels(reply.reply_markup)


async def test_contact_gives_the_details_and_a_contact_card(chat: Conversation) -> None:
    reply, card = message_and_card(await chat.says("/contact"))

    text = seen(reply)
    assert f"📞 Điện thoại: {PHONE_DISPLAY}" in text
    assert "📍 Địa chỉ: 596 Đ. Hậu Giang, P.12, Quận 6, TP. Hồ Chí Minh" in text
    assert card.phone_number == PHONE


async def test_an_unknown_command_gets_a_pointer_to_the_real_ones(chat: Conversation) -> None:
    reply = single_message(await chat.says("/settings"))

    assert seen(reply) == texts.UNKNOWN_COMMAND


# --------------------------------------------------------------------------- follow-up context


async def test_a_follow_up_question_continues_the_previous_topic(chat: Conversation) -> None:
    first = await chat.says("CSO cần kỹ năng gì?")
    assert seen(messages(first)[0]).startswith("Để làm tốt vai trò CSO")

    calls = await chat.says("còn CMO thì sao?")

    assert seen(messages(calls)[0]).startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")


async def test_a_button_press_is_remembered_for_the_follow_up(chat: Conversation) -> None:
    start = await chat.says("/start")
    await chat.press("Kỹ năng CSO", on=start)

    calls = await chat.says("còn CMO thì sao?")

    assert seen(messages(calls)[0]).startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")


async def test_the_follow_up_context_expires(chat: Conversation) -> None:
    clock = chat.dp["follow_ups"]
    assert isinstance(clock, ManualClock)
    await chat.says("CSO cần kỹ năng gì?")

    clock.now += 601  # FOLLOW_UP_TTL is 600 s
    calls = await chat.says("còn CMO thì sao?")

    assert not seen(messages(calls)[0]).startswith("Để làm tốt vai trò CMO, cần có")


# --------------------------------------------------------------------------- what is not text


@pytest.mark.parametrize(
    "content",
    [
        {"sticker": {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512,
                     "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}},
        {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}],
         "caption": "CSO là gì?"},
        {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 3}},
        {"location": {"latitude": 10.75, "longitude": 106.63}},
        {"document": {"file_id": "d1", "file_unique_id": "u4", "file_name": "cv.pdf"}},
        {"contact": {"phone_number": "+84901234567", "first_name": "Lan"}},
    ],
    ids=["sticker", "photo", "voice", "location", "document", "contact"],
)  # fmt: skip
async def test_anything_but_text_gets_a_polite_request_for_text(
    chat: Conversation, content: dict[str, Any]
) -> None:
    reply = single_message(await chat.sends(content))

    assert seen(reply) == texts.NON_TEXT


async def test_a_service_message_gets_no_reply(chat: Conversation) -> None:
    calls = await chat.sends({"new_chat_title": "Nhóm mới"}, chat_id=GROUP)

    assert calls == []


async def test_an_edited_message_is_answered_like_a_new_one(chat: Conversation) -> None:
    calls = await chat.says("cmo can ky nang gi", edited=True)

    assert seen(messages(calls)[0]).startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")


# --------------------------------------------------------------------------- group chats


async def test_in_a_group_the_bot_stays_silent_unless_addressed(chat: Conversation) -> None:
    assert await chat.says("CSO là gì?", chat_id=GROUP) == []
    assert await chat.sends({"sticker": {"file_id": "s", "file_unique_id": "u", "type": "regular",
                                         "width": 1, "height": 1, "is_animated": False,
                                         "is_video": False}}, chat_id=GROUP) == []  # fmt: skip
    assert await chat.says("/other", chat_id=GROUP) == []


async def test_in_a_group_a_mention_is_answered_without_the_mention(
    chat: Conversation, assistant: Assistant
) -> None:
    calls = await chat.says("@cso_cmo_support_bot CSO là gì?", chat_id=GROUP)

    reply = single_message(calls)
    expected = assistant.ask("CSO là gì?").text
    assert seen(reply).startswith(expected)
    assert reply.reply_parameters is not None  # quotes the question it answers


async def test_in_a_group_a_reply_to_the_bot_is_answered(chat: Conversation) -> None:
    earlier = await chat.says("@cso_cmo_support_bot CSO là gì?", chat_id=GROUP)

    calls = await chat.says(
        "cmo can ky nang gi", chat_id=GROUP, reply_to=chat.last_bot_message(earlier)
    )

    assert seen(messages(calls)[0]).startswith("Để làm tốt vai trò CMO, cần có những kỹ năng sau:")


async def test_in_a_group_commands_are_answered(chat: Conversation) -> None:
    reply = single_message(await chat.says("/help@cso_cmo_support_bot", chat_id=GROUP))

    assert seen(reply).startswith("Mình là trợ lý tự động")
    assert await chat.says("/help@another_bot", chat_id=GROUP) == []


async def test_in_a_group_a_bare_mention_gets_an_invitation_to_ask(chat: Conversation) -> None:
    reply = single_message(await chat.says("@cso_cmo_support_bot", chat_id=GROUP))

    assert seen(reply) == texts.MENTION_ONLY


# --------------------------------------------------------------------------- safety


async def test_html_in_the_user_name_is_shown_as_typed(chat: Conversation) -> None:
    reply = single_message(await chat.says("/start", first_name="<b>Lan</b> & Co"))

    assert seen(reply).startswith("Xin chào <b>Lan</b> & Co! 👋")
    assert "&lt;b&gt;Lan&lt;/b&gt; &amp; Co" in reply.text


async def test_html_in_a_question_is_escaped_when_quoted_back(chat: Conversation) -> None:
    calls = await chat.says("Giá vé <script>alert(1)</script> bao nhiêu?")

    assert "«Giá vé <script>alert(1)</script> bao nhiêu?»" in seen(messages(calls)[0])


async def test_a_reply_over_4096_characters_is_split_on_line_boundaries(storage: Storage) -> None:
    long_answer = "\n".join(f"• Dòng thứ {n}: " + " ".join(["kỹ năng"] * 8) for n in range(1, 101))
    assert len(long_answer) > 5000
    big = build_assistant(settings())
    big.knowledge.entry("cmo_skills").answer = long_answer
    conversation = await connect(settings(), big, storage)

    sent = messages(await conversation.says("cmo can ky nang gi"))

    assert len(sent) == 2
    parts = [seen(call) for call in sent]
    assert all(len(part) <= 4096 for part in parts)
    assert parts[0].split("\n")[-1].startswith("• Dòng thứ")  # whole lines only
    assert "\n".join(parts) == long_answer + "\n\n" + texts.FEEDBACK_QUESTION
    assert sent[0].reply_markup is None
    assert labels(sent[1].reply_markup)[-1] == ["👍", "👎"]


FORGED: list[tuple[str, str | None, str]] = [
    ("unknown intent", TopicCb(intent="cfo_role").pack(), "message"),
    ("unparsable data", "xyz:1:2:3", "message"),
    ("no data", None, "message"),
    ("a vote that does not exist", "f:cmo_skills:maybe", "message"),
    ("feedback on an unknown intent", FeedbackCb(intent="nope", vote="up").pack(), "message"),
    ("a message too old to reach", TopicCb(intent="cso_role").pack(), "inaccessible"),
    ("no message at all", TopicCb(intent="cso_role").pack(), "none"),
]


@pytest.mark.parametrize(("data", "where"), [(d, w) for _, d, w in FORGED],
                         ids=[name for name, _, _ in FORGED])  # fmt: skip
async def test_a_stale_or_forged_button_gets_one_polite_answer(
    chat: Conversation, data: str | None, where: str
) -> None:
    message: Message | dict[str, Any] | None = None
    if where == "message":
        message = chat.last_bot_message(await chat.says("/start"))
    elif where == "inaccessible":
        message = {"chat": {"id": LAN, "type": "private"}, "message_id": 7, "date": 0}

    calls = await chat.press_data(data, message)

    assert len(calls) == 1
    assert isinstance(calls[0], AnswerCallbackQuery)
    assert calls[0].text == texts.STALE_BUTTON


async def test_thumbs_up_thanks_once_and_removes_only_the_feedback_row(
    chat: Conversation,
) -> None:
    answer = await chat.says("cmo can ky nang gi")

    calls = await chat.press("👍", on=answer)

    thanks, edit = calls
    assert isinstance(thanks, AnswerCallbackQuery)
    assert thanks.text == texts.FEEDBACK_THANKS_UP
    assert isinstance(edit, EditMessageReplyMarkup)
    assert labels(edit.reply_markup) == [["Kỹ năng CSO", "Trách nhiệm CMO"], ["Vai trò CMO"]]


async def test_a_thumbs_down_tapped_twice_on_a_slow_screen_counts_once(
    chat: Conversation, storage: Storage
) -> None:
    answer = await chat.says("CSO là gì?")

    first = await chat.press("👎", on=answer)
    second = await chat.press("👎", on=answer)  # the old keyboard, before the edit arrived

    assert only(second, AnswerCallbackQuery)[0].text == texts.FEEDBACK_THANKS_DOWN
    assert len(only(first, EditMessageReplyMarkup)) == 1
    assert only(second, EditMessageReplyMarkup) == []
    [votes] = (await storage.stats()).votes_7d
    assert (votes.up, votes.down) == (0, 1)


async def test_thumbs_down_thanks_for_the_feedback(chat: Conversation) -> None:
    answer = await chat.says("CSO là gì?")

    calls = await chat.press("👎", on=answer)

    assert only(calls, AnswerCallbackQuery)[0].text == texts.FEEDBACK_THANKS_DOWN
    assert len(only(calls, EditMessageReplyMarkup)) == 1


MINH = 222


def feedback_data_of(calls: list[Any], label: str) -> FeedbackCb:
    """The callback data of the 👍/👎 button `label` under the last message among `calls`."""
    markup = inline(messages(calls)[-1].reply_markup)
    assert markup is not None
    [data] = [b.callback_data for row in markup.inline_keyboard for b in row if b.text == label]
    assert data is not None
    return FeedbackCb.unpack(data)


async def test_a_vote_forged_with_another_users_question_id_is_a_stale_button(
    chat: Conversation, storage: Storage
) -> None:
    lans = feedback_data_of(await chat.says("CSO là gì?"), "👍")
    minh = await join(chat.dp, settings(), user_id=MINH)
    minhs = await minh.says("cmo can ky nang gi")
    under_his_answer = minh.last_bot_message(minhs)

    # Minh rewrites his own 👎 to carry Lan's question id, with her answer's intent or his own.
    forged = [
        FeedbackCb(intent=lans.intent, vote="down", q=lans.q).pack(),
        FeedbackCb(intent=feedback_data_of(minhs, "👎").intent, vote="down", q=lans.q).pack(),
    ]
    for data in forged:
        calls = await minh.press_data(data, under_his_answer)
        assert [(type(c), getattr(c, "text", None)) for c in calls] == [
            (AnswerCallbackQuery, texts.STALE_BUTTON)
        ]

    assert await storage.unanswered() == []
    assert (await storage.stats()).votes_7d == ()


async def test_a_vote_for_an_answer_the_user_did_not_get_is_a_stale_button(
    chat: Conversation, storage: Storage
) -> None:
    answer = await chat.says("CSO là gì?")
    mine = feedback_data_of(answer, "👎")
    under_it = chat.last_bot_message(answer)

    forged = [
        FeedbackCb(intent="cmo_skills", vote="down", q=mine.q).pack(),  # not the answer given
        FeedbackCb(intent=mine.intent, vote="down", q=mine.q + 1000).pack(),  # no such question
        FeedbackCb(intent="cmo_skills", vote="down").pack(),  # no question, not this answer's
    ]
    for data in forged:
        calls = await chat.press_data(data, under_it)
        assert [(type(c), getattr(c, "text", None)) for c in calls] == [
            (AnswerCallbackQuery, texts.STALE_BUTTON)
        ]

    assert await storage.unanswered() == []
    assert (await storage.stats()).votes_7d == ()
    # The real button still counts.
    calls = await chat.press("👎", on=answer)
    assert only(calls, AnswerCallbackQuery)[0].text == texts.FEEDBACK_THANKS_DOWN
    assert [r.text for r in await storage.unanswered()] == ["CSO là gì?"]


async def test_in_a_group_only_the_person_who_asked_can_rate_the_answer(
    chat: Conversation, storage: Storage
) -> None:
    answer = await chat.says("@cso_cmo_support_bot CSO là gì?", chat_id=GROUP)
    minh = await join(chat.dp, settings(), user_id=MINH)

    calls = await minh.press("👎", on=answer)  # the real button, under Lan's answer

    assert [(type(c), getattr(c, "text", None)) for c in calls] == [
        (AnswerCallbackQuery, texts.STALE_BUTTON)
    ]
    assert await storage.unanswered() == []
    calls = await chat.press("👎", on=answer)
    assert only(calls, AnswerCallbackQuery)[0].text == texts.FEEDBACK_THANKS_DOWN
    assert [r.text for r in await storage.unanswered()] == ["CSO là gì?"]


async def test_a_vote_under_a_topic_answer_counts_in_the_users_own_chat(
    chat: Conversation, storage: Storage
) -> None:
    start = chat.last_bot_message(await chat.says("/start"))
    answer = await chat.press_data(TopicCb(intent="cso_role").pack(), start)

    calls = await chat.press("👍", on=answer)

    assert only(calls, AnswerCallbackQuery)[0].text == texts.FEEDBACK_THANKS_UP
    assert (await storage.stats()).votes_7d == (IntentVotes("cso_role", 1, 0),)


async def test_while_the_database_cannot_be_written_answers_and_votes_go_on(
    chat: Conversation, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    writes_fail(storage)

    answer = await chat.says("CSO là gì?")
    thanks = await chat.press("👍", on=answer)

    assert seen(messages(answer)[0]).startswith("CSO (Chief Sales Officer)")
    assert only(thanks, AnswerCallbackQuery)[0].text == texts.FEEDBACK_THANKS_UP
    assert len(only(thanks, EditMessageReplyMarkup)) == 1  # counted: the row goes
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1

    writes_fail(storage, False)
    await chat.says("CMO là gì?")  # a write that works: the kept ones follow
    for _ in range(1000):
        stats = await storage.stats()
        if stats.questions_total == 2 and stats.votes_7d:
            break
        await asyncio.sleep(0.01)
    assert stats.questions_total == 2
    assert stats.votes_7d == (IntentVotes("cso_role", 1, 0),)


async def test_every_callback_data_fits_in_64_bytes(assistant: Assistant) -> None:
    for entry in assistant.knowledge.entries:
        for data in (
            TopicCb(intent=entry.id).pack(),
            FeedbackCb(intent=entry.id, vote="down").pack(),
        ):
            assert len(data.encode()) <= 64


async def test_an_error_in_a_handler_is_logged_and_apologised_for(
    chat: Conversation, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(question: str, previous_intent: str | None = None) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(chat.dp["assistant"], "ask", broken)

    with caplog.at_level(logging.ERROR):
        reply = single_message(await chat.says("CSO là gì?"))

    assert seen(reply) == texts.ERROR_REPLY
    assert "engine exploded" in caplog.text
    assert seen((await chat.says("/help"))[0]).startswith("Mình là trợ lý")  # still running


async def test_flood_control_is_waited_out_and_the_reply_still_arrives(
    chat: Conversation,
) -> None:
    chat.session.flood[SendMessage] = 1

    calls = await chat.says("/help")

    assert len(messages(calls)) == 2  # refused once with 429, then sent
    assert seen(messages(calls)[1]).startswith("Mình là trợ lý")


async def test_quick_messages_from_one_chat_are_answered_in_order(chat: Conversation) -> None:
    chat.session.delays = [0.2]  # Telegram is slow to take the first reply

    await asyncio.gather(chat.says("/contact"), chat.says("/help"))

    sent = [type(call).__name__ for call in chat.session.calls]
    assert sent == ["SendMessage", "SendContact", "SendMessage"]
    assert seen(chat.session.calls[2]).startswith("Mình là trợ lý")


# --------------------------------------------------------------------------- start-up


def test_run_without_a_token_stops_with_one_line_naming_bot_token(
    assistant: Assistant, capsys: pytest.CaptureFixture[str]
) -> None:
    code = serve(Settings(_env_file=None), assistant, webhook=False)

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "BOT_TOKEN" in err


def test_webhook_without_a_url_stops_with_one_line_naming_webhook_url(
    assistant: Assistant, capsys: pytest.CaptureFixture[str]
) -> None:
    code = serve(settings(), assistant, webhook=True)

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "WEBHOOK_URL" in err


def test_a_webhook_secret_telegram_would_refuse_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, webhook_secret="not allowed!")

    assert "WEBHOOK_SECRET" in str(caught.value)
    assert "not allowed!" not in str(caught.value)


def test_the_command_line_run_without_a_token_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("BOT_TOKEN", raising=False)

    assert main(["run"]) == 2
    assert "BOT_TOKEN" in capsys.readouterr().err


def _records(message: str, *args: object, exc: BaseException | None = None) -> Iterator[str]:
    handler_stream: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_stream.append(self.format(record))

    handler = Collect()
    handler.addFilter(RedactingFilter([TOKEN, "s3cret-webhook"]))
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error(message, *args, exc_info=exc)
    finally:
        log.removeHandler(handler)
    yield from handler_stream


def test_the_token_is_redacted_from_log_lines_and_tracebacks() -> None:
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getUpdates")
    except ConnectionError as exc:
        error = exc
    [line] = _records("request to %s failed, secret %s", f"/bot{TOKEN}/x", "s3cret-webhook",
                      exc=error)  # fmt: skip

    assert TOKEN not in line
    assert "s3cret-webhook" not in line
    assert "[REDACTED]" in line
    assert "ConnectionError" in line
