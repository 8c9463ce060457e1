"""Escaping and splitting text for Telegram (HTML parse mode, 4,096 UTF-16 units a message)."""

from __future__ import annotations

import pytest

from bot.telegram.text import TEXT_LIMIT, quote, shorten, split_text, utf16_len


def test_quote_escapes_what_telegram_html_would_read_as_markup() -> None:
    assert quote("<b>CSO</b> & CMO") == "&lt;b&gt;CSO&lt;/b&gt; &amp; CMO"
    assert quote("Giám đốc “Kinh doanh”") == "Giám đốc “Kinh doanh”"


def test_emoji_outside_the_bmp_count_twice() -> None:
    assert utf16_len("CSO") == 3
    assert utf16_len("👍") == 2
    assert utf16_len("Kỹ năng") == 7


def test_short_text_is_one_part() -> None:
    assert split_text("Xin chào!\nBạn cần gì?") == ["Xin chào!\nBạn cần gì?"]


def test_long_text_is_cut_between_lines() -> None:
    lines = [f"Dòng {n}: " + "x" * 90 for n in range(100)]

    parts = split_text("\n".join(lines))

    assert len(parts) == 3
    assert all(utf16_len(part) <= TEXT_LIMIT for part in parts)
    assert [line for part in parts for line in part.split("\n")] == lines


def test_a_line_longer_than_a_message_is_cut_at_spaces() -> None:
    words = ["kỹ-năng"] * 1200  # 9,599 characters on one line

    parts = split_text(" ".join(words))

    assert all(utf16_len(part) <= TEXT_LIMIT for part in parts)
    assert " ".join(parts).split(" ") == words


def test_a_run_without_spaces_is_cut_anywhere_but_never_inside_an_emoji() -> None:
    text = "👍" * 3000  # 6,000 UTF-16 units

    parts = split_text(text)

    assert [utf16_len(part) for part in parts] == [4096, 1904]
    assert "".join(parts) == text


def test_blank_lines_at_a_cut_and_empty_parts_are_dropped() -> None:
    text = "a" * 4000 + "\n\n\n" + "b" * 200 + "\n\n"

    assert split_text(text) == ["a" * 4000, "b" * 200]
    assert split_text("\n \n") == []


def test_the_limit_is_respected_exactly() -> None:
    assert split_text("x" * 10 + "\n" + "y" * 10, limit=21) == ["x" * 10 + "\n" + "y" * 10]
    assert split_text("x" * 10 + "\n" + "y" * 10, limit=20) == ["x" * 10, "y" * 10]
    with pytest.raises(ValueError, match="positive"):
        split_text("x", limit=0)


def test_shorten_keeps_one_line_and_marks_the_cut() -> None:
    assert shorten("CSO\nlà gì?", 50) == "CSO là gì?"
    assert shorten("x" * 400, 300) == "x" * 299 + "…"
