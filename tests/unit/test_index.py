"""The engine's compact index structures give what their plain definitions give: they exist
for speed and memory on large knowledge files, and must never change an answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

from bot.engine.index import Spelling, WrittenMarks
from bot.engine.normalize import CONTENT, FUNCTION, FUNCTION_FOLDED, PhraseTable

# A small alphabet, so that random words are often one or two letters apart.
WORD = st.text(alphabet="abcdeghn", min_size=1, max_size=9)
MARKS = st.sampled_from(["", "\u0301", "\u0300", "\u0302\u0301", "\u0323", "đ"])
EXAMPLES = settings(max_examples=300, deadline=None)


def closest_in_whole_vocabulary(vocabulary: list[str], word: str, cutoff: float) -> str | None:
    """The rule, over every word: the most similar known word, if it starts with the same
    letter and its length is within one."""
    match = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff)
    if match is not None and abs(len(match[0]) - len(word)) <= 1 and match[0][0] == word[0]:
        return str(match[0])
    return None


@EXAMPLES
@given(
    st.lists(WORD, min_size=1, max_size=60, unique=True),
    WORD,
    st.sampled_from([80.0, 85.0]),
)
def test_a_correction_is_the_one_the_whole_vocabulary_gives(
    vocabulary: list[str], word: str, cutoff: float
) -> None:
    vocabulary.sort()

    assert Spelling(vocabulary).correction(word, cutoff) == closest_in_whole_vocabulary(
        vocabulary, word, cutoff
    )


def test_a_typo_is_corrected_and_a_word_unlike_any_is_not() -> None:
    spelling = Spelling(sorted(["nang", "nhanh", "ngan", "hang", "khach", "thanh", "toan"]))

    assert spelling.correction("nag", 85.0) == "nang"
    assert spelling.correction("thanhh", 80.0) == "thanh"
    assert spelling.correction("guitar", 80.0) is None
    # The most similar word starts with another letter: no guess at all.
    assert Spelling(["hang", "xang"]).correction("xhang", 80.0) is None


@EXAMPLES
@given(
    st.dictionaries(
        st.sampled_from(["e1", "e2", "e3", "e4", "e5"]),
        st.lists(st.tuples(st.sampled_from(["goi", "yeu", "ban", "co"]), MARKS), max_size=8),
    ),
    st.sampled_from(["goi", "yeu", "ban", "co", "khac"]),
    MARKS,
)
def test_other_diacritics_are_the_entries_that_never_write_the_word_so(
    entries: dict[str, list[tuple[str, str]]], word: str, mark: str
) -> None:
    written = WrittenMarks()
    for intent, pairs in entries.items():
        written.add(intent, pairs)

    expected = set()
    for intent, pairs in entries.items():
        seen = {m for w, m in pairs if w == word}
        if seen and mark not in seen and "" not in seen:
            expected.add(intent)
    assert written.others(word, mark) == expected


def replaced_left_to_right(
    phrases: dict[tuple[str, ...], str],
    words: tuple[str, ...],
    roles: tuple[int, ...],
    skip: str | None,
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Each phrase replaced by its token, word by word from the left, the longest first."""
    out: list[str] = []
    out_roles: list[int] = []
    i = 0
    while i < len(words):
        for length in range(len(words) - i, 0, -1):
            token = phrases.get(words[i : i + length])
            if token is not None and token != skip:
                if token:
                    out.append(token)
                    out_roles.append(FUNCTION if token in FUNCTION_FOLDED else CONTENT)
                i += length
                break
        else:
            out.append(words[i])
            out_roles.append(roles[i])
            i += 1
    return tuple(out), tuple(out_roles)


PHRASE_WORD = st.sampled_from(["a", "b", "c", "d", "e"])


@EXAMPLES
@given(
    st.dictionaries(
        st.lists(PHRASE_WORD, min_size=1, max_size=3).map(tuple),
        st.sampled_from(["", "x_y", "ab", "cd"]),
        max_size=6,
    ),
    st.lists(st.tuples(PHRASE_WORD, st.sampled_from([CONTENT, FUNCTION])), max_size=12),
    st.sampled_from([None, "ab", "cd"]),
)
def test_phrases_are_replaced_longest_first_from_the_left(
    phrases: dict[tuple[str, ...], str],
    text: list[tuple[str, int]],
    skip: str | None,
) -> None:
    table = PhraseTable()
    for key, token in phrases.items():
        table.add(key, token)
    words = tuple(w for w, _ in text)
    roles = tuple(r for _, r in text)

    assert table.apply(words, roles, skip=skip) == replaced_left_to_right(
        phrases, words, roles, skip
    )
