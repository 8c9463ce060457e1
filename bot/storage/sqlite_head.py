"""The schema at the head revision as one SQLite script (``sqlite_head.sql``), for creating a
new SQLite file without loading Alembic, the way a framework loads its schema dump instead of
replaying every migration. Alembic's history stays the only place a change is written: the
script is what Alembic makes of an empty file, and a test fails when the two differ.

After adding a revision: ``python -m bot.storage.sqlite_head`` writes the script again.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

SCRIPT = Path(__file__).with_name("sqlite_head.sql")


def dump(path: Path) -> str:
    """The statements that make ``path``'s schema, and its Alembic revision."""
    with closing(sqlite3.connect(path)) as db:
        statements = [
            row[0].strip() + ";"
            for row in db.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"
                " AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        statements += [
            f"INSERT INTO alembic_version (version_num) VALUES ('{revision}');"
            for (revision,) in db.execute("SELECT version_num FROM alembic_version")
        ]
    header = (
        "-- Written by `python -m bot.storage.sqlite_head` from Alembic's history: never by hand."
    )
    text = "\n\n".join([header, *statements])
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def made_by_alembic() -> str:
    """The script for the schema Alembic's whole history makes of an empty file."""
    from bot.storage.upgrade import upgrade_sqlite

    with tempfile.TemporaryDirectory(prefix="sqlite-head-") as folder:
        path = Path(folder) / "head.sqlite3"
        upgrade_sqlite(path)
        return dump(path)


def main() -> None:
    SCRIPT.write_text(made_by_alembic(), encoding="utf-8")
    print(f"{SCRIPT} written")


if __name__ == "__main__":
    main()
