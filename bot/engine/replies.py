"""Turn an engine decision into what the user reads: text plus choices, no Telegram in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot import texts
from bot.engine.knowledge import Knowledge
from bot.engine.matcher import Decision

HANDOFF = "handoff"  # the choice "Không phải — gặp nhân viên hỗ trợ"


@dataclass(frozen=True, slots=True)
class Choice:
    intent: str  # an intent id, or HANDOFF
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    decision: Decision
    text: str
    choices: tuple[Choice, ...] = field(default=())
    show_contact: bool = False  # attach a tappable contact card where the channel has one


def answer_text(knowledge: Knowledge, intent: str) -> str:
    entry = knowledge.entry(intent)
    if intent == "contact":
        return "\n".join([entry.answer, *texts.contact_lines(knowledge.contact)])
    return entry.answer


def compose(decision: Decision, knowledge: Knowledge) -> Reply:
    if decision.action == "answer" and decision.intent is not None:
        entry = knowledge.entry(decision.intent)
        related = tuple(Choice(i, knowledge.entry(i).button) for i in entry.related)
        return Reply(
            decision,
            answer_text(knowledge, decision.intent),
            related,
            show_contact=decision.intent == "contact",
        )
    if decision.action == "suggest":
        options = [Choice(i, knowledge.entry(i).title) for i in decision.suggestions]
        options.append(Choice(HANDOFF, texts.SUGGEST_NONE))
        return Reply(decision, texts.SUGGEST_INTRO, tuple(options))
    return handoff(decision, knowledge)


def handoff(decision: Decision, knowledge: Knowledge, *, chosen: bool = False) -> Reply:
    intro = texts.HANDOFF_CHOSEN if chosen else texts.HANDOFF_INTRO
    lines = [intro, *texts.contact_lines(knowledge.contact)]
    return Reply(decision, "\n".join(lines), show_contact=True)
