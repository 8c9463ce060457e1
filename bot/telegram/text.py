"""Text made safe for Telegram: HTML-escaped (the bot's parse mode is HTML) and cut into
messages that fit Telegram's limit of 4,096 characters counted in UTF-16 code units."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiogram import html

TEXT_LIMIT = 4096


def quote(text: str) -> str:
    """Plain text -> HTML that Telegram shows exactly as `text` (<, > and & escaped)."""
    return html.quote(text)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: characters outside the BMP (most emoji) count twice."""
    if text.isascii():
        return len(text)
    # surrogatepass: a lone surrogate (possible in a Python str) still counts as one unit.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def shorten(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, with … when something was cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: max(limit - 1, 0)].rstrip() + "…"


def _hard_cut(text: str, limit: int) -> Iterator[str]:
    """Cut `text` into chunks of at most `limit` UTF-16 units, never inside a character."""
    chunk: list[str] = []
    size = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > limit:
            yield "".join(chunk)
            chunk, size = [], 0
        chunk.append(ch)
        size += width
    if chunk:
        yield "".join(chunk)


def _fit_line(line: str, limit: int) -> Iterator[str]:
    """A line too long for one message, cut at spaces when possible, else anywhere."""
    if utf16_len(line) <= limit:
        yield line
        return
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            yield current
        if utf16_len(word) <= limit:
            current = word
        else:
            *heads, current = _hard_cut(word, limit)
            yield from heads
    if current:
        yield current


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split plain text into parts of at most `limit` UTF-16 units, on line boundaries.

    Lines are kept whole whenever they fit; a single line longer than the limit is cut at
    spaces (or anywhere, for a run without spaces). Blank lines at a cut are dropped, and no
    part is empty, since Telegram refuses empty messages. Split first, then escape each part:
    the limit counts the text after Telegram has parsed the HTML.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if utf16_len(text) <= limit:  # the usual case: one message, blank lines around it dropped
        kept = text.rstrip()
        return [re.sub(r"\A(?:[^\S\n]*\n)+", "", kept)] if kept.strip() else []
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        for piece in _fit_line(line, limit):
            if not current.strip():
                current = piece
                continue
            candidate = f"{current}\n{piece}"
            if utf16_len(candidate) <= limit:
                current = candidate
            else:
                parts.append(current.rstrip())
                current = piece
    if current.strip():
        parts.append(current.rstrip())
    return parts
