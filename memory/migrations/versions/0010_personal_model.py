"""the personal model and its learning history replace the per-context offsets; the
model's own p_need kept per decision

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("p_need_model", sa.Float(), nullable=True))
    op.create_table(
        "personal_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "personal_updates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(length=128), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("welcome_before", sa.Float(), nullable=False),
        sa.Column("welcome_after", sa.Float(), nullable=False),
        sa.Column("learnt_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_personal_updates_event_id", "personal_updates", ["event_id"])
    # The personal model's (kind, app) features learn what the offsets did, and more.
    op.drop_table("gate_adjustments")


def downgrade() -> None:
    op.create_table(
        "gate_adjustments",
        sa.Column("context", sa.String(length=600), nullable=False),
        sa.Column("logit_offset", sa.Float(), nullable=False),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("context"),
    )
    op.drop_index("ix_personal_updates_event_id", table_name="personal_updates")
    op.drop_table("personal_updates")
    op.drop_table("personal_models")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("p_need_model")
