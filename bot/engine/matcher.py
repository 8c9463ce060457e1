"""The answer engine: question (+ previous intent) -> answer, suggest or handoff.

It knows nothing of Telegram. Scoring has two parts that fail differently:
* coverage: how much of the question's meaning (IDF-weighted words and word pairs, after
  normalisation, typo correction and synonym folding) the intent's vocabulary explains;
  words the knowledge has never seen count against every intent, which is what makes
  "CMO của công ty X lương bao nhiêu" unsure instead of confidently wrong;
* fuzzy: rapidfuzz similarity of the whole question to the intent's closest phrasing,
  which rewards word order and near-duplicates of known questions.
Job-title agreement (a question about the CMO is not about the CSO's skills) and two
lexicon signals (another job title; a subject the article never covers) adjust the result.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal, NamedTuple

from rapidfuzz import fuzz, process

from bot.engine.knowledge import SMALL_TALK, Knowledge
from bot.engine.lexicon import STOPWORDS
from bot.engine.normalize import PHRASES, normalize

Action = Literal["answer", "suggest", "handoff"]

ROLE_TOKENS: frozenset[str] = frozenset({"cso", "cmo"})
OTHER_ROLE = "chuc_danh_khac"
OUT_OF_SCOPE = "ngoai_pham_vi"
# Words that mark "and what about…?" after a previous answer.
FOLLOW_UP_STARTS: tuple[tuple[str, ...], ...] = (
    ("con",), ("the", "con"), ("vay", "con"), ("the", "thi"), ("what", "about"),
    ("how", "about"), ("and",), ("con", "ve"), ("thế", "còn"),
)  # fmt: skip
FOLLOW_UP_ENDS: tuple[tuple[str, ...], ...] = (("thi", "sao"), ("the", "nao"), ("sao",))
TOPIC_TOKENS: dict[str, str] = {
    "vai_tro": "vai trò",
    "trach_nhiem": "trách nhiệm",
    "ki_nang": "kỹ năng",
}


def _role(subject: str | None) -> str | None:
    role = subject.casefold() if subject else None
    return role if role in ROLE_TOKENS else None


# A folded Vietnamese syllable: such a word is a real word we do not know ("tách"), not a
# typo, so it is never "corrected" into a known one ("trách").
_SYLLABLE = re.compile(
    r"^(ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdghklmnprstvx])?"
    r"(uye|uya|oai|oay|oeo|uoi|uou|ieu|yeu|uay|uao|[aeiouy]{1,2})(ch|nh|ng|[cmnpt])?$"
)
UNKNOWN_WEIGHT = 1.6  # weight of a word no entry knows, against IDFs of about 0.5-2.9
BIGRAM_FACTOR = 0.6
WEAK_MATCH = 0.6  # a word found only in an entry's answer, not in its phrasings
SIGNATURE_SHARE = 0.6
OTHER_ROLE_FACTOR = 0.55  # a CSO-only answer to a question that names only the CMO
BOTH_ROLES_FACTOR = 0.75  # a one-role answer to a question naming both roles
SIGNATURE_PENALTY = 0.3
COVERAGE_SHARE = 0.65
FUZZY_SHARE = 1 - COVERAGE_SHARE
KNOWN_POWER = 1.0


class _Row(NamedTuple):
    intent: str
    role: str | None  # "cso" or "cmo"; None for entries about both or neither
    docs: list[str]  # the phrasings, each with its words sorted (token_sort_ratio by `ratio`)
    signature: tuple[tuple[str, float], ...]
    signature_total: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Calibrated on tests/data/eval.jsonl; see README "Thresholds"."""

    answer: float = 0.38
    suggest: float = 0.35
    margin: float = 0.01


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    intent: str | None
    confidence: float
    suggestions: tuple[str, ...] = ()
    follow_up: bool = False
    ranking: tuple[tuple[str, float], ...] = field(default=(), compare=False)


def _terms(tokens: Iterable[str]) -> tuple[list[str], list[str]]:
    content = [t for t in tokens if t not in STOPWORDS]
    bigrams = [f"{a} {b}" for a, b in itertools.pairwise(content)]
    return content, bigrams


class Engine:
    def __init__(self, knowledge: Knowledge, thresholds: Thresholds | None = None) -> None:
        self.knowledge = knowledge
        self.thresholds = thresholds or Thresholds()
        self._by_role_topic: dict[tuple[str | None, str], str] = {
            (_role(e.subject), e.aspect or ""): e.id for e in knowledge.entries
        }
        strong: dict[str, set[str]] = defaultdict(set)
        weak: dict[str, set[str]] = defaultdict(set)
        words: set[str] = set(STOPWORDS) | PHRASES.words
        self._docs: dict[str, list[str]] = defaultdict(list)
        for entry in knowledge.entries:
            phrasings = [*entry.questions, entry.title, entry.button]
            for text in [*phrasings, *entry.keywords]:
                words.update(normalize(text).folded)
                content, bigrams = self._text_terms(text)
                strong[entry.id].update(content, bigrams)
            for text in phrasings:
                doc = " ".join(self._text_terms(text)[0])
                self._docs[entry.id].append(doc)
            words.update(normalize(entry.answer).folded)
            if entry.id not in SMALL_TALK:  # small-talk answers mention every topic
                content, bigrams = self._text_terms(entry.answer)
                weak[entry.id].update(content, bigrams)
        self._vocabulary = sorted(w for w in words if w.isalpha())
        self._known_words = frozenset(words)
        n = len(knowledge.entries)
        # term -> {intent: match strength}; IDF from how many intents use the term.
        self._postings: dict[str, dict[str, float]] = defaultdict(dict)
        for intent, terms in weak.items():
            for term in terms:
                self._postings[term][intent] = WEAK_MATCH
        for intent, terms in strong.items():
            for term in terms:
                self._postings[term][intent] = 1.0
        self._idf = {
            term: math.log(1 + n / (sum(v == 1.0 for v in p.values()) or len(p)))
            for term, p in self._postings.items()
        }
        # An intent's signature: the words most of its phrasings share ("ki_nang" for the
        # skills intents). A question lacking them fits the intent less well.
        self._signature: dict[str, dict[str, float]] = {}
        for entry in knowledge.entries:
            counts: dict[str, int] = defaultdict(int)
            for text in entry.questions:
                for term in dict.fromkeys(self._text_terms(text)[0]):  # in order: sums repeat
                    counts[term] += 1
            share = {t: c / len(entry.questions) for t, c in counts.items()}
            self._signature[entry.id] = {
                t: f * self._idf.get(t, 1.0) for t, f in share.items() if f >= SIGNATURE_SHARE
            }
        self._signature_total = {i: sum(sig.values()) for i, sig in self._signature.items()}
        # What _rank needs of each entry, in one tuple: its loop runs for every entry. The
        # phrasings have their words sorted once here, so rapidfuzz's plain `ratio` on them is
        # token_sort_ratio without sorting every phrasing again for every question; phrasings
        # that normalise to the same words ("CSO là gì?", "cso la gi") are kept once, as only
        # the best score counts.
        self._rows: list[_Row] = [
            _Row(
                entry.id,
                _role(entry.subject),
                list(dict.fromkeys(" ".join(sorted(doc.split())) for doc in self._docs[entry.id])),
                tuple(self._signature[entry.id].items()),
                self._signature_total[entry.id],
            )
            for entry in knowledge.entries
        ]
        # term -> the entries whose signature has it: a question touches few signatures, and
        # for the rest all of the signature is missing.
        self._in_signature: dict[str, set[str]] = defaultdict(set)
        for intent, signature in self._signature.items():
            for term in signature:
                self._in_signature[term].add(intent)
        self._corrections: dict[str, str] = {}
        # Longer junk ("aaaa…" pasted 300 times) can never be corrected: it is not looked up,
        # nor remembered among the corrections.
        self._longest_word = max(map(len, self._vocabulary))

    # -- normalisation that needs the knowledge's vocabulary ---------------------------
    def _correct(self, word: str) -> str:
        """Map a misspelt word to the closest known one ("năg" -> "nang"), conservatively."""
        if (
            word in self._known_words
            or not 3 <= len(word) <= self._longest_word + 1  # a fix is at most 1 letter off
            or not word.isalpha()
            or _SYLLABLE.match(word)
        ):
            return word
        cached = self._corrections.get(word)
        if cached is not None:
            return cached
        cutoff = 85.0 if len(word) <= 4 else 80.0
        match = process.extractOne(word, self._vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff)
        result = word
        if match is not None and abs(len(match[0]) - len(word)) <= 1 and match[0][0] == word[0]:
            result = match[0]
        if len(self._corrections) < 50_000:
            self._corrections[word] = result
        return result

    @staticmethod
    def _text_terms(text: str) -> tuple[list[str], list[str]]:
        """Terms of a knowledge text (no typo correction: the knowledge is spelt right)."""
        return _terms(PHRASES.apply(normalize(text).folded))

    def tokens(self, question: str) -> tuple[str, ...]:
        """The canonical tokens the engine matches on (exposed for tests and debugging)."""
        words = tuple(self._correct(w) for w in normalize(question).folded)
        return PHRASES.apply(words)

    # -- scoring -------------------------------------------------------------------------
    def rank(self, question: str) -> list[tuple[str, float]]:
        tokens = self.tokens(question)
        return self._rank(tokens)

    def _rank(self, tokens: tuple[str, ...]) -> list[tuple[str, float]]:
        content, bigrams = _terms(tokens)
        if not content:
            return [(e.id, 0.0) for e in self.knowledge.entries]
        weights: dict[str, float] = {}
        for term in content:
            weights[term] = self._idf.get(term, UNKNOWN_WEIGHT)
        for term in bigrams:
            if term in self._idf:
                weights[term] = self._idf[term] * BIGRAM_FACTOR
        total = sum(weights.values())
        coverage: dict[str, float] = {}
        for term, weight in weights.items():
            for intent, strength in self._postings.get(term, {}).items():
                coverage[intent] = coverage.get(intent, 0.0) + weight * strength
        query = " ".join(sorted(content))
        # Words no entry knows ("Vinamilk", "hoa hồng") lower every score alike.
        known = sum([w for t, w in weights.items() if t in self._idf and " " not in t])
        unigram_total = sum([w for t, w in weights.items() if " " not in t])
        knownness = (known / unigram_total) ** KNOWN_POWER if unigram_total else 0.0
        roles = ROLE_TOKENS.intersection(content)
        out_of_scope = OUT_OF_SCOPE in content
        touched: set[str] = set()
        for term in weights:
            touched.update(self._in_signature.get(term, ()))
        # This loop runs 17 times a question, the engine's hottest: names bound once.
        extract_one, ratio = process.extractOne, fuzz.ratio
        scores: list[tuple[str, float]] = []
        for intent, role, docs, signature, signature_total in self._rows:
            closest = extract_one(query, docs, scorer=ratio, score_cutoff=30)
            fuzzy = closest[1] / 100 if closest is not None else 0.0
            score = COVERAGE_SHARE * coverage.get(intent, 0.0) / total + FUZZY_SHARE * fuzzy
            if signature:
                missing = (
                    sum([w for t, w in signature if t not in weights])
                    if intent in touched
                    else signature_total  # the same sum: every term, in the same order
                )
                score *= 1 - SIGNATURE_PENALTY * missing / signature_total
            if role is not None and roles and role not in roles:
                score *= OTHER_ROLE_FACTOR
            elif role is not None and len(roles) == 2:
                score *= BOTH_ROLES_FACTOR
            if out_of_scope:
                score *= 0.5
            score *= knownness
            scores.append((intent, score if score < 1.0 else 1.0))
        scores.sort(key=itemgetter(1), reverse=True)
        return scores

    # -- decisions -----------------------------------------------------------------------
    def decide(self, question: str, previous_intent: str | None = None) -> Decision:
        tokens = self.tokens(question)
        content = [t for t in tokens if t not in STOPWORDS]
        ranking = self._rank(tokens)
        if OTHER_ROLE in content:
            # Another C-level title: whatever else matches, the article does not cover it.
            return Decision("handoff", None, round(min(ranking[0][1], 0.2), 4), (), False, ())
        decision = self._decide(ranking)
        if previous_intent in self.knowledge.by_id:
            follow = self._follow_up(tokens, content, previous_intent, decision)
            if follow is not None:
                return follow
        return decision

    def _decide(self, ranking: list[tuple[str, float]]) -> Decision:
        t = self.thresholds
        (best, best_score), (_, second_score) = ranking[0], ranking[1]
        top = tuple(ranking[:5])
        confidence = round(best_score, 4)
        if best_score < t.suggest:
            return Decision("handoff", None, confidence, (), False, top)
        if best_score >= t.answer and best_score - second_score >= t.margin:
            return Decision("answer", best, confidence, (), False, top)
        choices = [best]
        for intent, score in ranking[1:]:
            if len(choices) == 3 or score < max(t.suggest * 0.8, best_score - 0.2):
                break
            if intent not in SMALL_TALK:
                choices.append(intent)
        return Decision("suggest", best, confidence, tuple(choices), False, top)

    def _follow_up(
        self,
        tokens: tuple[str, ...],
        content: list[str],
        previous_intent: str,
        decision: Decision,
    ) -> Decision | None:
        """ "còn CMO thì sao?" after a CSO-skills answer means the CMO's skills."""
        previous = self.knowledge.entry(previous_intent)
        previous_role = _role(previous.subject)
        if previous_role is None:
            return None
        marked = any(tokens[: len(m)] == m for m in FOLLOW_UP_STARTS) or any(
            tokens[-len(m) :] == m for m in FOLLOW_UP_ENDS
        )
        if decision.action == "answer" and not marked:
            return None
        roles = [t for t in content if t in ROLE_TOKENS]
        topics = [TOPIC_TOKENS[t] for t in content if t in TOPIC_TOKENS]
        rest = [t for t in content if t not in ROLE_TOKENS and t not in TOPIC_TOKENS]
        # Only short questions made of a role and/or a topic are treated as follow-ups.
        if len(rest) > 1 or (not roles and not topics) or len(set(roles)) > 1:
            return None
        role = roles[0] if roles else previous_role
        topic = topics[0] if topics else previous.aspect or ""
        intent = self._by_role_topic.get((role, topic))
        if intent is None or (intent == previous_intent and not topics):
            return None
        return Decision("answer", intent, 0.9, (), True, decision.ranking)
