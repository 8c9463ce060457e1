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

from bot.engine.lexicon import ABBREVIATIONS, COMBINATIONS, PHRASE_GROUPS

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


@dataclass(frozen=True, slots=True)
class Normalized:
    """A question in comparable form: ``accented`` and ``folded`` words, position by position.
    Two are equal when their words are; ``cleaned`` is the text the words come from."""

    accented: tuple[str, ...]
    folded: tuple[str, ...]
    cleaned: str = field(compare=False)


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


def _tokens(text: str) -> list[str]:
    return [t for t in _NON_WORD.split(text.casefold()) if t]


@lru_cache(maxsize=_WORD_CACHE)
def _expand_token(token: str) -> tuple[str, ...]:
    return ABBREVIATIONS.get(fold(token), (token,))


def _expand(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        out.extend(_expand_token(token))
    return out


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


def _normalize(text: str) -> Normalized:
    cleaned = clean(text)
    accented = _expand(_tokens(cleaned))
    return Normalized(
        accented=tuple(accented), folded=tuple(fold_word(t) for t in accented), cleaned=cleaned
    )


_normalize_cached = lru_cache(maxsize=8192)(_normalize)


class PhraseTable:
    """Multi-word phrases -> one canonical token, matched longest first."""

    def __init__(self, groups: dict[str, tuple[str, ...]], *, raw: bool = False) -> None:
        """``raw`` keys are already canonical tokens separated by spaces (a second pass)."""
        self.table: dict[tuple[str, ...], str] = {}
        for canonical, variants in groups.items():
            token = "_".join(fold_word(w) for w in canonical.split())  # "" drops the phrase
            for variant in (canonical, *variants):
                if raw:
                    key = tuple(variant.split())
                else:
                    key = tuple(fold_word(w) for w in _expand(_tokens(variant)))
                if key:
                    self.table.setdefault(key, token)
        self.words: frozenset[str] = frozenset(w for key in self.table for w in key)
        # first word -> the lengths of the phrases it starts, longest first: most words start
        # none, and are passed over with one lookup.
        starts: dict[str, set[int]] = {}
        for key in self.table:
            starts.setdefault(key[0], set()).add(len(key))
        self.starts = {word: sorted(lengths, reverse=True) for word, lengths in starts.items()}

    def apply(self, words: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        i, n = 0, len(words)
        while i < n:
            for length in self.starts.get(words[i], ()):
                canonical = self.table.get(words[i : i + length]) if length <= n - i else None
                if canonical is not None:
                    if canonical:
                        out.append(canonical)
                    i += length
                    break
            else:
                out.append(words[i])
                i += 1
        return tuple(out)


class Phrases:
    """Two passes: words -> concepts, then concept combinations -> roles."""

    def __init__(self) -> None:
        self.first = PhraseTable(PHRASE_GROUPS)
        self.second = PhraseTable(COMBINATIONS, raw=True)
        self.words = self.first.words

    def apply(self, words: tuple[str, ...]) -> tuple[str, ...]:
        return self.second.apply(self.first.apply(words))


PHRASES = Phrases()
