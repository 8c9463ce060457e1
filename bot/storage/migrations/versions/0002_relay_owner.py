"""Which instance queued each message for the operators' group: with several instances on one
database, an instance resends after a restart only its own, and what a dead instance left is
taken over by a live one. NULL: queued before this was recorded (taken by whoever starts).

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
