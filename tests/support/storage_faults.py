"""Making the database fail the way disks do, with SQLite's own errors, on the writer's
connection of a running Storage."""

from __future__ import annotations

from bot.storage import Storage


def writes_fail(storage: Storage, failing: bool = True) -> None:
    """The database refuses every write from now on, as one on a disk remounted read-only
    does (SQLite's "attempt to write a readonly database"); False: it writes again."""
    storage._db.execute(f"PRAGMA query_only = {'ON' if failing else 'OFF'}")


def disk_full(storage: Storage, full: bool = True) -> None:
    """No page can be added to the database any more, as on a full disk (SQLite's "database or
    disk is full", which rolls the whole transaction back); False: room again."""
    pages = storage._db.execute("PRAGMA page_count").fetchone()[0] if full else 2**31
    storage._db.execute(f"PRAGMA max_page_count = {pages}")
