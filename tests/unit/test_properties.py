"""Properties of normalisation and matching that must hold for any text a user can type.

Two kinds of input: arbitrary Unicode (control characters included; no lone surrogates, which
Telegram never delivers), and Vietnamese-flavoured questions built from the knowledge file's
own phrasings, mutated the way people really type them: letter case, missing or decomposed
diacritics, old tone placement, teencode, typos, stray whitespace and invisible characters.

What idempotence means for each public function of bot/normalize.py:
* `clean` (text -> text): cleaning a cleaned question changes nothing;
* `fold` (text -> text without diacritics): folding twice is folding once;
* `normalize` (text -> words): the words of the words are the same words, in both the
  accented and the folded form (the engine's view of its own view does not move).

Idempotence and the invariances are stated for questions, i.e. texts within the cap
(MAX_QUERY_CHARS). Past it, `clean` keeps the start and the end and may cut a word in two;
cleaning that again can read the cut word differently ("hoà|ng" becomes "hòa"), and a
decomposed text reaches the first, rough cut sooner than its composed form. For long texts
the properties are the ones that matter there: nothing raises, the cap holds, and the work
done does not grow with the length (checked by what the engine is handed, never by a clock).
The terminal chat, which reads a choice's number or a question, takes any line too.
"""

from __future__ import annotations

import io
import random
import unicodedata
from types import ModuleType
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from rapidfuzz import process as rapidfuzz_process

import bot.engine.index
import bot.engine.matcher
import bot.engine.normalize
from bot import texts
from bot.cli import cmd_chat
from bot.engine.assistant import Assistant
from bot.engine.knowledge import load_knowledge
from bot.engine.matcher import Decision, Engine
from bot.engine.normalize import MAX_QUERY_CHARS, clean, fold, normalize
from bot.settings import DEFAULT_KNOWLEDGE
from tests.support.contract import INTENT_IDS
from tests.support.decisions import assert_well_formed

KNOWLEDGE = load_knowledge(DEFAULT_KNOWLEDGE)
PHRASINGS: list[str] = sorted(
    {text for entry in KNOWLEDGE.entries for text in (*entry.questions, entry.title)}
)
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"  # grave acute tilde hook dot-below
INVISIBLE = [
    chr(code)
    for code in (*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF)
]
SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", " \r\n "]
TEENCODE = {"không": "ko", "gì": "j", "được": "dc", "với": "w", "như thế nào": "ntn"}

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


# --------------------------------------------------------------------------- strategies


def _old_tone(text: str) -> str:
    """New tone placement -> old ("hòa" -> "hoà", "thủy" -> "thuỷ"), the way many people type."""
    result = unicodedata.normalize("NFD", text)
    for vowel, second in (("o", "a"), ("o", "e"), ("u", "y")):
        for mark in TONE_MARKS:
            result = result.replace(vowel + mark + second, vowel + second + mark)
    return unicodedata.normalize("NFC", result)


def _mutate_case(text: str, rng: random.Random) -> str:
    style = rng.choice(["upper", "lower", "title", "swap", "random"])
    if style == "upper":
        return text.upper()
    if style == "lower":
        return text.lower()
    if style == "title":
        return text.title()
    if style == "swap":
        return text.swapcase()
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in text)


def _mutate_diacritics(text: str, rng: random.Random) -> str:
    style = rng.choice(["fold", "tones", "some", "nfd", "old"])
    if style == "fold":
        return fold(text)
    if style == "nfd":
        return unicodedata.normalize("NFD", text)
    if style == "old":
        return _old_tone(text)
    decomposed = unicodedata.normalize("NFD", text)
    if style == "tones":  # tone marks gone, vowel shapes (ơ, â, ư) kept
        kept = (ch for ch in decomposed if ch not in TONE_MARKS)
    else:  # some marks dropped here and there
        kept = (ch for ch in decomposed if not unicodedata.combining(ch) or rng.random() < 0.5)
    return unicodedata.normalize("NFC", "".join(kept))


def _mutate_whitespace(text: str, rng: random.Random) -> str:
    words = text.split()
    glue = [rng.choice(SPACES) for _ in words]
    joined = "".join(word + space for word, space in zip(words, glue, strict=True))
    return rng.choice(SPACES) + joined


def _mutate_words(text: str, rng: random.Random) -> str:
    for long, short in TEENCODE.items():
        if long in text and rng.random() < 0.7:
            text = text.replace(long, short)
    if len(text) > 3 and rng.random() < 0.5:  # a typo: one letter dropped or doubled
        at = rng.randrange(len(text))
        kept = "" if rng.random() < 0.5 else text[at] * 2
        text = text[:at] + kept + text[at + 1 :]
    return text


def _mutate_invisible(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(INVISIBLE) + text[at:]


MUTATIONS = [_mutate_case, _mutate_diacritics, _mutate_whitespace, _mutate_words, _mutate_invisible]


@st.composite
def vietnamese_questions(draw: st.DrawFn) -> str:
    """A phrasing from the knowledge file, as somebody might really type it."""
    text = draw(st.sampled_from(PHRASINGS))
    rng = draw(st.randoms(use_true_random=False))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=4)):
        text = mutation(text, rng)
    return text


# Any text: every category but lone surrogates (Telegram's updates are valid UTF-8), so
# control characters, combining marks, bidi controls and private-use characters included.
characters = st.characters(exclude_categories=["Cs"])
any_text = st.text(characters, max_size=200)
# Within the cap (MAX_QUERY_CHARS, even decomposed): what a question is.
questions = st.one_of(any_text, vietnamese_questions())
# Past the cap, where the engine keeps the start and the end only: a ramble, a paste.
long_texts = st.one_of(
    st.text(characters, min_size=MAX_QUERY_CHARS, max_size=2 * MAX_QUERY_CHARS * 4),
    st.lists(vietnamese_questions(), min_size=5, max_size=60).map(" ".join),
)
any_length = st.one_of(questions, long_texts)
previous_intents = st.sampled_from([None, *INTENT_IDS])
padding = st.lists(st.sampled_from(SPACES), max_size=3).map("".join)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(KNOWLEDGE)


def outcome(decision: Decision) -> tuple[str, str | None, tuple[str, ...]]:
    """What the user is shown: the action, the intent and the choices offered."""
    return decision.action, decision.intent, decision.suggestions


# --------------------------------------------------------------------------- never raises


@PROPERTY_SETTINGS
@given(any_length)
def test_normalisation_accepts_any_text(text: str) -> None:
    cleaned = clean(text)
    normalized = normalize(text)

    assert len(cleaned) <= MAX_QUERY_CHARS + 1  # the cap, plus the space at the cut
    assert isinstance(fold(text), str)
    assert len(normalized.accented) == len(normalized.folded)
    assert all(word for word in normalized.accented)


@PROPERTY_SETTINGS
@given(any_length, previous_intents)
def test_any_text_gets_a_well_formed_decision_with_confidence_in_0_1(
    engine: Engine, question: str, previous: str | None
) -> None:
    assert_well_formed(engine.decide(question, previous))


@PROPERTY_SETTINGS
@given(vietnamese_questions(), previous_intents)
def test_a_realistic_question_gets_a_well_formed_decision(
    engine: Engine, question: str, previous: str | None
) -> None:
    assert_well_formed(engine.decide(question, previous))


# --------------------------------------------------------------------------- idempotence


@PROPERTY_SETTINGS
@given(questions)
def test_cleaning_a_clean_text_changes_nothing(text: str) -> None:
    once = clean(text)

    assert clean(once) == once


@PROPERTY_SETTINGS
@given(questions)
def test_folding_twice_is_folding_once(text: str) -> None:
    once = fold(text)

    assert fold(once) == once
    assert not any(unicodedata.combining(ch) for ch in once)


@PROPERTY_SETTINGS
@given(questions)
def test_normalising_the_normalised_words_gives_the_same_words(text: str) -> None:
    once = normalize(text)
    accented = " ".join(once.accented)
    assume(len(accented) <= MAX_QUERY_CHARS)  # beyond the cap, the cut words differ

    again = normalize(accented)

    assert again.accented == once.accented
    if once.accented == once.folded:
        # Shorthand is read with its diacritics ("hì" is a laugh, "hi" a greeting), so only
        # words typed without them normalise to themselves once folded.
        assert normalize(" ".join(once.folded)).folded == once.folded


# --------------------------------------------------------------------------- invariance


@PROPERTY_SETTINGS
@given(questions, previous_intents)
def test_nfc_or_nfd_makes_no_difference(
    engine: Engine, question: str, previous: str | None
) -> None:
    nfc = unicodedata.normalize("NFC", question)
    nfd = unicodedata.normalize("NFD", question)

    assert engine.tokens(nfd) == engine.tokens(nfc)
    assert outcome(engine.decide(nfd, previous)) == outcome(engine.decide(nfc, previous))


@PROPERTY_SETTINGS
@given(
    questions,
    padding,
    padding,
    previous_intents,
)
def test_surrounding_whitespace_makes_no_difference(
    engine: Engine, question: str, before: str, after: str, previous: str | None
) -> None:
    padded = before + question + after
    assume(len(padded) <= MAX_QUERY_CHARS)  # a longer text is cut, and the cut moves

    assert engine.tokens(padded) == engine.tokens(question)
    assert outcome(engine.decide(padded, previous)) == outcome(engine.decide(question, previous))


@PROPERTY_SETTINGS
@given(vietnamese_questions(), previous_intents)
def test_letter_case_makes_no_difference_to_a_vietnamese_question(
    engine: Engine, question: str, previous: str | None
) -> None:
    assert outcome(engine.decide(question.upper(), previous)) == outcome(
        engine.decide(question.lower(), previous)
    )


# --------------------------------------------------------------------------- the terminal chat


@PROPERTY_SETTINGS
@given(st.lists(st.one_of(questions, st.from_regex(r"[0-9²٣]{1,6}", fullmatch=True)), max_size=4))
@example(["chiến lược", "²", "9" * 5000, "٣", "0", "-1"])  # a number for a choice, or not
def test_the_terminal_chat_takes_any_line(engine: Engine, lines: list[str]) -> None:
    script = iter([*lines, "thoát"])
    out = io.StringIO()

    code = cmd_chat(Assistant(KNOWLEDGE, engine), lambda _: next(script), out)

    assert code == 0
    assert out.getvalue().endswith(texts.CHAT_BYE + "\n")


# --------------------------------------------------------------------------- bounded work
# A pasted novel costs no more than a question: bot/normalize.py cuts the text before any
# real work. Checked by what the engine is handed (the size of every text normalised, of
# every rapidfuzz comparison), never by a clock.


def ramble(sentences: int) -> str:
    """A long story with the question at the end; the same start and end at any length."""
    story = "Hôm qua tôi đi họp với sếp bàn chuyện tuyển người mới cho phòng kinh doanh. "
    return story * sentences + "Vậy CSO cần những kỹ năng gì?"


class Recorder:
    """Records the size of every text normalised (NFD/NFC) and of every rapidfuzz comparison,
    standing in for the modules that bot.engine.normalize and bot.engine.matcher call."""

    def __init__(self) -> None:
        self.normalised: list[int] = []
        self.compared: list[tuple[int, int]] = []  # (query length, number of choices)

    def unicodedata(self) -> ModuleType:
        proxy = ModuleType("unicodedata")
        proxy.__dict__.update(unicodedata.__dict__)

        def normalize(form: Any, text: str) -> str:
            self.normalised.append(len(text))
            return unicodedata.normalize(form, text)

        proxy.normalize = normalize  # type: ignore[attr-defined]
        return proxy

    def process(self) -> ModuleType:
        proxy = ModuleType("process")
        proxy.__dict__.update(rapidfuzz_process.__dict__)

        def extract_one(query: str, choices: list[str], **kwargs: Any) -> Any:
            self.compared.append((len(query), len(choices)))
            return rapidfuzz_process.extractOne(query, choices, **kwargs)

        proxy.extractOne = extract_one  # type: ignore[attr-defined]
        return proxy


def work(question: str) -> Recorder:
    """What a fresh engine (no typo correction cached, nothing normalised yet) is given to do
    to decide on `question`."""
    engine = Engine(KNOWLEDGE)
    bot.engine.normalize.clear_normalize_cache()
    recorder = Recorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.engine.normalize, "unicodedata", recorder.unicodedata())
        patch.setattr(bot.engine.matcher, "process", recorder.process())
        patch.setattr(bot.engine.index, "process", recorder.process())
        engine.decide(question)
    return recorder


def test_a_100000_character_message_is_matched_on_a_capped_text(engine: Engine) -> None:
    huge = ramble(1400)
    assert len(huge) > 100_000

    kept = clean(huge)

    assert len(kept) <= MAX_QUERY_CHARS + 1  # the start, a space, the end
    assert kept.endswith("Vậy CSO cần những kỹ năng gì?")
    assert engine.tokens(huge) == engine.tokens(kept)


def test_the_engine_does_the_same_work_for_100000_or_1000000_characters() -> None:
    hundred_thousand = work(ramble(1400))
    million = work(ramble(14_000))

    assert million.normalised == hundred_thousand.normalised
    assert million.compared == hundred_thousand.compared
    # ...the comparisons the capped text alone needs...
    assert hundred_thousand.compared == work(clean(ramble(1400))).compared
    # ...after a first, rough cut to 4 * MAX_QUERY_CHARS + 1 characters (at most three code
    # points each once decomposed) is all that is normalised.
    assert max(hundred_thousand.normalised) <= 3 * (4 * MAX_QUERY_CHARS + 1)
