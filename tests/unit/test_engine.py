"""What a user gets from the engine, written as short conversations.

Each test states what the user must see; a failure here is a behaviour to fix in the engine
or the lexicon, not in the test.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from bot.engine.knowledge import Knowledge, load_knowledge
from bot.engine.matcher import Engine
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT
from tests.support.decisions import assert_well_formed

EVAL_QUESTIONS = [
    json.loads(line)["q"]
    for line in (PROJECT_ROOT / "tests" / "data" / "eval.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_knowledge(DEFAULT_KNOWLEDGE))


# -- the three actions ------------------------------------------------------------------------


def test_a_clear_question_is_answered(engine: Engine) -> None:
    # User: "CSO là gì?"  Bot: explains the CSO's role.
    decision = engine.decide("CSO là gì?")
    assert decision.action == "answer"
    assert decision.intent == "cso_role"
    assert decision.suggestions == ()
    assert_well_formed(decision)


@pytest.mark.parametrize(
    ("question", "must_offer"),
    [
        # Both roles lead a strategy (sales, marketing): the bot cannot know which one.
        ("chiến lược", None),
    ],
)
def test_a_vague_question_gets_two_or_three_choices_best_first(
    engine: Engine, question: str, must_offer: str | None
) -> None:
    decision = engine.decide(question)
    assert decision.action == "suggest", decision
    assert_well_formed(decision)
    assert 2 <= len(decision.suggestions) <= 3, decision.suggestions
    assert len(set(decision.suggestions)) == len(decision.suggestions)
    assert decision.suggestions[0] == decision.intent
    scores = dict(engine.rank(question))
    offered = [scores[intent] for intent in decision.suggestions]
    assert decision.suggestions[0] == engine.rank(question)[0][0]
    assert offered == sorted(offered, reverse=True)
    if must_offer is not None:
        assert must_offer in decision.suggestions


def test_an_off_topic_question_is_handed_to_a_human(engine: Engine) -> None:
    decision = engine.decide("Tối nay MU đá với ai?")
    assert decision.action == "handoff"
    assert_well_formed(decision)


@pytest.mark.parametrize(
    "question",
    ["CTO là gì?", "CFO làm gì?", "COO cần kỹ năng gì?", "Giám đốc tài chính làm gì?"],
)
def test_look_alike_job_titles_are_handed_off(engine: Engine, question: str) -> None:
    # The article covers the CSO and the CMO only; a CTO answer would be made up.
    decision = engine.decide(question)
    assert decision.action == "handoff", decision
    assert_well_formed(decision)


# -- confidence ---------------------------------------------------------------------------------


def test_confidence_is_within_zero_and_one_on_every_evaluation_question(engine: Engine) -> None:
    for question in EVAL_QUESTIONS:
        assert_well_formed(engine.decide(question))


@pytest.mark.parametrize(
    "question",
    ["", "   ", "?!?", "😀", "CSO " * 500, "<b>CSO</b>", "\u200b", "a\u0301" * 5000, "0" * 400],
)
def test_odd_input_still_gets_a_well_formed_decision(engine: Engine, question: str) -> None:
    assert_well_formed(engine.decide(question))


# -- the ways people type -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "What does a head of sales do?",
        "What does a sales director do?",
        "What does a Chief Sales Officer do?",
    ],
)
def test_an_english_title_is_understood(engine: Engine, question: str) -> None:
    decision = engine.decide(question)
    assert decision.action == "answer", decision
    assert decision.intent in {"cso_responsibilities", "cso_role"}


def test_a_question_without_diacritics_is_understood(engine: Engine) -> None:
    decision = engine.decide("cmo can ky nang gi")
    assert (decision.action, decision.intent) == ("answer", "cmo_skills")


def test_teencode_is_understood(engine: Engine) -> None:
    decision = engine.decide("gđ kd cần kĩ năg j")
    assert (decision.action, decision.intent) == ("answer", "cso_skills")


@pytest.mark.parametrize(
    "question",
    [
        "CSO là gì?",
        "Giám đốc tiếp thị cần những kỹ năng gì?",
        "Doanh nghiệp nhỏ có cần cả CSO lẫn CMO không?",
        "Số điện thoại hỗ trợ là gì?",
        "chiến lược",
        "Tối nay MU đá với ai?",
        "Giám đốc tài chính làm gì?",
    ],
)
def test_nfd_input_gets_the_same_decision_as_nfc(engine: Engine, question: str) -> None:
    nfc = unicodedata.normalize("NFC", question)
    nfd = unicodedata.normalize("NFD", question)
    assert engine.decide(nfd) == engine.decide(nfc)
    assert engine.decide(nfd, "cso_role") == engine.decide(nfc, "cso_role")


# -- follow-ups ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        # Bot answered the CSO's skills. User: "còn CMO thì sao?" -> the CMO's skills.
        ("cso_skills", "còn CMO thì sao?", "cmo_skills"),
        # Bot explained the CMO's role. User: "thế còn CSO?" -> the CSO's role.
        ("cmo_role", "thế còn CSO?", "cso_role"),
        # Bot explained the CSO's role. User: "còn kỹ năng thì sao?" -> the CSO's skills.
        ("cso_role", "còn kỹ năng thì sao?", "cso_skills"),
    ],
)
def test_a_follow_up_continues_the_conversation(
    engine: Engine, previous: str, question: str, expected: str
) -> None:
    decision = engine.decide(question, previous_intent=previous)
    assert (decision.action, decision.intent) == ("answer", expected), decision
    assert decision.follow_up
    assert_well_formed(decision)


def test_a_follow_up_without_a_previous_answer_is_not_guessed(engine: Engine) -> None:
    # "còn CMO thì sao?" opening a conversation says nothing about skills.
    decision = engine.decide("còn CMO thì sao?")
    assert decision.intent != "cmo_skills", decision
    assert not decision.follow_up


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        ("cso_role", "Số điện thoại là gì?", "contact"),
        ("cso_skills", "Số điện thoại là gì?", "contact"),
        ("cso_skills", "CSO là gì?", "cso_role"),
        ("cmo_role", "cmo can ky nang gi", "cmo_skills"),
    ],
)
def test_a_full_new_question_is_answered_on_its_own(
    engine: Engine, previous: str, question: str, expected: str
) -> None:
    decision = engine.decide(question, previous_intent=previous)
    assert (decision.action, decision.intent) == ("answer", expected), decision
    assert not decision.follow_up


def test_an_off_topic_question_after_an_answer_is_still_handed_off(engine: Engine) -> None:
    decision = engine.decide("Tối nay MU đá với ai?", previous_intent="cso_skills")
    assert decision.action == "handoff"
    decision = engine.decide("còn CFO thì sao?", previous_intent="cso_skills")
    assert decision.action == "handoff"


def test_thu_linh_alone_means_the_cso(engine: Engine) -> None:
    # The article only ever calls the CSO "thủ lĩnh" (the frontline leader).
    decision = engine.decide("thủ lĩnh")
    assert (decision.action, decision.intent) == ("answer", "cso_role")


# -- no business in the code ---------------------------------------------------------------------

# The article's words: its subjects, their synonyms, its publisher. They belong in
# knowledge/faq.json; the code and its texts serve any business.
ARTICLE_WORDS = re.compile(
    r"\bcso\b|\bcmo\b|\bsales\b|marketing|giám đốc kinh doanh|giam doc kinh doanh|tiếp thị"
    r"|tiep thi|bóng đá|bong da|thủ lĩnh|thu linh|chief \w+ officer|truyền thông|truyen thong"
    r"|kỹ năng cso|doanh nghiệp nhỏ|doanh nghiep nho",
    re.IGNORECASE,
)


def test_no_article_word_is_left_in_the_code_or_its_texts() -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for path in sorted((PROJECT_ROOT / "bot").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ARTICLE_WORDS.search(unicodedata.normalize("NFC", line))
    ]
    assert found == []


def test_the_article_s_words_are_in_its_knowledge_file() -> None:
    text = DEFAULT_KNOWLEDGE.read_text(encoding="utf-8")
    for word in ("CSO", "CMO", "giam doc kinh doanh", "tiếp thị", "look_alikes", "out_of_scope"):
        assert word in text


# -- any business's file ---------------------------------------------------------------------------

SHOP: dict[str, object] = {
    "contact": {
        "organization": "Tiệm bánh Hoa Mai",
        "phone": "0909123456",
        "address": "12 Lý Thường Kiệt, Hà Nội",
        "hours": "8:00–21:00",
    },
    "entries": [
        {
            "id": f"{area}_{aspect}",
            "title": f"{aspect_title} {area_title}",
            "questions": [
                f"{aspect_title} {area_title} là bao nhiêu?",
                f"Giao bánh {area_title} thì {aspect_title.lower()} thế nào?",
                f"Cho hỏi {aspect_title.lower()} khi giao {area_title}",
            ],
            "answer": f"{aspect_title} {area_title}: {value}.",
            "subject": area_title,
            "aspect": aspect_title,
        }
        for area, area_title in (("inner", "nội thành"), ("outer", "ngoại thành"))
        for aspect, aspect_title, value in (
            ("fee", "Phí giao hàng", "20.000đ"),
            ("time", "Thời gian giao hàng", "2 giờ"),
        )
    ]
    + [
        {
            "id": "machine_cake",
            "title": "Bánh làm bằng máy hay làm tay",
            "questions": ["Bánh làm bằng máy hay thủ công?", "Tiệm có dùng máy làm bánh không?"],
            "answer": "Bánh của tiệm làm tay hoàn toàn.",
        },
        {
            "id": "invoice",
            "title": "Xuất hóa đơn",
            "questions": ["Tiệm có xuất hóa đơn không?", "Mua bánh lấy hóa đơn được không?"],
            "answer": "Tiệm xuất hóa đơn điện tử theo yêu cầu.",
        },
    ],
    "vocabulary": {
        "synonyms": {"hóa đơn": ["hđ", "bill đỏ"]},
        "look_alikes": ["bánh kem"],
        "out_of_scope": ["tuyển dụng"],
    },
}


@pytest.fixture(scope="module")
def shop() -> Engine:
    return Engine(Knowledge.model_validate(SHOP))


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        # After the inner-city delivery fee: "and outside the city?" is the outer fee.
        ("inner_fee", "thế còn ngoại thành?", "outer_fee"),
        # After the outer delivery time: "and the fee?" is the outer fee.
        ("outer_time", "còn phí giao hàng thì sao?", "outer_fee"),
    ],
)
def test_follow_ups_work_the_same_in_any_file(
    shop: Engine, previous: str, question: str, expected: str
) -> None:
    decision = shop.decide(question, previous_intent=previous)
    assert (decision.action, decision.intent, decision.follow_up) == ("answer", expected, True)


def test_small_talk_needs_no_entries_of_its_own(shop: Engine) -> None:
    for question, intent in [
        ("xin chào", "greeting"),
        ("cảm ơn bạn nhiều", "thanks"),
        ("tạm biệt nhé", "goodbye"),
        ("bạn là người hay máy?", "help"),
    ]:
        decision = shop.decide(question)
        assert (decision.action, decision.intent) == ("answer", intent), (question, decision)


def test_words_with_different_diacritics_are_different_words(shop: Engine) -> None:
    # "máy" (a machine) is in the file; "mấy" (how many) is a function word.
    assert shop.decide("bánh làm bằng máy à").intent == "machine_cake"
    assert "may" in shop.content("máy làm bánh")
    assert "may" not in shop.content("mấy cái bánh")


def test_the_file_s_vocabulary_is_used(shop: Engine) -> None:
    assert shop.decide("có xuất hđ không").intent == "invoice"
    assert shop.decide("lấy bill đỏ được không").intent == "invoice"
    assert shop.decide("bánh kem giá bao nhiêu").action == "handoff"  # a look-alike
    # A subject the file does not cover, even beside words it knows.
    assert shop.decide("tuyển dụng nhân viên giao hàng nội thành").action == "handoff"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("tieem cos xuaast hoas ddown khoong", "tiệm có xuất hóa đơn không"),  # Telex, IME off
        ("tie6m co1 xua6t ho1a d9o7n kho6ng", "tiệm có xuất hóa đơn không"),  # VNI, IME off
        ("có xuất hóa đơn khônggg", "có xuất hóa đơn không"),  # stretched letters
    ],
)
def test_text_typed_with_the_input_method_off_or_stretched_is_read(
    shop: Engine, typed: str, meant: str
) -> None:
    assert shop.tokens(typed) == shop.tokens(meant)
