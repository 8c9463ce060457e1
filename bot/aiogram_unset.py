"""aiogram's ``remove_unset`` validator left out of the schemas of its types and methods.

Why: ``TelegramObject`` and ``TelegramMethod`` each declare a ``mode="before"`` model validator,
``remove_unset``, which every Telegram type and Bot API method inherits: before an object is
validated, it copies the input without the values that are ``unittest.mock.sentinel.UNSET``,
the placeholder for "the bot's default" of aiogram's early 3.x releases. aiogram no longer
passes that placeholder anywhere (its placeholders are ``Default`` objects, which the validator
keeps). Yet pydantic calls the Python function for every object it validates: four for an
update (the update, its message, chat and sender), three for Telegram's answer, one per button
or method the bot builds; and a JSON text must become Python dicts for it, where pydantic would
validate it in one pass. That was 7.5 % of the instructions of a text update
(``benchmarks/bench_bot.py``).

How: ``drop()`` removes the validator from the records pydantic builds a schema from
(``__pydantic_decorators__.model_validators``), on both bases and on every class derived from
them that is not built yet; classes derived later inherit the records without it. aiogram's
types and methods are built on first use (``bot.aiogram_import``), which calls ``drop()`` before
its probe builds the first of them. Other classes already built keep the validator.

What changes: a ``sentinel.UNSET`` passed to an aiogram object is validated as any other
value (a field that does not take it refuses it) instead of being dropped. The bot never
passes one.

Guard: only aiogram's own function is removed (the same ``__qualname__`` and module), and only
where pydantic keeps the records as expected; ``restore()`` puts them back, which
``bot.aiogram_import`` does before building everything aiogram's way when its probe fails.
``tests/test_aiogram_import.py`` compares updates, an answer and a method validated this way
with aiogram's own, in fresh interpreters.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.aiogram_post_init import subclasses

logger = logging.getLogger(__name__)

NAME = "remove_unset"
ORIGINS = {
    "aiogram.types.base": "TelegramObject.remove_unset",
    "aiogram.methods.base": "TelegramMethod.remove_unset",
}

# (class, the record taken out of it), for restore().
Removed = list[tuple[type, Any]]


def drop() -> Removed:
    """Take aiogram's ``remove_unset`` out of every aiogram type and method not built yet (see
    the module docstring); what was taken, for ``restore()``."""
    try:
        from aiogram.methods.base import TelegramMethod
        from aiogram.types.base import TelegramObject
    except ImportError as exc:  # aiogram moved them: its validators stay
        logger.warning("aiogram's remove_unset left in place (%s)", exc)
        return []
    removed: Removed = []
    bases = (TelegramObject, TelegramMethod)
    try:
        for base in bases:
            for cls in (base, *set(subclasses(base))):
                # A base's own schema is never used (nothing is a bare TelegramMethod): its
                # records are what the classes derived later inherit.
                if cls not in bases and cls.__dict__.get("__pydantic_complete__"):
                    continue
                validators = cls.__dict__["__pydantic_decorators__"].model_validators
                record = validators.get(NAME)
                if record is not None and _is_aiogram_s(record.func):
                    removed.append((cls, validators.pop(NAME)))
    except (AttributeError, KeyError, TypeError) as exc:  # pydantic keeps them otherwise
        logger.warning("aiogram's remove_unset left in place (%s)", exc)
        restore(removed)
        return []
    return removed


def restore(removed: Removed) -> None:
    """Put back what ``drop()`` took, for the classes built after this."""
    for cls, record in removed:
        cls.__dict__["__pydantic_decorators__"].model_validators[NAME] = record
    removed.clear()


def _is_aiogram_s(function: Any) -> bool:
    function = getattr(function, "__func__", function)
    module = getattr(function, "__module__", None)
    return module in ORIGINS and getattr(function, "__qualname__", None) == ORIGINS[module]
