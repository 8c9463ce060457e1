"""The process the bot runs in: its event loop and the garbage collector's settings."""

from __future__ import annotations

import asyncio
import gc

GC_YOUNG_THRESHOLD = 50_000  # allocations between young-generation collections (default 700)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (not on Windows), else asyncio's own. The
    bot is one event loop doing many small things per update (tasks, futures, socket reads):
    uvloop does the loop's part of them in C."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def tune_gc() -> None:
    """Called once the bot is built, before the first update."""
    # Everything built so far (aiogram's types, the knowledge, the engine's index) lives as
    # long as the process: out of the garbage collector's sight, its full collections stay
    # short, and so do the worst per-update latencies.
    gc.collect()
    gc.freeze()
    # An update allocates thousands of short-lived objects (aiogram's pydantic models), and
    # up to MAX_RUNNING_UPDATES of them are in flight at once: with the default
    # threshold (700) young collections run several times per update and keep promoting
    # live in-flight objects to the older generations. Collecting every GC_YOUNG_THRESHOLD
    # allocations instead costs a few MB and measurably less CPU per update (benchmarks/).
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
