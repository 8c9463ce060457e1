"""Compact structures of the engine's index, for knowledge files of thousands of entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process


class WrittenMarks:
    """The diacritics each entry writes each (folded) word with: "gói" (a plan) in one entry,
    "gọi" (to call) in another. Entries that write a word the same ways share one group, so
    a file of thousands of entries keeps a few groups per word, not a set per word and entry.
    """

    def __init__(self) -> None:
        self._groups: dict[str, dict[frozenset[str], list[str]]] = {}

    def add(self, intent: str, written: Iterable[tuple[str, str]]) -> None:
        """Every (folded word, diacritics) pair of one entry's texts."""
        by_word: dict[str, set[str]] = {}
        for word, mark in written:
            by_word.setdefault(word, set()).add(mark)
        for word, found in by_word.items():
            self._groups.setdefault(word, {}).setdefault(frozenset(found), []).append(intent)

    def others(self, word: str, mark: str) -> set[str]:
        """The entries that write `word` only with other diacritics than `mark`: never with
        `mark`, never without diacritics."""
        out: set[str] = set()
        for found, intents in self._groups.get(word, {}).items():
            if mark not in found and "" not in found:
                out.update(intents)
        return out


class Spelling:
    """The known words a misspelt one may be meant as. The answer is the word most similar to
    it (`fuzz.ratio` at least `cutoff`, the first in `vocabulary` order among equals), kept
    only if it starts with the same letter and its length is within one. Most unknown words
    have no such neighbour: they are told apart by comparing them with the words of that
    letter and length only, instead of with the whole vocabulary of a large file."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self._vocabulary = list(vocabulary)
        self._order = {word: i for i, word in enumerate(self._vocabulary)}
        self._by_start: dict[tuple[str, int], list[str]] = {}
        for word in self._vocabulary:
            self._by_start.setdefault((word[0], len(word)), []).append(word)
        self._near: dict[tuple[int, float], list[str]] = {}

    def correction(self, word: str, cutoff: float) -> str | None:
        n = len(word)
        close = [w for size in (n - 1, n, n + 1) for w in self._by_start.get((word[0], size), ())]
        # The best match can be kept only if it is one of these: if none of them reaches the
        # cutoff, there is nothing to correct.
        if (
            not close
            or process.extractOne(word, close, scorer=fuzz.ratio, score_cutoff=cutoff) is None
        ):
            return None
        match = process.extractOne(
            word, self._near_length(n, cutoff), scorer=fuzz.ratio, score_cutoff=cutoff
        )
        if match is not None and abs(len(match[0]) - n) <= 1 and match[0][0] == word[0]:
            return str(match[0])
        return None

    def _near_length(self, n: int, cutoff: float) -> list[str]:
        """The words, in order, whose length lets them reach `cutoff` against a word of `n`
        letters: `fuzz.ratio` is at most 100 * (1 - |n - m| / (n + m)) for lengths n and m."""
        key = (n, cutoff)
        near = self._near.get(key)
        if near is None:
            near = [
                w
                for w in self._vocabulary
                if 100 * (1 - abs(n - len(w)) / (n + len(w))) >= cutoff - 1
            ]
            if len(self._near) < 256:
                self._near[key] = near
        return near
