"""Several `python -m bot webhook` instances on one PostgreSQL and one Redis: the database
migrated as an operator does it, and what the instances stored read back from PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.support.processes import bot_env


def migrate(workdir: Path, database_url: str) -> None:
    """`python -m bot migrate`, as an operator runs it before starting the instances."""
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=workdir,
        env=bot_env(DATABASE_URL=database_url, DATA_DIR=str(workdir / "data")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def stored_questions(database_url: str) -> Counter[str]:
    """Every question stored, by its text (a question stored twice counts twice)."""
    import asyncpg

    db = await asyncpg.connect(database_url)
    try:
        rows = await db.fetch("SELECT text FROM questions")
    finally:
        await db.close()
    return Counter(row["text"] for row in rows)
