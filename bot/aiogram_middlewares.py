"""aiogram's middleware chains built without ``functools.wraps``, which nothing reads.

Why: aiogram's dispatcher builds a middleware chain afresh for every event at every level it
reaches (``MiddlewareManager.wrap_middlewares``): the update's outer middlewares, the update's
handler, the outer middlewares of each router on the way down, the inner middlewares around
the handler found; five chains for a text question. The innermost step of each is a closure
decorated with ``functools.wraps(handler)``, which copies five attributes and a ``__dict__``
onto a function that lives for one call and that nothing asks for its name, and the chain is
walked with ``reversed()`` on aiogram's ``Sequence``, a Python generator calling
``__getitem__`` per middleware. Together about 3 % of the instructions of a text update
(``benchmarks/bench_bot.py``), a tenth of aiogram's own dispatching.

How: ``install()`` replaces the static method ``MiddlewareManager.wrap_middlewares`` with
``wrap_middlewares``, which builds the same chain: ``functools.partial(middleware, next)``
from the innermost middleware outwards, around a function calling ``handler(event, **data)``.

Guard: only when aiogram's method still takes ``(middlewares, handler)``; then probe chains
(two middlewares that record what they see, change the data and wrap the result; one that
answers without calling the handler; none at all; aiogram's own manager as the sequence) are
run through both, and must give the same calls and results, else aiogram's method stays.
``tests/test_aiogram_middlewares.py`` checks the chain in a dispatcher and both fallbacks.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

Wrap = Callable[[Sequence[Any], Callable[..., Any]], Callable[[Any, dict[str, Any]], Any]]

PARAMETERS = ("middlewares", "handler")

# aiogram's own method, once replaced (kept for the tests' comparison).
replaced: list[Wrap] = []


def wrap_middlewares(
    middlewares: Sequence[Any], handler: Callable[..., Any]
) -> Callable[[Any, dict[str, Any]], Any]:
    """aiogram's chain: each middleware gets (the next step, event, data); the handler gets
    (event, **data)."""

    def call_handler(event: Any, data: dict[str, Any]) -> Any:
        return handler(event, **data)

    chain: Callable[[Any, dict[str, Any]], Any] = call_handler
    # A slice of aiogram's manager is its list: no generator walking it item by item.
    for middleware in middlewares[::-1]:
        chain = functools.partial(middleware, chain)
    return chain


def install() -> bool:
    """Use ``wrap_middlewares`` in aiogram's dispatcher (see the module docstring); whether it
    is in use now."""
    try:
        from aiogram.dispatcher.middlewares.manager import MiddlewareManager
    except ImportError as exc:  # aiogram moved it: its own chains
        logger.warning("aiogram's middleware chains left as they are (%s)", exc)
        return False
    current = MiddlewareManager.__dict__.get("wrap_middlewares")
    if not isinstance(current, staticmethod):
        logger.warning("aiogram's middleware chains left as they are (not a static method)")
        return False
    original = current.__func__
    if original is wrap_middlewares:
        return True
    try:
        parameters = tuple(inspect.signature(original).parameters)
    except (TypeError, ValueError):
        parameters = ()
    if parameters != PARAMETERS:
        logger.warning("aiogram's middleware chains left as they are (parameters %s)", parameters)
        return False
    try:
        same = probe(original, MiddlewareManager) == probe(wrap_middlewares, MiddlewareManager)
    except Exception as exc:  # whatever aiogram changed: its own behaviour
        logger.warning("aiogram's middleware chains left as they are (%s)", exc)
        return False
    if not same:
        logger.warning("aiogram's middleware chains left as they are (they behave differently)")
        return False
    MiddlewareManager.wrap_middlewares = staticmethod(wrap_middlewares)  # type: ignore[method-assign]
    replaced.append(original)
    return True


def probe(wrap: Wrap, manager_type: Callable[[], Any]) -> list[Any]:
    """What chains built by `wrap` do: the calls each step saw, and what each chain returned."""
    seen: list[Any] = []

    def first(step: Callable[..., Any], event: Any, data: dict[str, Any]) -> Any:
        seen.append(("first", event, dict(data)))
        data["by_first"] = True
        return ("first", step(event, data))

    def second(step: Callable[..., Any], event: Any, data: dict[str, Any]) -> Any:
        seen.append(("second", event, dict(data)))
        return ("second", step(event, data))

    def answers(step: Callable[..., Any], event: Any, data: dict[str, Any]) -> Any:
        seen.append(("answers", event, dict(data)))
        return "answered"

    def handler(event: Any, **data: Any) -> Any:
        seen.append(("handler", event, data))
        return ("handled", event)

    manager = manager_type()
    manager.register(first)
    manager.register(second)
    results = [
        wrap([first, second], handler)("event", {"n": 1}),
        wrap([answers, second], handler)("event", {"n": 2}),
        wrap([], handler)("event", {"n": 3}),
        wrap(manager, handler)("event", {"n": 4}),
    ]
    return [seen, results]
