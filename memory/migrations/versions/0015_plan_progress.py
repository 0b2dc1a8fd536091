"""the steps an accepted plan has done so far and those still to come, kept while it
waits for the person's confirmation, so every surface can show where it stands

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliberations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliberations", schema=None) as batch_op:
        batch_op.drop_column("progress")
