"""The product's quality bars on the project's labelled questions (tests/data/eval.jsonl).

Run with the default thresholds of the settings, as a fresh install would answer.
`python -m bot eval` prints the per-kind table and every failure behind these figures.
"""

from __future__ import annotations

import pytest

from bot.engine.evaluation import Metrics, load_cases, metrics, run
from bot.engine.knowledge import load_knowledge
from bot.engine.matcher import Engine
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT, Settings

EVAL_FILE = PROJECT_ROOT / "tests" / "data" / "eval.jsonl"

ANSWERED_CORRECT_MIN = 0.92
CONFIDENTLY_WRONG_MAX = 0.02
OFFTOPIC_HANDOFF_MIN = 0.95


@pytest.fixture(scope="module")
def scores() -> Metrics:
    # model_construct: the declared defaults, whatever the environment or a .env file says.
    thresholds = Settings.model_construct().thresholds
    engine = Engine(load_knowledge(DEFAULT_KNOWLEDGE), thresholds)
    cases = load_cases(EVAL_FILE)
    assert len(cases) >= 400
    return metrics(run(engine, cases))


def test_the_evaluation_set_covers_both_sides(scores: Metrics) -> None:
    assert scores.in_scope >= 300
    assert scores.out_of_scope >= 80


def test_answered_correct(scores: Metrics) -> None:
    assert scores.answered_correct >= ANSWERED_CORRECT_MIN, (
        f"answered-correct {scores.answered_correct:.1%} < {ANSWERED_CORRECT_MIN:.0%} "
        f"on {scores.in_scope} in-scope questions"
    )


def test_confidently_wrong(scores: Metrics) -> None:
    assert scores.confidently_wrong <= CONFIDENTLY_WRONG_MAX, (
        f"confidently-wrong {scores.confidently_wrong:.1%} > {CONFIDENTLY_WRONG_MAX:.0%} "
        f"on {scores.total} questions"
    )


def test_offtopic_handoff(scores: Metrics) -> None:
    assert scores.offtopic_handoff >= OFFTOPIC_HANDOFF_MIN, (
        f"off-topic handoff {scores.offtopic_handoff:.1%} < {OFFTOPIC_HANDOFF_MIN:.0%} "
        f"on {scores.out_of_scope} out-of-scope questions"
    )
