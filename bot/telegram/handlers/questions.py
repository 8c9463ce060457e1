"""Any text addressed to the bot goes to the Assistant, with the chat's follow-up context; the
question and the bot's decision are recorded before the reply is sent (when the database
cannot be written, the reply goes out all the same and the record is written later)."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Filter
from aiogram.methods import TelegramMethod
from aiogram.types import Message, Update

from bot import texts
from bot.cluster.state import ChatState
from bot.engine.assistant import Assistant
from bot.engine.normalize import normalize
from bot.storage import Storage, WriteDeferred
from bot.support.handoff import HandoffDesk
from bot.telegram.handlers.common import (
    Addressed,
    CommandLike,
    FromPerson,
    When,
    deliver,
    group_reply_to,
    is_group,
    remember,
    send_text,
)
from bot.telegram.handlers.operators import OperatorChat
from bot.telegram.handlers.support import WithOperator, connect_to_person, live
from bot.telegram.outbox import Outbox


class FaqQuestion(Filter):
    """A text from a person, addressed to the bot, that none of the routers ahead of the
    questions router in the conversation order (admin, operators, support, commands) would
    take: not command-like, not in the operators' group, not from someone talking to an
    operator. What the questions router's own filters give the handler (`question`), in one
    filter, so that the dispatcher can answer most updates before trying any router."""

    def __init__(self) -> None:
        self._person = FromPerson()
        self._command = CommandLike()
        self._operators = OperatorChat()
        self._with_operator = WithOperator()
        self._addressed = Addressed()

    async def __call__(
        self, message: Message, bot: Bot, desk: HandoffDesk | None
    ) -> bool | dict[str, Any]:
        if not message.text or not await self._person(message):
            return False
        if (
            await self._command(message)
            or await self._operators(message, desk)
            or await self._with_operator(message, desk)
        ):
            return False
        return await self._addressed(message, bot)


async def on_question(
    message: Message,
    question: str,
    assistant: Assistant,
    chat_state: ChatState,
    db: Storage,
    desk: HandoffDesk | None,
    outbox: Outbox,
    event_update: Update,
) -> TelegramMethod[Any] | None:
    """The answer; in webhook mode it is returned, to go in the webhook's response."""
    reply_to = group_reply_to(message)
    # Nothing, or only invisible characters? (normalize: cached, the engine's next step)
    if not normalize(question).cleaned.strip():
        empty = texts.MENTION_ONLY if is_group(message) else texts.EMPTY_QUESTION
        await send_text(message, empty, reply_parameters=reply_to)
        return None
    user = message.from_user
    operators = live(desk, message)
    if operators is not None and user is not None and assistant.wants_person(question):
        await connect_to_person(message, user, operators)
        return None
    user_id = user.id if user else None
    reply = assistant.ask(question, await chat_state.follow_up(message.chat.id, user_id))
    try:
        # Keyed by the update: the same update delivered again is stored once.
        question_id = await db.record_question(
            user.id if user else message.chat.id,
            question,
            reply.decision,
            update_id=event_update.update_id,
        )
    except WriteDeferred:  # the database is failing (and says so); answering needs no disk
        question_id = 0  # no id yet: the buttons carry none, as under a topic's answer
    await remember(chat_state, message.chat.id, user_id, reply)
    # A handoff reply offers a person already; the streak matters for a 👎 that follows.
    await chat_state.question(
        message.chat.id, user_id, question_id, failed=reply.decision.action == "handoff"
    )
    return await deliver(
        message,
        reply,
        assistant.knowledge.contact,
        question=question,
        question_id=question_id,
        person=operators is not None,
        reply_parameters=reply_to,
        outbox=outbox,
        update_id=event_update.update_id,
    )


def build_router() -> Router:
    """The questions router, in its place in the conversation order: what `register_first`
    let through is answered before any router is tried; the rest that is a question after all
    (a bare "/", say) comes here."""
    router = Router(name="questions")
    router.message.register(on_question, When(F.text), Addressed())
    router.edited_message.register(on_question, When(F.text), Addressed())
    return router


def register_first(dp: Dispatcher) -> None:
    """Questions are most updates, and passing the routers ahead of the questions router
    costs about a tenth of the time a question takes (a router's filters and middleware
    chain, a level at a time): the dispatcher answers what `FaqQuestion` lets through itself,
    with the questions router's handler, before it tries any router. It changes nothing but
    the cost: whatever the filter turns away meets the routers in the conversation order."""
    for observer in (dp.message, dp.edited_message):
        observer.register(on_question, FaqQuestion())
