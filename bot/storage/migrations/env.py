"""Alembic's environment: the caller (bot.storage.upgrade) hands over an open connection, in
the transaction the migrations must run in; no alembic.ini, no URL read from a file."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
