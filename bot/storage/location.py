"""Where the database is: a DATABASE_URL told apart, and named without its password."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.storage.database_errors import StorageError

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


@dataclass(frozen=True, slots=True)
class SqliteFile:
    path: Path


@dataclass(frozen=True, slots=True)
class PostgresServer:
    url: str  # postgresql+asyncpg://…, with the password if there was one
    name: str  # the URL as given, for logs and errors: no password


def parse(url: str) -> SqliteFile | PostgresServer:
    """``sqlite:///path`` (``sqlite:////absolute``) or ``postgresql://…`` (also ``postgres://``)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return SqliteFile(Path(rest[1:]))
    if sep and scheme in _POSTGRES_SCHEMES:
        return PostgresServer("postgresql+asyncpg://" + rest, redact(url))
    raise StorageError("DATABASE_URL: expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def display(url: str) -> str:
    """The database for a person to read: the file's path, or the URL without password."""
    where = parse(url)
    return str(where.path) if isinstance(where, SqliteFile) else where.name
