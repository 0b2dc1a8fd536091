"""events a run left out for privacy: excluded by a rule, or taken while paused

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("excluded", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("paused", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("paused")
        batch_op.drop_column("excluded")
