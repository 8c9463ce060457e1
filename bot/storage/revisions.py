"""Which schema revision this code needs, and the one line saying a database is not at it.

Read at every start, so it imports nothing: on SQLite the revision is compared with sqlite3
alone, Alembic is loaded only by ``python -m bot migrate`` (bot.storage.upgrade). A test checks
these constants against Alembic's own history.
"""

from __future__ import annotations

from bot.storage.database_errors import StorageError

# Every Alembic revision, oldest first; the last is the head this code runs on.
REVISIONS: tuple[str, ...] = ("0001", "0002")
HEAD = REVISIONS[-1]
# The revision that equals the SQLite-only history (bot.storage.database.MIGRATIONS, 1 to 4).
BASELINE = "0001"


class SchemaBehind(StorageError):
    """The database lacks migrations this code needs."""


class SchemaAhead(StorageError):
    """The database was migrated by a newer version of the bot."""


def behind(at: str) -> SchemaBehind:
    return SchemaBehind(
        f"the database is at revision {at}, this version needs {HEAD}: run `python -m bot migrate`"
    )


def ahead(at: str) -> SchemaAhead:
    return SchemaAhead(
        f"the database is at revision {at}, newer than this version of the bot ({HEAD}): "
        "update the bot"
    )


def check(revision: str | None) -> None:
    """Raise unless ``revision`` (None: no revision recorded) is the head."""
    if revision == HEAD:
        return
    if revision is None:
        raise behind("none (an empty database)")
    if revision in REVISIONS:
        raise behind(revision)
    raise ahead(revision)
