"""Any text addressed to the bot goes to the Assistant, with the chat's follow-up context; the
question and the bot's decision are recorded before the reply is sent."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.types import Message

from bot import texts
from bot.assistant import Assistant, FollowUpContext
from bot.handlers.common import (
    Addressed,
    CommandLike,
    When,
    conversation_key,
    deliver,
    group_reply_to,
    is_group,
    remember,
    send_text,
)
from bot.handlers.operators import OperatorChat
from bot.handlers.support import WithOperator, connect_to_person, live
from bot.handoff import FailureStreak, HandoffDesk
from bot.normalize import normalize
from bot.storage import Storage


class ForTheFaq(Filter):
    """Not command-like, not in the operators' group, not from someone talking to an
    operator: none of the routers ahead of the questions router in the conversation order
    (admin, operators, support, commands) would take such a message, so a questions router
    with this filter can be tried before them all."""

    def __init__(self) -> None:
        self._command = CommandLike()
        self._operators = OperatorChat()
        self._with_operator = WithOperator()

    async def __call__(self, message: Message, desk: HandoffDesk | None) -> bool:
        return not (
            await self._command(message)
            or await self._operators(message, desk)
            or await self._with_operator(message, desk)
        )


async def on_question(
    message: Message,
    question: str,
    assistant: Assistant,
    follow_ups: FollowUpContext,
    db: Storage,
    streaks: FailureStreak,
    desk: HandoffDesk | None,
) -> None:
    reply_to = group_reply_to(message)
    # Nothing, or only invisible characters? (normalize: cached, the engine's next step)
    if not normalize(question).cleaned.strip():
        empty = texts.MENTION_ONLY if is_group(message) else texts.EMPTY_QUESTION
        await send_text(message, empty, reply_parameters=reply_to)
        return
    user = message.from_user
    operators = live(desk, message)
    if operators is not None and user is not None and assistant.wants_person(question):
        await connect_to_person(message, user, operators)
        return
    key = conversation_key(message.chat.id, user.id if user else None)
    reply = assistant.ask(question, follow_ups.get(key))
    question_id = await db.record_question(
        user.id if user else message.chat.id, question, reply.decision
    )
    remember(follow_ups, key, reply)
    await deliver(
        message,
        reply,
        assistant.knowledge.contact,
        question=question,
        question_id=question_id,
        person=operators is not None,
        reply_parameters=reply_to,
    )
    # A handoff reply offers a person already; the streak matters for a 👎 that follows.
    streaks.question(key, question_id, failed=reply.decision.action == "handoff")


def build_router(*, ahead: bool = False) -> Router:
    """The questions router; `ahead`: the one tried before all others, for the messages
    `ForTheFaq` lets through (most updates). The rest (a bare "/", say) reach the one in its
    place in the conversation order."""
    router = Router(name="questions-ahead" if ahead else "questions")
    if ahead:
        router.message.filter(ForTheFaq())
        router.edited_message.filter(ForTheFaq())
    router.message.register(on_question, When(F.text), Addressed())
    router.edited_message.register(on_question, When(F.text), Addressed())
    return router
