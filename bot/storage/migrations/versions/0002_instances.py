"""Several instances on one database.

* ``operator_relays.owner``: which instance queued each message for the operators' group, so
  an instance resends after a restart only its own, and what a dead instance left is taken
  over by a live one. NULL: queued before this was recorded (taken by whoever starts).
* ``questions.update_id``: the Telegram update a question came in, unique per user, so an
  update Telegram delivers again (its first instance died before acknowledging it) is stored
  once. Update ids are per bot and restart after a week without updates, hence per user.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operator_relays", sa.Column("owner", sa.Text()))
    op.add_column("questions", sa.Column("update_id", sa.BigInteger()))
    op.create_index(
        "questions_update",
        "questions",
        ["user_key", "update_id"],
        unique=True,
        sqlite_where=sa.text("update_id IS NOT NULL"),
        postgresql_where=sa.text("update_id IS NOT NULL"),
    )
