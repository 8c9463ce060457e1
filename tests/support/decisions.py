"""What every decision of the engine must look like, whatever it was asked."""

from __future__ import annotations

from bot.engine.matcher import Decision
from tests.support.contract import INTENT_IDS


def assert_well_formed(decision: Decision) -> None:
    assert decision.action in {"answer", "suggest", "handoff"}
    assert 0.0 <= decision.confidence <= 1.0
    assert all(0.0 <= score <= 1.0 for _, score in decision.ranking)
    if decision.action == "answer":
        assert decision.intent in INTENT_IDS
    elif decision.action == "suggest":
        assert decision.suggestions
        assert set(decision.suggestions) <= set(INTENT_IDS)
    else:
        assert decision.intent is None
        assert decision.suggestions == ()
