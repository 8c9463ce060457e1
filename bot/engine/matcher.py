"""The answer engine: question (+ previous intent) -> answer, suggest or handoff.

It knows nothing of Telegram, and nothing of any one business: what a business calls things
comes from its knowledge file (entries, synonyms, subjects, what it does not cover).
Scoring has two parts that fail differently:
* coverage: how much of the question's meaning (IDF-weighted words and word pairs, after
  normalisation, typo correction and synonym folding) the intent's vocabulary explains;
  words the knowledge has never seen count against every intent, which is what makes a
  question about something the file never mentions unsure instead of confidently wrong;
* fuzzy: rapidfuzz similarity of the whole question to the intent's closest phrasing,
  which rewards word order and near-duplicates of known questions.
Subject agreement (a question naming one subject is not about another subject's aspect)
and the file's vocabulary (look-alikes of its subjects; subjects it does not cover) adjust
the result.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal, NamedTuple

from rapidfuzz import fuzz, process

from bot.engine.index import Spelling, WrittenMarks
from bot.engine.knowledge import CONTACT, SMALL_TALK, Knowledge
from bot.engine.lexicon import (
    AMBIGUOUS,
    FOLLOW_UP_ENDS,
    FOLLOW_UP_STARTS,
    PHRASE_GROUPS,
    SMALL_TALK_PHRASINGS,
    SMALL_TALK_TOKENS,
)
from bot.engine.normalize import (
    CONTENT,
    FUNCTION,
    FUNCTION_FOLDED,
    MAYBE,
    SYLLABLE,
    PhraseTable,
    fold_word,
    marks,
    normalize,
    untyped,
)

Action = Literal["answer", "suggest", "handoff"]

LOOK_ALIKE = "<look_alike>"
OUT_OF_SCOPE = "<out_of_scope>"
# A word no entry knows weighs this share of the rarest known word's IDF (one entry's word).
UNKNOWN_SHARE = 0.65
NUMBER_WEIGHT = 0.3  # an unknown number ("150k", "14"): a quantity, not a subject
MAYBE_WEIGHT = 0.5  # a word typed without diacritics that may be a function word
BIGRAM_FACTOR = 0.6
WEAK_MATCH = 0.3  # a word found only in an entry's answer, not in its phrasings
QUESTION_MATCH = 0.7  # a word of its phrasings, not of its title, button or keywords
SIGNATURE_SHARE = 0.6
OTHER_SUBJECT_FACTOR = 0.55  # an answer about one subject to a question naming only another
SEVERAL_SUBJECTS_FACTOR = 0.75  # a one-subject answer to a question naming several
OUT_OF_SCOPE_FACTOR = 0.5
SIGNATURE_PENALTY = 0.3
COVERAGE_SHARE = 0.65
FUZZY_SHARE = 1 - COVERAGE_SHARE
KNOWN_POWER = 1.0
# Only the entries that share words with the question are scored in full, at most this many
# (those that share the most): a file of thousands of entries costs little more per question
# than one of twenty.
CANDIDATES = 12
COMMON_POSTING = 30  # a word of more entries than this is common (files beyond 30 entries)

Tokens = tuple[str, ...]
Roles = tuple[int, ...]


class _Row(NamedTuple):
    intent: str
    subject: Tokens | None
    docs: list[str]  # the phrasings, each with its words sorted (token_sort_ratio by `ratio`)
    signature: tuple[tuple[str, float], ...]
    signature_total: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Chosen on several businesses' files at once (tests/unit/test_eval_bars.py)."""

    answer: float = 0.40
    suggest: float = 0.36
    margin: float = 0.03
    # Below `answer`, a best match at least `clear_ratio` times the second is still answered
    # from `clear` up: one entry explains the question and no other comes close.
    clear: float = 0.22
    clear_ratio: float = 1.5


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    intent: str | None
    confidence: float
    suggestions: tuple[str, ...] = ()
    follow_up: bool = False
    ranking: tuple[tuple[str, float], ...] = field(default=(), compare=False)


def _contains(words: Tokens, part: Tokens) -> bool:
    n = len(part)
    return any(words[i : i + n] == part for i in range(len(words) - n + 1))


class Vocabulary:
    """The generic phrase groups and the file's own vocabulary, compiled: single-word variants
    expand to their term's words, phrases fold to one token in two passes (the second finds
    phrases made of the first's tokens: "trưởng" + a team's synonym)."""

    def __init__(self, knowledge: Knowledge) -> None:
        own = knowledge.vocabulary
        self.expansions: dict[str, Tokens] = {}
        # The file's own words first: where a phrase means something else in this business
        # than in everyday chat, the business wins.
        groups: list[tuple[str, Iterable[str]]] = list(own.synonyms.items())
        groups += [("", own.ignore), (OUT_OF_SCOPE, own.out_of_scope)]
        groups.append((LOOK_ALIKE, own.look_alikes))
        groups += PHRASE_GROUPS.items()
        for term, variants in own.synonyms.items():
            words = self._words(term)
            for variant in variants:
                key = self._words(variant)
                if len(key) == 1 and key != words:
                    self.expansions.setdefault(key[0], words)
        self.first = PhraseTable()
        entries: list[tuple[Tokens, str]] = []
        for term, group in groups:
            special = term.startswith("<")  # a marker token, not a phrase of its own
            token = term if special else "_".join(self._words(term))
            for variant in [*group] if special else [term, *group]:
                key = self.expand(self._words(variant))
                if len(key) > 1 or (key and key[0] != token):
                    entries.append((key, token))
                    self.first.add(key, token)
        self.second = PhraseTable()
        for key, token in entries:
            folded, _ = self.first.apply(key, (CONTENT,) * len(key), skip=token)
            if folded != key and len(folded) > 1:
                self.second.add(folded, token)
        self.words: frozenset[str] = frozenset(
            w for table in (self.first, self.second) for key in table.table for w in key
        ) | frozenset(self.expansions)

    @staticmethod
    def _words(text: str) -> Tokens:
        return normalize(text).folded

    def expand(self, words: Tokens) -> Tokens:
        out: list[str] = []
        for word in words:
            out.extend(self.expansions.get(word, (word,)))
        return tuple(out)

    def apply(self, words: Tokens, roles: Roles) -> tuple[Tokens, Roles]:
        if self.expansions.keys().isdisjoint(words):  # most texts: no variant to expand
            tokens, out_roles = self.first.apply(words, roles)
            return self.second.apply(tokens, out_roles)
        expanded: list[str] = []
        expanded_roles: list[int] = []
        for word, role in zip(words, roles, strict=True):
            found = self.expansions.get(word)
            if found is None:
                expanded.append(word)
                expanded_roles.append(role)
            else:
                expanded.extend(found)
                expanded_roles.extend(FUNCTION if w in FUNCTION_FOLDED else CONTENT for w in found)
        tokens, out_roles = self.first.apply(tuple(expanded), tuple(expanded_roles))
        return self.second.apply(tokens, out_roles)


class Engine:
    def __init__(self, knowledge: Knowledge, thresholds: Thresholds | None = None) -> None:
        self.knowledge = knowledge
        self.thresholds = thresholds or Thresholds()
        self.vocabulary = Vocabulary(knowledge)
        # Each text's terms, while its entry is indexed: a phrasing is read three times. Kept
        # for one entry at a time: a large file's would take tens of MB at once.
        self._building: dict[str, tuple[list[str], list[str]]] | None = {}
        shares: dict[str, dict[str, float]] = {}  # of the entry's phrasings having each word
        strong: dict[str, set[str]] = defaultdict(set)
        weak: dict[str, set[str]] = defaultdict(set)
        named: dict[str, set[str]] = defaultdict(set)  # the title's, button's and keywords'
        words: set[str] = set(FUNCTION_FOLDED) | self.vocabulary.words
        docs: dict[str, list[str]] = defaultdict(list)
        # folded word -> the diacritics each entry writes it with ("gói", not "gọi")
        self._written = WrittenMarks()
        for entry in knowledge.entries:
            self._building = {}
            phrasings = [*entry.questions, entry.title, entry.button]
            if entry.id in SMALL_TALK:
                phrasings += SMALL_TALK_PHRASINGS.get(entry.id, ())
            written: set[tuple[str, str]] = set()
            for text in [*phrasings, *entry.keywords, entry.answer]:
                norm = normalize(text)
                words.update(norm.folded)
                written.update(zip(norm.folded, map(marks, norm.accented), strict=True))
            self._written.add(entry.id, written)
            for text in [*phrasings, *entry.keywords]:
                content, bigrams = self._text_terms(text)
                strong[entry.id].update(content, bigrams)
            for text in [entry.title, entry.button, *entry.keywords]:
                content, bigrams = self._text_terms(text)
                named[entry.id].update(content, bigrams)
            for text in phrasings:
                docs[entry.id].append(" ".join(self._text_terms(text)[0]))
            answer = entry.answer
            if entry.id == CONTACT:  # its reply shows the contact block: so does its index
                c = knowledge.contact
                answer = " ".join([answer, c.organization, c.address, c.hours, c.phone_display])
                words.update(normalize(answer).folded)
            if entry.id not in SMALL_TALK:  # small-talk answers mention every topic
                content, bigrams = self._text_terms(answer)
                weak[entry.id].update(content, bigrams)
            counts: dict[str, int] = defaultdict(int)
            for text in entry.questions:
                for term in dict.fromkeys(self._text_terms(text)[0]):  # in order: sums repeat
                    counts[term] += 1
            shares[entry.id] = {t: c / len(entry.questions) for t, c in counts.items()}
        self._building = None
        self._vocabulary = sorted(w for w in words if w.isalpha())
        self._spelling = Spelling(self._vocabulary)
        self._known_words = frozenset(words)
        n = len(knowledge.entries)
        # term -> {intent: match strength}; IDF from how many intents use the term.
        self._postings: dict[str, dict[str, float]] = defaultdict(dict)
        for intent, terms in weak.items():
            for term in terms:
                self._postings[term][intent] = WEAK_MATCH
        for intent, terms in strong.items():
            for term in terms:
                self._postings[term][intent] = 1.0 if term in named[intent] else QUESTION_MATCH
        self._idf = {
            term: math.log(1 + n / (sum(v > WEAK_MATCH for v in p.values()) or len(p)))
            for term, p in self._postings.items()
        }
        # An intent's signature: the words most of its phrasings share. A question lacking
        # them fits the intent less well.
        self._signature: dict[str, dict[str, float]] = {}
        for entry in knowledge.entries:
            share = shares[entry.id]
            self._signature[entry.id] = {
                t: f * self._idf.get(t, 1.0) for t, f in share.items() if f >= SIGNATURE_SHARE
            }
        # Subjects and aspects, as the token sequences a question names them by.
        self._subject: dict[str, Tokens] = {}
        self._aspect: dict[str, Tokens] = {}
        self._by_facets: dict[tuple[Tokens | None, Tokens | None], str] = {}
        for entry in knowledge.entries:
            subject = self._facet(entry.subject)
            aspect = self._facet(entry.aspect)
            if subject:
                self._subject[entry.id] = subject
            if aspect:
                self._aspect[entry.id] = aspect
            if subject or aspect:
                self._by_facets.setdefault((subject or None, aspect or None), entry.id)
        self._subjects = sorted(set(self._subject.values()), key=len, reverse=True)
        self._aspects = sorted(set(self._aspect.values()), key=len, reverse=True)
        # What _rank needs of each entry, in one tuple: its loop runs for every entry. The
        # phrasings have their words sorted once here, so rapidfuzz's plain `ratio` on them is
        # token_sort_ratio without sorting every phrasing again for every question; phrasings
        # that normalise to the same words are kept once, as only the best score counts.
        self._rows: list[_Row] = [
            _Row(
                entry.id,
                self._subject.get(entry.id),
                list(dict.fromkeys(" ".join(sorted(doc.split())) for doc in docs[entry.id])),
                tuple(self._signature[entry.id].items()),
                sum(self._signature[entry.id].values()),
            )
            for entry in knowledge.entries
        ]
        self._row = {row.intent: row for row in self._rows}
        self._unknown = UNKNOWN_SHARE * math.log(1 + n)
        self._same_words: dict[tuple[str, str], tuple[dict[str, float], float]] = {}
        self._corrections: dict[str, str] = {}
        # Longer junk ("aaaa…" pasted 300 times) can never be corrected: it is not looked up,
        # nor remembered among the corrections.
        self._longest_word = max(map(len, self._vocabulary))

    # -- normalisation that needs the knowledge's vocabulary ---------------------------
    def _facet(self, text: str | None) -> Tokens:
        if not text:
            return ()
        tokens, roles = self._process(normalize(text).folded, normalize(text).roles)
        return tuple(t for t, r in zip(tokens, roles, strict=True) if r != FUNCTION)

    def _process(self, words: Tokens, roles: Roles) -> tuple[Tokens, Roles]:
        return self.vocabulary.apply(words, roles)

    def _text_terms(self, text: str) -> tuple[list[str], list[str]]:
        """Terms of a knowledge text (no typo correction: the knowledge is spelt right)."""
        if self._building is not None:
            found = self._building.get(text)
            if found is None:
                found = self._building[text] = self._compute_terms(text)
            return found
        return self._compute_terms(text)

    def _compute_terms(self, text: str) -> tuple[list[str], list[str]]:
        norm = normalize(text)
        tokens, roles = self._process(norm.folded, norm.roles)
        # The file's own out-of-scope words and look-alikes mark questions, not entries.
        content = [
            t
            for t, r in zip(tokens, roles, strict=True)
            if r == CONTENT and t not in (OUT_OF_SCOPE, LOOK_ALIKE)
        ]
        return content, [f"{a} {b}" for a, b in itertools.pairwise(content)]

    def _correct(self, word: str) -> str:
        """Map a misspelt word to a known one, conservatively: a word typed with the input
        method off ("gif"), stretched ("nhaa"), or one letter off ("năg" -> "nang")."""
        if word in self._known_words or len(word) > self._longest_word + 1:
            return word
        cached = self._corrections.get(word)
        if cached is not None:
            return cached
        result = self._guess(word)
        if len(self._corrections) < 50_000:
            self._corrections[word] = result
        return result

    def _guess(self, word: str) -> str:
        typed = untyped(word)
        if typed is not None and typed in self._known_words:
            return typed
        if not word.isalpha():
            return word
        single = "".join(ch for i, ch in enumerate(word) if i == 0 or ch != word[i - 1])
        if single != word and single in self._known_words:
            return single
        # A Vietnamese syllable is a real word we do not know ("tách"), not a typo, so it is
        # never "corrected" into a known one ("trách"); a fix is at most 1 letter off.
        if len(word) < 3 or SYLLABLE.match(word):
            return word
        cutoff = 85.0 if len(word) <= 4 else 80.0
        return self._spelling.correction(word, cutoff) or word

    def _question(self, question: str) -> tuple[Tokens, Roles, dict[str, str]]:
        """The question's tokens, their roles, and the diacritics of the content words the
        user wrote with them (folded word -> marks)."""
        norm = normalize(question)
        words: list[str] = []
        roles: list[int] = []
        written: dict[str, str] = {}
        for accented, folded, role in zip(norm.accented, norm.folded, norm.roles, strict=True):
            readings = AMBIGUOUS.get(accented) or AMBIGUOUS.get(accented.replace("đ", "d"))
            if readings is not None and folded not in self.vocabulary.expansions:
                others = [w for w in norm.folded if w != folded]
                reading = self._reading(readings, others)
                for word in reading:
                    folded_word = fold_word(word)
                    words.append(folded_word)
                    roles.append(FUNCTION if folded_word in FUNCTION_FOLDED else CONTENT)
                    if marks(word):
                        written[folded_word] = marks(word)
                continue
            if role == CONTENT:
                if folded in self._known_words:
                    mark = marks(accented)
                    if mark:
                        written[folded] = mark
                else:
                    folded = self._correct(folded)
            words.append(folded)
            roles.append(role)
        tokens, out_roles = self._process(tuple(words), tuple(roles))
        return tokens, out_roles, written

    def _same_word(
        self, term: str, mark: str, posting: dict[str, float]
    ) -> tuple[dict[str, float], float]:
        """The entries where `term` is the word the user wrote with diacritics `mark` ("gọi",
        to call, is not "gói", a plan; "yêu" is not "yếu"), and its IDF among them."""
        key = (term, mark)
        found = self._same_words.get(key)
        if found is None:
            others = self._written.others(term, mark)
            if others:
                same = {i: strength for i, strength in posting.items() if i not in others}
                strong = sum(1 for v in same.values() if v > WEAK_MATCH)
                idf = math.log(1 + len(self._rows) / (strong or len(same))) if same else 0.0
                found = (same, idf)
            else:
                found = (posting, self._idf[term])
            if len(self._same_words) < 50_000:
                self._same_words[key] = found
        return found

    def _reading(self, readings: tuple[Tokens, ...], others: list[str]) -> Tokens:
        """The reading of a shorthand that shares an entry with most other words of the
        question ("đổi mk wifi": mật khẩu), else the last one ("cho mk hỏi": mình)."""
        support: dict[str, int] = defaultdict(int)
        for word in set(others):
            for intent in self._postings.get(word, ()):
                support[intent] += 1
        best, best_count = readings[-1], 0
        for reading in readings[:-1]:
            folded = tuple(fold_word(w) for w in reading)
            tokens, _ = self._process(folded, (CONTENT,) * len(folded))
            if OUT_OF_SCOPE in tokens or LOOK_ALIKE in tokens:
                continue
            term = " ".join(tokens)
            count = max((support[i] for i in self._postings.get(term, ())), default=0)
            if count > best_count:
                best, best_count = reading, count
        return best

    def tokens(self, question: str) -> Tokens:
        """The canonical tokens the engine matches on (exposed for tests and debugging)."""
        return self._question(question)[0]

    def content(self, question: str) -> list[str]:
        """The words the engine matches on, function words left out (for tests and
        debugging): "mấy cái bánh" has no "may", "máy làm bánh" has."""
        tokens, roles, _ = self._question(question)
        return self._content(tokens, roles)[0]

    def _content(self, tokens: Tokens, roles: Roles) -> tuple[list[str], frozenset[str]]:
        """The question's content words, and those of them that may be function words."""
        content: list[str] = []
        maybe: set[str] = set()
        sure: set[str] = set()
        for token, role in zip(tokens, roles, strict=True):
            if role == CONTENT:
                content.append(token)
                sure.add(token)
            elif role == MAYBE and token in self._idf:
                content.append(token)
                maybe.add(token)
        return content, frozenset(maybe - sure)

    # -- scoring -------------------------------------------------------------------------
    def rank(self, question: str) -> list[tuple[str, float]]:
        """Every entry with its score, best first (entries sharing no word score 0)."""
        tokens, roles, written = self._question(question)
        content, maybe = self._content(tokens, roles)
        ranking = self._rank(content, maybe, written)
        scored = {intent for intent, _ in ranking}
        return ranking + [(r.intent, 0.0) for r in self._rows if r.intent not in scored]

    def _mentioned(self, content: list[str], facets: list[Tokens]) -> list[Tokens]:
        words = tuple(content)
        return [facet for facet in facets if _contains(words, facet)]

    def _rank(
        self, content: list[str], maybe: frozenset[str], written: dict[str, str] | None = None
    ) -> list[tuple[str, float]]:
        if not content:
            return [(e.id, 0.0) for e in self.knowledge.entries]
        bigrams = [f"{a} {b}" for a, b in itertools.pairwise(content)]
        weights: dict[str, float] = {}
        postings: dict[str, dict[str, float]] = {}
        for term in content:
            posting = self._postings.get(term)
            weight = self._idf.get(term, 0.0)
            mark = written.get(term) if written and posting else None
            if posting and mark is not None:
                posting, weight = self._same_word(term, mark, posting)
            if posting:
                postings[term] = posting
            else:
                weight = NUMBER_WEIGHT if any(ch.isdigit() for ch in term) else self._unknown
            weights[term] = weight * MAYBE_WEIGHT if term in maybe else weight
        for term in bigrams:
            if term in self._idf:
                weights[term] = self._idf[term] * BIGRAM_FACTOR
                postings[term] = self._postings[term]
        total = sum(weights.values())
        # Words of many entries (in a large file) add to the entries the rarer words found,
        # instead of to all of theirs: the same scores for those, a fraction of the work.
        coverage: dict[str, float] = {}
        common = [t for t, p in postings.items() if len(p) > COMMON_POSTING]
        if len(common) == len(postings):
            common = []
        for term, posting in postings.items():
            if len(posting) <= COMMON_POSTING or not common:
                weight = weights[term]
                for intent, strength in posting.items():
                    coverage[intent] = coverage.get(intent, 0.0) + weight * strength
        for term in common:
            weight, posting = weights[term], postings[term]
            for intent in coverage:
                found = posting.get(intent)
                if found is not None:
                    coverage[intent] += weight * found
        query = " ".join(sorted(content))
        # Words no entry knows lower every score alike.
        known = sum([w for t, w in weights.items() if t in postings and " " not in t])
        unigram_total = sum([w for t, w in weights.items() if " " not in t])
        knownness = (known / unigram_total) ** KNOWN_POWER if unigram_total else 0.0
        subjects = set(self._mentioned(content, self._subjects))
        out_of_scope = OUT_OF_SCOPE in weights
        # The inverted index gave the entries sharing a word with the question; the rest score
        # nothing. This loop is the engine's hottest: names bound once.
        if len(coverage) > CANDIDATES:
            chosen = heapq.nlargest(CANDIDATES, coverage.items(), key=itemgetter(1))
            candidates = [self._row[intent] for intent, _ in chosen]
        else:
            candidates = [self._row[intent] for intent in coverage]
        extract_one, ratio = process.extractOne, fuzz.ratio
        scores: list[tuple[str, float]] = []
        for intent, subject, docs, signature, signature_total in candidates:
            closest = extract_one(query, docs, scorer=ratio, score_cutoff=30)
            fuzzy = closest[1] / 100 if closest is not None else 0.0
            score = COVERAGE_SHARE * coverage.get(intent, 0.0) / total + FUZZY_SHARE * fuzzy
            if signature:
                missing = sum([w for t, w in signature if t not in weights])
                score *= 1 - SIGNATURE_PENALTY * missing / signature_total
            if subject is not None and subjects and subject not in subjects:
                score *= OTHER_SUBJECT_FACTOR
            elif subject is not None and len(subjects) > 1:
                score *= SEVERAL_SUBJECTS_FACTOR
            if out_of_scope:
                score *= OUT_OF_SCOPE_FACTOR
            score *= knownness
            scores.append((intent, score if score < 1.0 else 1.0))
        scores.sort(key=itemgetter(1), reverse=True)
        if len(scores) < 2:  # a decision compares the best two
            scored = {intent for intent, _ in scores}
            scores += [(r.intent, 0.0) for r in self._rows[:3] if r.intent not in scored][:2]
        return scores

    # -- decisions -----------------------------------------------------------------------
    def decide(self, question: str, previous_intent: str | None = None) -> Decision:
        tokens, roles, written = self._question(question)
        content, maybe = self._content(tokens, roles)
        ranking = self._rank(content, maybe, written)
        if LOOK_ALIKE in content and not self._mentioned(content, self._subjects):
            # It looks like a subject of the file but is not one: whatever else matches, the
            # file does not cover it.
            return Decision("handoff", None, round(min(ranking[0][1], 0.2), 4), (), False, ())
        decision = self._small_talk(content, ranking) or self._decide(ranking)
        if previous_intent in self.knowledge.by_id:
            follow = self._follow_up(tokens, content, previous_intent, decision)
            if follow is not None:
                return follow
        return decision

    def _small_talk(self, content: list[str], ranking: list[tuple[str, float]]) -> Decision | None:
        """A greeting, thanks or goodbye with nothing else the file knows: small talk."""
        if not SMALL_TALK_TOKENS.intersection(content):
            return None
        rest = [t for t in content if t not in SMALL_TALK_TOKENS]
        # The rest is chit-chat: a few Vietnamese words the file does not know.
        if len(rest) > 4 or any(t in self._postings or not SYLLABLE.match(t) for t in rest):
            return None
        said = {i for t in content if t in SMALL_TALK_TOKENS for i in self._postings.get(t, {})}
        for intent, score in ranking:
            if intent in said and intent in SMALL_TALK:
                top = tuple(ranking[:5])
                return Decision(
                    "answer", intent, round(max(score, self.thresholds.answer), 4), (), False, top
                )
        return None

    def _decide(self, ranking: list[tuple[str, float]]) -> Decision:
        t = self.thresholds
        (best, best_score), (_, second_score) = ranking[0], ranking[1]
        top = tuple(ranking[:5])
        confidence = round(best_score, 4)
        if best_score >= t.answer and best_score - second_score >= t.margin:
            return Decision("answer", best, confidence, (), False, top)
        if best_score >= t.clear and best_score >= t.clear_ratio * second_score:
            return Decision("answer", best, confidence, (), False, top)
        if best_score < t.suggest:
            return Decision("handoff", None, confidence, (), False, top)
        choices = [best]
        for intent, score in ranking[1:]:
            if len(choices) == 3 or score < max(t.suggest * 0.8, best_score - 0.2):
                break
            if intent not in SMALL_TALK:
                choices.append(intent)
        return Decision("suggest", best, confidence, tuple(choices), False, top)

    def _follow_up(
        self, tokens: Tokens, content: list[str], previous_intent: str, decision: Decision
    ) -> Decision | None:
        """ "còn X thì sao?" after an answer about one subject's aspect means the same aspect
        of subject X; "còn Y thì sao?" means aspect Y of the same subject."""
        previous_subject = self._subject.get(previous_intent)
        previous_aspect = self._aspect.get(previous_intent)
        if previous_subject is None and previous_aspect is None:
            return None
        marked = any(tokens[: len(m)] == m for m in FOLLOW_UP_STARTS) or any(
            tokens[-len(m) :] == m for m in FOLLOW_UP_ENDS
        )
        if decision.action == "answer" and not marked:
            return None
        subjects = self._mentioned(content, self._subjects)
        aspects = self._mentioned(content, self._aspects)
        named = {w for facet in [*subjects, *aspects] for w in facet}
        rest = [t for t in content if t not in named]
        # Only short questions made of a subject and/or an aspect are treated as follow-ups.
        if len(rest) > 1 or (not subjects and not aspects) or len(subjects) > 1:
            return None
        subject = subjects[0] if subjects else previous_subject
        aspect = aspects[0] if aspects else previous_aspect
        intent = self._by_facets.get((subject, aspect))
        if intent is None or (intent == previous_intent and not aspects):
            return None
        return Decision("answer", intent, 0.9, (), True, decision.ranking)
