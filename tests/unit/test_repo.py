"""The README's promises about the repository stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:sh|bash)?\n(.+?)\n```", section)


def test_readme_opens_with_two_quick_start_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("python -m bot")
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert quick_start_commands()[1] in ci.splitlines()


def test_every_setting_is_documented_in_env_example() -> None:
    from bot.settings import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert re.search(rf"^#?\s*{name.upper()}=", example, re.MULTILINE), name


README_LIMIT = 15_000  # bytes: a guide for the people who run the bot, not a design record


def test_readme_stays_a_short_guide() -> None:
    assert len((ROOT / "README.md").read_bytes()) < README_LIMIT


def test_docs_linked_from_the_readme_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)\)", readme):
        assert (ROOT / target).is_file(), target


def test_the_engine_imports_nothing_of_telegram_or_storage() -> None:
    code = (
        "import sys, pkgutil, importlib, bot.engine\n"
        "for m in pkgutil.iter_modules(bot.engine.__path__):\n"
        "    importlib.import_module('bot.engine.' + m.name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('aiogram', 'aiosqlite', 'sqlite3')"
        " or n.startswith(('bot.telegram', 'bot.storage', 'bot.support'))]\n"
        "print(','.join(sorted(bad)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
