"""DATABASE_URL as an operator writes it: told apart, and never shown with its password."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import Storage, StorageError
from bot.storage.location import PostgresServer, SqliteFile, display, parse


def test_sqlite_urls_name_a_file_relative_or_absolute() -> None:
    assert parse("sqlite:///data/bot.sqlite3") == SqliteFile(Path("data/bot.sqlite3"))
    assert parse("sqlite:////srv/bot/bot.sqlite3") == SqliteFile(Path("/srv/bot/bot.sqlite3"))
    assert display("sqlite:////srv/bot/bot.sqlite3") == "/srv/bot/bot.sqlite3"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
def test_postgresql_urls_in_every_usual_spelling_go_to_asyncpg(scheme: str) -> None:
    where = parse(f"{scheme}://bot:s3cret@db.internal:5433/support")
    assert isinstance(where, PostgresServer)
    assert where.url == "postgresql+asyncpg://bot:s3cret@db.internal:5433/support"
    assert where.name == f"{scheme}://bot:***@db.internal:5433/support"
    assert "s3cret" not in display(f"{scheme}://bot:s3cret@db.internal:5433/support")


@pytest.mark.parametrize("url", ["mysql://x@y/z", "sqlite://", "sqlite:///", "bot.sqlite3"])
def test_anything_else_is_one_line_naming_the_setting(url: str) -> None:
    with pytest.raises(StorageError, match=r"^DATABASE_URL: expected sqlite:///PATH or postgres"):
        parse(url)


async def test_a_postgresql_server_that_does_not_answer_is_one_line_without_the_password() -> None:
    with pytest.raises(StorageError) as refused:
        await Storage.connect("postgresql://bot:s3cret@127.0.0.1:1/support", retention_days=90)
    message = str(refused.value)
    assert message.startswith("postgresql://bot:***@127.0.0.1:1/support: ")
    assert "s3cret" not in message
    assert "\n" not in message
