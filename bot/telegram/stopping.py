"""SIGTERM and SIGINT while the bot starts: whatever it is waiting for (a slow or unreachable
Bot API), a stop request ends the wait, and the caller's clean-up (the database, the HTTP
session) still runs. Once polling runs, aiogram's own handlers take the signals over (and
finish the replies in flight); the webhook server waits for `requested` itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable
from types import TracebackType
from typing import TypeVar

logger = logging.getLogger("bot")

T = TypeVar("T")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """A stop signal came before the awaited work was done."""


class StopSignals:
    """While installed, SIGTERM/SIGINT set `requested` (the first one is logged). Install it
    in the running loop with `with StopSignals() as stop:`."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            with contextlib.suppress(NotImplementedError):  # Windows: no loop signal handlers
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self.requested.is_set():
            logger.info("%s received: stopping", sig.name)
        self.requested.set()

    async def race(self, work: Awaitable[T]) -> T:
        """`work`'s result; raises Stopped (with `work` cancelled and awaited) when a stop is
        requested first."""
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(self.requested.wait())
        try:
            await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                # Let the work unwind (close its connection) before the caller cleans up.
                await asyncio.wait((task,))
        if not task.cancelled():
            return task.result()
        raise Stopped
