"""Scoring the engine on labelled questions (the format of shared/eval/sample.jsonl)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.engine.matcher import Decision, Engine

HANDOFF = "handoff"


@dataclass(frozen=True, slots=True)
class Case:
    q: str
    expect: tuple[str, ...]
    kind: str

    @property
    def in_scope(self) -> bool:
        """The file answers it: some intent is expected (a handoff may be acceptable too)."""
        return any(intent != HANDOFF for intent in self.expect)


@dataclass(frozen=True, slots=True)
class Metrics:
    total: int
    in_scope: int
    out_of_scope: int
    answered_correct: float
    confidently_wrong: float
    offtopic_handoff: float
    recovered: float


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    decision: Decision

    @property
    def answered_right(self) -> bool:
        d = self.decision
        if d.action == HANDOFF:  # where the label accepts a handoff as well as an answer
            return HANDOFF in self.case.expect
        return d.action == "answer" and d.intent in self.case.expect

    @property
    def confidently_wrong(self) -> bool:
        return self.decision.action == "answer" and self.decision.intent not in self.case.expect

    @property
    def recovered(self) -> bool:
        d = self.decision
        return d.action == "suggest" and any(i in self.case.expect for i in d.suggestions)

    @property
    def ok(self) -> bool:
        if self.case.in_scope:
            return self.answered_right
        return self.decision.action == "handoff"


def load_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(Case(str(raw["q"]), tuple(raw["expect"]), str(raw.get("kind", "-"))))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not an evaluation line ({exc})") from None
    return cases


def run(engine: Engine, cases: list[Case]) -> list[Outcome]:
    return [Outcome(case, engine.decide(case.q)) for case in cases]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def metrics(outcomes: list[Outcome]) -> Metrics:
    inside = [o for o in outcomes if o.case.in_scope]
    outside = [o for o in outcomes if not o.case.in_scope]
    return Metrics(
        total=len(outcomes),
        in_scope=len(inside),
        out_of_scope=len(outside),
        answered_correct=_share(sum(o.answered_right for o in inside), len(inside)),
        confidently_wrong=_share(sum(o.confidently_wrong for o in outcomes), len(outcomes)),
        offtopic_handoff=_share(sum(o.decision.action == HANDOFF for o in outside), len(outside)),
        recovered=_share(sum(o.recovered for o in inside), len(inside)),
    )


def report(outcomes: list[Outcome]) -> str:
    def row(name: str, m: Metrics) -> str:
        return (
            f"{name:<16} {m.total:>5} {m.answered_correct:>9.1%} {m.confidently_wrong:>9.1%} "
            f"{m.offtopic_handoff:>9.1%} {m.recovered:>9.1%}"
        )

    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.case.kind].append(outcome)
    lines = [
        f"{'':<16} {'n':>5} {'answered':>9} {'conf-wrong':>9} {'handoff':>9} {'recovered':>9}",
        row("overall", metrics(outcomes)),
        *(row(kind, metrics(group)) for kind, group in sorted(by_kind.items())),
    ]
    failures = [o for o in outcomes if not o.ok]
    lines.append(f"\nFailures ({len(failures)}):")
    for o in failures:
        d = o.decision
        got = d.action + (f" {d.intent}" if d.action == "answer" else "")
        if d.action == "suggest":
            got += " [" + ", ".join(d.suggestions) + "]"
        lines.append(
            f"- [{o.case.kind}] {o.case.q[:120]!r}\n    expected {', '.join(o.case.expect)}; "
            f"got {got} ({d.confidence:.2f})"
        )
    return "\n".join(lines)
