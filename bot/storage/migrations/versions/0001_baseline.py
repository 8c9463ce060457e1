"""The whole schema as the SQLite-only migrations (bot.storage.database.MIGRATIONS, 1 to 4)
left it: questions, votes, operator topics per group, handoffs, operator copies and relays.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite's rowid alias must be spelled INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "questions",
        sa.Column("id", ROW_ID, primary_key=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("user_key", sa.Text(), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("intent", sa.Text()),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("best_guess", sa.Text()),
        sa.Column("assigned_intent", sa.Text()),
        sa.Column("assigned_at", sa.Double()),
        sa.CheckConstraint("action IN ('answer', 'suggest', 'handoff')"),
    )
    op.create_index("questions_at", "questions", ["at"])
    op.create_index("questions_user", "questions", ["user_key", "id"])
    op.create_table(
        "votes",
        sa.Column("id", ROW_ID, primary_key=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("user_key", sa.Text(), nullable=False),
        sa.Column("intent", sa.Text(), nullable=False),
        sa.Column("up", sa.Integer(), nullable=False),
        sa.Column("question_id", ROW_ID, sa.ForeignKey("questions.id")),
        sa.CheckConstraint("up IN (0, 1)"),
    )
    op.create_index("votes_at", "votes", ["at"])
    op.create_index("votes_question", "votes", ["question_id", "up"])
    op.create_table(
        "topics",
        sa.Column("group_id", sa.BigInteger()),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("group_id", "topic_id"),
        sa.UniqueConstraint("group_id", "chat_id"),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", ROW_ID, primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("first_reply_at", sa.Double()),
        sa.Column("closed_at", sa.Double()),
        sa.Column("rating", sa.Integer()),
        sa.Column("timeout_notified", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint("status IN ('waiting', 'active', 'closed')"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5"),
    )
    open_only = sa.text("status != 'closed'")
    op.create_index(
        "handoffs_open_per_chat",
        "handoffs",
        ["chat_id"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_index("handoffs_opened", "handoffs", ["opened_at"])
    op.create_index("handoffs_closed", "handoffs", ["closed_at"])
    not_told = sa.text("status = 'waiting' AND timeout_notified = 0")
    op.create_index(
        "handoffs_waiting",
        "handoffs",
        ["opened_at"],
        sqlite_where=not_told,
        postgresql_where=not_told,
    )
    op.create_table(
        "operator_copies",
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("copy_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "message_id"),
    )
    op.create_index("operator_copies_at", "operator_copies", ["at"])
    op.create_table(
        "operator_relays",
        sa.Column("id", ROW_ID, primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )
