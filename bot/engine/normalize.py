"""Vietnamese text normalisation: the one place that decides what "the same words" means.

Users type with or without diacritics, in NFC or NFD, with old or new tone placement,
in teencode and with English job titles. Everything is reduced to two comparable forms:
``accented`` (lower-case, canonical diacritics) and ``folded`` (no diacritics at all),
both tokenised, with abbreviations expanded token by token so that "50k" stays "50k".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from bot.engine.lexicon import ABBREVIATIONS, ALWAYS_FUNCTION, FUNCTION_WORDS

# A question longer than this is cut before matching: a pasted novel must cost no more
# than a normal question, and no FAQ question needs more words than this.
MAX_QUERY_CHARS = 300

_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # grave acute tilde hook dot
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2069\ufeff\ufe00-\ufe0f]"
)
_NON_WORD = re.compile(r"[^\w]+|_+")
# Old-style tone placement puts the mark on the second vowel of oa/oe/uy when nothing
# follows ("hoà", "khoẻ", "thuỷ"); the new style puts it on the first ("hòa", "khỏe",
# "thủy"). Only open syllables differ, so only those are rewritten.
_OLD_TONE = re.compile(r"([oO])([aAeE])([\u0300\u0301\u0303\u0309\u0323])(?![^\W\d_])")
_OLD_TONE_UY = re.compile(r"(?<![qQ])([uU])([yY])([\u0300\u0301\u0303\u0309\u0323])(?![^\W\d_])")
# "kĩ"/"kỹ", "lí"/"lý", "mĩ"/"mỹ": after a consonant a final y and i are the same sound.
_Y_AS_I = re.compile(r"\b([bcdghklmnpqrstvx]+)y\b")
_MARK_FLOOD = re.compile(r"([\u0300-\u036f]{2})[\u0300-\u036f]+")
# People use a few thousand distinct words; folding each once is enough. Bounded: junk words
# (up to MAX_QUERY_CHARS long) must not grow the process without limit (at most a few MB).
_WORD_CACHE = 8192


# What a word is for choosing an answer (``Normalized.roles``).
CONTENT, FUNCTION, MAYBE = 0, 1, 2  # MAYBE: written without diacritics, either could be meant
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")
_DOUBLE = re.compile(r"([^\W\d_])\1")
# A folded Vietnamese syllable (onset, vowel cluster, coda).
SYLLABLE = re.compile(
    r"^(ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdghklmnprstvx])?"
    r"(uye|uya|oai|oay|oeo|uoi|uou|ieu|yeu|uay|uao|[aeiouy]{1,2})(ch|nh|ng|[cmnpt])?$"
)
_VNI = re.compile(r"[a-z]+[1-9][a-z1-9]*")
_TELEX_MARKS = (("dd", "d"), ("aa", "a"), ("ee", "e"), ("oo", "o"), ("aw", "a"), ("ow", "o"))


@dataclass(frozen=True, slots=True)
class Normalized:
    """A question in comparable form: ``accented`` and ``folded`` words, position by position,
    and each word's ``roles`` (CONTENT, FUNCTION or MAYBE). Two are equal when their words
    are; ``cleaned`` is the text the words come from."""

    accented: tuple[str, ...]
    folded: tuple[str, ...]
    cleaned: str = field(compare=False)
    roles: tuple[int, ...] = field(default=(), compare=False)


def clean(text: str) -> str:
    """Drop invisible and control characters, unify Unicode form, cap the length."""
    if len(text) > MAX_QUERY_CHARS * 4:
        text = text[: MAX_QUERY_CHARS * 2] + " " + text[-MAX_QUERY_CHARS * 2 :]
    text = _INVISIBLE.sub("", text)
    if not text.isascii():  # ASCII (Vietnamese typed without diacritics) has no marks to fix
        text = unicodedata.normalize("NFD", text)
        # A flood of combining marks on one letter carries no meaning: keep at most two.
        text = _MARK_FLOOD.sub(r"\1", text)
        text = _OLD_TONE.sub(r"\1\3\2", text)
        text = _OLD_TONE_UY.sub(r"\1\3\2", text)
        text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_QUERY_CHARS:
        # People put the actual question last, after the story: keep the start and the end.
        head = MAX_QUERY_CHARS // 3
        text = text[:head] + " " + text[-(MAX_QUERY_CHARS - head) :]
    return text


def fold(text: str) -> str:
    """Remove every diacritic: "Giám đốc" -> "Giam doc"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _unstretch(token: str) -> str:
    """ "gìiii" -> "gì", "alooo" -> "alo": no Vietnamese word has a letter three times."""
    if not _DOUBLE.search(token):  # most words: no letter twice in a row, nothing to fold
        return token
    folded = fold(token)
    if len(folded) != len(token) or not _STRETCHED.search(folded):
        return token
    kept = [0]
    for i in range(1, len(token)):
        if folded[i] != folded[i - 1]:
            kept.append(i)
    return "".join(token[i] for i in kept)


def untyped(word: str) -> str | None:
    """The folded Vietnamese word typed with Telex or VNI keys while the input method was off
    ("gif" -> "gi", "dduwowcj" -> "duoc", "la1" -> "la"), or None when it does not read as
    one. Only a guess: the caller keeps it only if the word is otherwise unknown and the guess
    is a word it knows."""
    if not word.isascii() or len(word) < 2:
        return None
    if _VNI.fullmatch(word):
        core = "".join(ch for ch in word if ch.isalpha())
        return core if SYLLABLE.match(core) else None
    if not word.isalpha():
        return None
    vowel = next((i for i, ch in enumerate(word) if ch in "aeiouyw"), len(word))
    # The tone key comes after the vowel it marks, at the end or before the final consonant.
    cores = [word[:i] + word[i + 1 :] for i in range(vowel + 1, len(word)) if word[i] in "sfrxj"]
    for core in [*cores, word]:
        for marked, plain in _TELEX_MARKS:
            core = core.replace(marked, plain)
        core = core.replace("uw", "u").replace("w", "u")
        if core != word and SYLLABLE.match(core):
            return core
    return None


@lru_cache(maxsize=_WORD_CACHE)
def marks(word: str) -> str:
    """The diacritics of a word, in order ("yếu" -> circumflex, acute; "yêu" -> circumflex):
    two words with the same letters and different marks are different words."""
    decomposed = unicodedata.normalize("NFD", word)
    found = "".join(ch for ch in decomposed if unicodedata.combining(ch))
    return found + "đ" if "đ" in word else found


def role(accented: str, folded: str) -> int:
    """CONTENT, FUNCTION or MAYBE: "mấy" is a function word, "máy" is not; "may" (no
    diacritics) may be either."""
    if accented != folded:
        return FUNCTION if accented in FUNCTION_WORDS else CONTENT
    if folded in ALWAYS_FUNCTION:
        return FUNCTION
    return MAYBE if folded in FUNCTION_FOLDED else CONTENT


@lru_cache(maxsize=_WORD_CACHE)
def _expand_token(token: str) -> tuple[str, ...]:
    # Keys are compared with their diacritics ("lầu" is a floor, "lâu" is a while); "đ" may
    # stand for the "d" of a shorthand ("đc").
    found = ABBREVIATIONS.get(token) or ABBREVIATIONS.get(token.replace("đ", "d"))
    return found or (token,)


@lru_cache(maxsize=_WORD_CACHE)
def fold_word(word: str) -> str:
    """Fold one lower-case word, treating final y and i after a consonant as the same."""
    return _Y_AS_I.sub(r"\1i", fold(word))


def normalize(text: str) -> Normalized:
    """Both comparable forms of a question; pure, so cached for repeated phrasings. Texts
    longer than MAX_QUERY_CHARS are not cached: they are seldom sent twice, and a crowd of
    distinct long messages (up to 4,096 characters each) would otherwise hold some 70 MB."""
    if len(text) > MAX_QUERY_CHARS:
        return _normalize(text)
    return _normalize_cached(text)


def clear_normalize_cache() -> None:
    """Forget every question normalised so far (benchmarks: every question new)."""
    _normalize_cached.cache_clear()


@lru_cache(maxsize=_WORD_CACHE)
def _word(token: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """One casefolded token's words in both forms, and their roles: a knowledge file of
    thousands of entries repeats a few thousand words, each worked out once."""
    accented = _expand_token(_unstretch(token))
    folded = tuple(fold_word(t) for t in accented)
    return accented, folded, tuple(role(a, f) for a, f in zip(accented, folded, strict=True))


def _normalize(text: str) -> Normalized:
    cleaned = clean(text)
    accented: list[str] = []
    folded: list[str] = []
    roles: list[int] = []
    for token in _NON_WORD.split(cleaned.casefold()):
        if token:
            words, folded_words, word_roles = _word(token)
            accented += words
            folded += folded_words
            roles += word_roles
    return Normalized(tuple(accented), tuple(folded), cleaned, tuple(roles))


_normalize_cached = lru_cache(maxsize=8192)(_normalize)


class PhraseTable:
    """Multi-word phrases -> one canonical token, matched longest first. Keys are folded
    words; a canonical "" drops the phrase."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, ...], str] = {}
        self.starts: dict[str, list[int]] = {}

    def add(self, key: tuple[str, ...], token: str) -> None:
        if key and key not in self.table:
            self.table[key] = token
            lengths = self.starts.setdefault(key[0], [])
            if len(key) not in lengths:
                lengths.append(len(key))
                lengths.sort(reverse=True)

    def apply(
        self, words: tuple[str, ...], roles: tuple[int, ...], skip: str | None = None
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The words with each phrase replaced by its token (a CONTENT word), and their roles.
        Phrases for `skip` are not replaced."""
        starts = self.starts
        # Most texts hold no phrase, or one or two: only the words a phrase starts with are
        # tried, and the words between are copied as they are.
        found = [i for i, word in enumerate(words) if word in starts]
        if not found:
            return words, roles
        out: list[str] = []
        out_roles: list[int] = []
        done, n = 0, len(words)  # words[:done] are in `out`
        for i in found:
            if i < done:  # inside a phrase already replaced
                continue
            for length in starts[words[i]]:
                canonical = self.table.get(words[i : i + length]) if length <= n - i else None
                if canonical is not None and canonical != skip:
                    out += words[done:i]
                    out_roles += roles[done:i]
                    if canonical:
                        out.append(canonical)
                        out_roles.append(FUNCTION if canonical in FUNCTION_FOLDED else CONTENT)
                    done = i + length
                    break
        if not done:
            return words, roles
        out += words[done:]
        out_roles += roles[done:]
        return tuple(out), tuple(out_roles)


FUNCTION_FOLDED: frozenset[str] = frozenset(fold_word(w) for w in FUNCTION_WORDS) | ALWAYS_FUNCTION
