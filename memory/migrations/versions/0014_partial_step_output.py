"""the output of a plan's step while it is still being written (a streamed explanation),
so the dashboard, a separate process, can show it growing

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliberations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partial", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliberations", schema=None) as batch_op:
        batch_op.drop_column("partial")
