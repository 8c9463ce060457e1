"""The storage's exceptions, shared by the SQLite and PostgreSQL engines."""

from __future__ import annotations


class StorageError(Exception):
    """The database cannot be used; the message names it (never with a password)."""


class StorageClosed(StorageError):
    """A write was attempted after close()."""


class WriteDeferred(StorageError):
    """The database cannot be written now; the write is kept and will be tried again. The
    caller goes on without its result."""
