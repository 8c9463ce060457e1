"""The Telegram conversation, one router per feature, and the dispatcher's own handler for the
questions most updates are. Routers are built by functions (a router can be included only
once, so every dispatcher gets fresh ones)."""

from __future__ import annotations

from aiogram import Dispatcher, Router

from bot.telegram.handlers import admin, buttons, commands, media, operators, questions, support
from bot.telegram.handlers.common import FromPerson


def register(dp: Dispatcher) -> None:
    """The conversation on `dp`: the questions most updates are, answered by the dispatcher
    itself (`questions.register_first`: only what none of the routers ahead of the questions
    router would take), then the routers in the conversation order."""
    questions.register_first(dp)
    dp.include_routers(*build_routers())


def build_routers() -> list[Router]:
    """The conversation order, by audience: the admin commands first (only for admins;
    anyone else's `/stats` falls through to the unknown-command reply), then the operators'
    group (everything there is theirs), then the customers. Among the customers' routers: a
    person talking to an operator first (their messages go to the operator, not to the FAQ),
    then commands, so that `/help` is never taken for a question. Messages from other bots
    reach none of them. Every router turns away what is not its own with router-level
    filters, a check each."""
    customers = Router(name="customers")
    customers.include_routers(
        support.build_router(),
        commands.build_router(),
        questions.build_router(),
        media.build_router(),
        buttons.build_router(),
    )
    routers = [
        admin.build_router(),
        operators.build_router(),
        customers,
    ]
    for router in routers:
        router.message.filter(FromPerson())
        router.edited_message.filter(FromPerson())
    return routers
