"""One call instead of a chain of wrappers when an aiogram object is created.

Why: every aiogram type and method (about 630 pydantic models) inherits a private attribute,
``_bot``, and a ``model_post_init`` that sets it from the validation context, from
``BotContextController``. For a model with private attributes and a ``model_post_init``,
pydantic wraps ``model_post_init`` so that it first initialises the private attributes, and
a subclass wraps the already wrapped method again. So creating a ``Message`` runs a chain of
wrappers, one per class between it and ``BotContextController``, each calling pydantic's
``init_private_attributes``. A text question creates about eleven such objects (the update,
its message, user and chat, the ``sendMessage`` call, the keyboard, the answer), some forty
wrapper calls: 12-15% of the CPU the bot spends on it (``benchmarks/bench_bot.py``).

How: ``flatten_post_init()`` gives each subclass of ``BotContextController`` whose
``model_post_init`` is that chain around ``BotContextController.model_post_init`` (followed
through the wrappers' ``__wrapped__``), and whose only private attribute is ``_bot`` without
a default, one function that leaves the object as the chain does: ``_bot`` is the context's
``bot`` (None without one). pydantic-core calls ``model_post_init`` by name, so models whose
validators were built before are covered too. Classes that differ (a ``model_post_init`` of
their own, more private attributes) keep pydantic's chain.

Guard: a probe ``Update`` is then validated with and without a bot in the context, and an
object rebound with ``as_()``; on any difference every class gets its chain back.
``tests/test_aiogram_post_init.py`` checks both paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from pydantic_core import PydanticUndefined

logger = logging.getLogger(__name__)

PostInit = Callable[[Any, Any], None]

PROBE_UPDATE: dict[str, Any] = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 1, "type": "private"},
        "from": {"id": 1, "is_bot": False, "first_name": "probe"},
        "text": "probe",
    },
}


def _post_init(self: Any, context: Any, /) -> None:
    """What pydantic's chain and ``BotContextController.model_post_init`` do, in one call."""
    bot = context.get("bot") if context else None
    private = getattr(self, "__pydantic_private__", None)
    if private is None:
        object.__setattr__(self, "__pydantic_private__", {"_bot": bot})
    else:  # already set (model_construct, copies): the chain keeps what is there
        private["_bot"] = bot


def _innermost(function: Any) -> Any:
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


def subclasses(cls: type) -> Iterator[type]:
    """Every class derived from `cls`, at any depth (one reached twice, through two bases, is
    given twice)."""
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def _only_bot_private(cls: Any) -> bool:
    private = getattr(cls, "__private_attributes__", {})
    return set(private) == {"_bot"} and private["_bot"].default is PydanticUndefined


def flatten_post_init() -> int:
    """Replace the chains (see the module docstring); how many classes now use one call."""
    try:
        from aiogram.client.context_controller import BotContextController
        from aiogram.types import Update
    except ImportError as exc:  # aiogram moved them: keep pydantic's chains
        logger.warning("aiogram's post-init left as is (%s)", exc)
        return 0
    root = _innermost(BotContextController.__dict__.get("model_post_init"))
    replaced: dict[type, PostInit] = {}
    for cls in set(subclasses(BotContextController)):
        current = cls.__dict__.get("model_post_init")
        if current is None or current is _post_init:
            continue
        if _innermost(current) is root and _only_bot_private(cls):
            replaced[cls] = current
            cls.model_post_init = _post_init  # type: ignore[attr-defined]
    if not replaced:
        return 0
    try:
        _probe(Update)
    except Exception as exc:  # whatever pydantic or aiogram changed: their own behaviour
        logger.warning("aiogram's post-init left as is (%s)", exc)
        for cls, original in replaced.items():
            cls.model_post_init = original  # type: ignore[attr-defined]
        return 0
    return len(replaced)


def _probe(update_type: Any) -> None:
    bot, other = object(), object()
    bound = update_type.model_validate(PROBE_UPDATE, context={"bot": bot})
    message = bound.message
    if not (bound.bot is bot and message.bot is bot and message.chat.bot is bot):
        raise RuntimeError("objects validated with a bot do not carry it")
    unbound = update_type.model_validate(PROBE_UPDATE)
    if unbound.bot is not None or unbound.message.from_user.bot is not None:
        raise RuntimeError("objects validated without a bot carry one")
    if message.as_(other).bot is not other:
        raise RuntimeError("as_() does not rebind")
