"""The baseline: the best `difflib.SequenceMatcher` ratio over every phrasing, decided with the
engine's thresholds."""

from __future__ import annotations

import difflib

from bot.engine.knowledge import Knowledge
from bot.engine.matcher import Decision, Thresholds


class DifflibMatcher:
    """Best ``SequenceMatcher.ratio`` over every phrasing; same output shape as the engine."""

    def __init__(self, knowledge: Knowledge, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.intents = [e.id for e in knowledge.entries]
        self.phrasings = [(e.id, q.lower()) for e in knowledge.entries for q in e.questions]

    def decide(self, question: str) -> Decision:
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(question.lower())
        best = dict.fromkeys(self.intents, 0.0)
        for intent, phrasing in self.phrasings:
            matcher.set_seq1(phrasing)
            floor = best[intent]
            if matcher.real_quick_ratio() <= floor or matcher.quick_ratio() <= floor:
                continue
            best[intent] = max(floor, matcher.ratio())
        ranking = sorted(best.items(), key=lambda item: item[1], reverse=True)
        (top, score), (_, second) = ranking[0], ranking[1]
        t = self.thresholds
        confidence = round(score, 4)
        if score < t.suggest:
            return Decision("handoff", None, confidence, (), False, tuple(ranking[:5]))
        if score >= t.answer and score - second >= t.margin:
            return Decision("answer", top, confidence, (), False, tuple(ranking[:5]))
        choices = tuple(i for i, s in ranking[:3] if s >= t.suggest)
        return Decision("suggest", top, confidence, choices, False, tuple(ranking[:5]))
