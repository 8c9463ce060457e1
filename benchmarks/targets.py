"""The targets the benchmarks report against (issues 14 and 16), and Telegram's own limit."""

from __future__ import annotations

CPU_BAR_MS = 1.5  # CPU per text update, in-process, one core
P99_BAR_MS = 5.0  # latency per update, in-process
RSS_BAR_MB = 120.0  # peak RSS of the running bot
STARTUP_BAR_S = 2.0  # spawn of `python -m bot run` -> its first answer
LOAD_BAR_S = 5.0  # a 2,000-entry knowledge file, loaded and built
RATIO_BAR = 3.0  # CPU per question of that file against the shipped file's
TELEGRAM_RATE = 30.0  # messages a second Telegram lets one bot send


def headroom(text_cpu_ms: float) -> str:
    """One core's text updates a second, against Telegram's own sending limit."""
    per_second = 1000 / text_cpu_ms
    return (
        f"at {text_cpu_ms:.2f} ms of CPU per text update, one core answers about "
        f"{per_second:,.0f} questions a second, {per_second / TELEGRAM_RATE:.0f}× the "
        f"~{TELEGRAM_RATE:.0f} messages a second Telegram lets a bot send"
    )
