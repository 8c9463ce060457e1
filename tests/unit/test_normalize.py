"""Normalisation: the different ways people type the same Vietnamese words compare equal."""

from __future__ import annotations

import unicodedata

import pytest

from bot.engine.knowledge import load_knowledge
from bot.engine.matcher import Engine
from bot.engine.normalize import (
    CONTENT,
    FUNCTION,
    MAX_QUERY_CHARS,
    MAYBE,
    _normalize_cached,
    clear_normalize_cache,
    normalize,
    role,
    untyped,
)
from bot.settings import DEFAULT_KNOWLEDGE

SENTENCES = (
    "CSO và CMO khác nhau thế nào?",
    "Giám đốc tiếp thị cần những kỹ năng gì?",
    "Sự hợp tác giữa hai vị trí diễn ra ở đâu?",
    "Doanh nghiệp nhỏ có cần cả CSO lẫn CMO không?",
    "Số điện thoại hỗ trợ là gì ạ?",
    "Trường hợp nào thì công ty nên tuyển giám đốc bán hàng?",
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_knowledge(DEFAULT_KNOWLEDGE))


# -- Unicode forms and diacritics ---------------------------------------------------------


@pytest.mark.parametrize("text", SENTENCES)
def test_nfd_input_equals_nfc(text: str) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != unicodedata.normalize("NFC", text)
    assert normalize(nfd) == normalize(unicodedata.normalize("NFC", text))


@pytest.mark.parametrize("text", SENTENCES)
def test_text_without_diacritics_has_the_same_folded_form(text: str) -> None:
    bare = "".join(
        ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch)
    ).replace("đ", "d")
    assert bare.isascii()
    assert normalize(bare).folded == normalize(text).folded


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("hoà", "hòa"),
        ("thuỷ", "thủy"),
        ("khoẻ", "khỏe"),
        ("uỷ", "ủy"),
        ("Hoà hợp", "hòa hợp"),
        ("sức khoẻ của CSO", "sức khỏe của CSO"),
        ("uỷ quyền cho CMO", "ủy quyền cho CMO"),
    ],
)
def test_old_and_new_tone_placement_give_identical_tokens(old: str, new: str) -> None:
    assert normalize(old) == normalize(new)
    assert normalize(unicodedata.normalize("NFD", old)) == normalize(new)


def test_ki_and_ky_are_the_same_word(engine: Engine) -> None:
    assert normalize("kĩ năng").folded == normalize("kỹ năng").folded
    assert engine.tokens("CSO cần kĩ năng gì?") == engine.tokens("CSO cần kỹ năng gì?")


# -- what carries no meaning ----------------------------------------------------------------


@pytest.mark.parametrize(
    "noisy",
    [
        "CSO LÀ GÌ",
        "cso là gì?!!",
        "...CSO, là gì???",
        "CSO là gì 😀🚀",
        "👉 «CSO» — là gì?! 🤔",
        "  cso   là\tgì  \n",
    ],
)
def test_case_punctuation_and_emoji_are_ignored(noisy: str) -> None:
    assert normalize(noisy) == normalize("cso là gì")


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte-order mark / zero-width no-break space
        "\u00ad",  # soft hyphen
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u061c",  # Arabic letter mark
        "\u202a",  # left-to-right embedding
        "\u202b",  # right-to-left embedding
        "\u202c",  # pop directional formatting
        "\u202d",  # left-to-right override
        "\u202e",  # right-to-left override
        "\u2066",  # left-to-right isolate
        "\u2067",  # right-to-left isolate
        "\u2068",  # first strong isolate
        "\u2069",  # pop directional isolate
    ],
)
def test_zero_width_and_bidi_characters_are_removed(invisible: str) -> None:
    text = f"{invisible}C{invisible}SO là g{invisible}ì{invisible}"
    assert normalize(text) == normalize("CSO là gì")


# -- teencode and abbreviations ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("ko", "không"),
        ("k", "không"),
        ("khong", "không"),
        ("dc", "được"),
        ("đc", "được"),
        ("ntn", "như thế nào"),
        ("j", "gì"),
        ("sđt", "số điện thoại"),
        ("dn", "doanh nghiệp"),
        ("cty", "công ty"),
        ("wf", "wifi"),
        ("mún", "muốn"),
        ("xài", "dùng"),
        ("tks", "cảm ơn"),
    ],
)
def test_teencode_is_expanded(short: str, long: str) -> None:
    assert normalize(short) == normalize(long)
    # ... as a token inside a sentence, too
    assert normalize(f"CSO {short} nhé") == normalize(f"CSO {long} nhé")


def test_teencode_is_expanded_token_by_token() -> None:
    assert normalize("cty mình lm dc ko").folded == normalize("công ty mình làm được không").folded
    assert (
        normalize("cso cần kỹ năng j, làm ntn").folded
        == normalize("cso cần kỹ năng gì, làm như thế nào").folded
    )


@pytest.mark.parametrize("word", ["50k", "100k", "kpi", "KPI", "kd50k"])
def test_abbreviations_inside_a_longer_token_are_left_alone(word: str) -> None:
    assert normalize(word).folded == (word.casefold(),)
    assert normalize(f"lương {word} ko").folded == ("luong", word.casefold(), "khong")


def test_the_file_s_own_shorthand_comes_from_its_vocabulary(engine: Engine) -> None:
    # "mkt" and "gđ kd" are the article's words (knowledge/faq.json), not everyday Vietnamese.
    assert normalize("mkt").folded == ("mkt",)
    assert engine.tokens("mkt") == engine.tokens("marketing")
    assert engine.tokens("gđ kd cần gì") == engine.tokens("giám đốc kinh doanh cần gì")


# -- English job titles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "acronym"),
    [
        ("sales director", "CSO"),
        ("head of sales", "CSO"),
        ("chief sales officer", "CSO"),
        ("Chief Sales Officer", "CSO"),
        ("marketing director", "CMO"),
        ("head of marketing", "CMO"),
        ("chief marketing officer", "CMO"),
        ("Head Of Marketing", "CMO"),
    ],
)
def test_english_titles_canonicalise_to_the_acronym(
    engine: Engine, title: str, acronym: str
) -> None:
    assert engine.tokens(title) == engine.tokens(acronym)
    for sentence in ("What does a {} do?", "{} cần kỹ năng gì?", "vai trò của {} là gì"):
        assert engine.tokens(sentence.format(title)) == engine.tokens(sentence.format(acronym))


def test_sales_and_marketing_titles_stay_apart(engine: Engine) -> None:
    assert engine.tokens("head of sales") != engine.tokens("head of marketing")
    assert engine.tokens("CSO") != engine.tokens("CMO")


# -- cost ---------------------------------------------------------------------------------------


def test_very_long_input_is_capped() -> None:
    huge = "Giám đốc kinh doanh cần kỹ năng gì? 😀 " * 3000
    huge = huge[:100_000]
    assert len(huge) == 100_000
    result = normalize(huge + "#")  # a string never seen before: no cache hit
    assert 0 < len(result.folded) <= MAX_QUERY_CHARS
    assert len(result.folded) == len(result.accented)


def test_very_long_input_without_spaces_is_capped() -> None:
    result = normalize("a\u0301" * 100_000)  # one endless word made of combining marks
    assert 0 < sum(len(t) for t in result.folded) <= MAX_QUERY_CHARS


# -- memory ---------------------------------------------------------------------------------


def cache_size() -> int:
    return _normalize_cached.cache_info().currsize


def test_long_messages_are_normalised_alike_but_not_kept() -> None:
    """A crowd of distinct 4,096-character messages must not fill the cache (some 70 MB)."""
    clear_normalize_cache()
    story = "Tôi đã đọc bài viết về giám đốc kinh doanh và giám đốc tiếp thị. " * 60
    question = story + "CMO cần kỹ năng gì?"
    assert len(question) > MAX_QUERY_CHARS
    first = normalize(question)
    assert normalize(question) == first
    assert first.folded[-3:] == ("ki", "nang", "gi")
    assert cache_size() == 0
    normalize("CMO cần kỹ năng gì?")
    assert cache_size() == 1


def test_junk_words_longer_than_any_known_word_are_not_remembered(engine: Engine) -> None:
    """A typo fix is at most one letter off a known word, so longer junk is passed over, and
    never stored among the remembered corrections."""
    junk = [f"{'qwrtz' * 6}{letter}" for letter in "abcde"]  # the longest known word: 16
    tokens = engine.tokens(" ".join([*junk, "kỹ", "năg"]))
    assert tokens[: len(junk)] == tuple(junk)
    assert tokens[-1] == "ki_nang"  # "kỹ năg": the typo is still fixed, then the phrase found
    assert not any(word in engine._corrections for word in junk)


# -- typed with the input method off ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "folded"),
    [("gif", "gi"), ("las", "la"), ("dduwowcj", "duoc"), ("xuaast", "xuat"), ("la1", "la")],
)
def test_telex_and_vni_keys_read_as_the_word_they_type(typed: str, folded: str) -> None:
    assert untyped(typed) == folded


@pytest.mark.parametrize("word", ["check", "system", "wifi6", "4g", "iphone", "mp3", "modem"])
def test_english_words_and_models_are_not_read_as_telex(word: str) -> None:
    assert untyped(word) is None


def test_stretched_letters_count_once() -> None:
    assert normalize("gìiii").folded == normalize("gì").folded
    assert normalize("alooo").folded == normalize("alo").folded
    assert normalize("1000").folded == ("1000",)  # digits are not letters


def test_function_words_keep_their_diacritics() -> None:
    assert role("mấy", "may") == FUNCTION
    assert role("máy", "may") == CONTENT
    assert role("đỏ", "do") == CONTENT
    assert role("do", "do") == MAYBE  # typed without diacritics: "đỏ", "đó" or "do"
    assert role("may", "may") == FUNCTION  # "mấy" is far likelier in a question
