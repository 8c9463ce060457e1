"""The bot's tables as SQLAlchemy Core metadata: what the migrations must arrive at.

The migrations (bot/storage/migrations) never import this; a test compares their result with
it on SQLite and PostgreSQL. Types chosen to mean the same on both: timestamps are ``Double``
(PostgreSQL's REAL has 4 bytes), Telegram chat and user ids ``BigInteger`` (they exceed 32
bits), row ids ``BigInteger`` except on SQLite, where only ``INTEGER PRIMARY KEY`` is the rowid.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

ROW_ID = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

questions = Table(
    "questions",
    metadata,
    Column("id", ROW_ID, primary_key=True),
    Column("at", Double, nullable=False),
    Column("user_key", Text, nullable=False),
    Column("text", Text),
    Column("action", Text, nullable=False),
    Column("intent", Text),
    Column("confidence", Double, nullable=False),
    Column("best_guess", Text),
    Column("assigned_intent", Text),
    Column("assigned_at", Double),
    Column("update_id", BigInteger),  # the Telegram update it came in (revision 0002)
    CheckConstraint("action IN ('answer', 'suggest', 'handoff')"),
    Index("questions_at", "at"),
    Index("questions_user", "user_key", "id"),
    Index(
        "questions_update",
        "user_key",
        "update_id",
        unique=True,
        sqlite_where=text("update_id IS NOT NULL"),
        postgresql_where=text("update_id IS NOT NULL"),
    ),
)

votes = Table(
    "votes",
    metadata,
    Column("id", ROW_ID, primary_key=True),
    Column("at", Double, nullable=False),
    Column("user_key", Text, nullable=False),
    Column("intent", Text, nullable=False),
    Column("up", Integer, nullable=False),
    Column("question_id", ROW_ID, ForeignKey("questions.id")),
    CheckConstraint("up IN (0, 1)"),
    Index("votes_at", "at"),
    Index("votes_question", "question_id", "up"),
)

topics = Table(
    "topics",
    metadata,
    Column("group_id", BigInteger),
    Column("topic_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    UniqueConstraint("group_id", "topic_id"),
    UniqueConstraint("group_id", "chat_id"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", ROW_ID, primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("user_key", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("opened_at", Double, nullable=False),
    Column("first_reply_at", Double),
    Column("closed_at", Double),
    Column("rating", Integer),
    Column("timeout_notified", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("status IN ('waiting', 'active', 'closed')"),
    CheckConstraint("rating BETWEEN 1 AND 5"),
    Index(
        "handoffs_open_per_chat",
        "chat_id",
        unique=True,
        sqlite_where=text("status != 'closed'"),
        postgresql_where=text("status != 'closed'"),
    ),
    Index("handoffs_opened", "opened_at"),
    Index("handoffs_closed", "closed_at"),
    Index(
        "handoffs_waiting",
        "opened_at",
        sqlite_where=text("status = 'waiting' AND timeout_notified = 0"),
        postgresql_where=text("status = 'waiting' AND timeout_notified = 0"),
    ),
)

operator_copies = Table(
    "operator_copies",
    metadata,
    Column("group_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("copy_id", BigInteger, nullable=False),
    Column("at", Double, nullable=False),
    PrimaryKeyConstraint("group_id", "message_id"),
    Index("operator_copies_at", "at"),
)

operator_relays = Table(
    "operator_relays",
    metadata,
    Column("id", ROW_ID, primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("owner", Text),  # the instance that queued it (revision 0002)
)
