"""episode vectors

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:37:32.978164
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "episode_vectors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("encoder", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("episode_vectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episode_vectors_encoder"), ["encoder"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("episode_vectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episode_vectors_encoder"))

    op.drop_table("episode_vectors")
