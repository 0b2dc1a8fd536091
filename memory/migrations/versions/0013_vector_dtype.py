"""episode vectors say their element type: new ones are float16, half the bytes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:00:00.000000
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before stay float32 and are read as such: no rewrite of a large table
    # at the first start after an upgrade.
    with op.batch_alter_table("episode_vectors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dtype", sa.String(8), nullable=False, server_default="float32")
        )


def downgrade() -> None:
    # The schema before knew float32 only: widen what was written as float16.
    vectors = sa.table(
        "episode_vectors",
        sa.column("id", sa.Integer),
        sa.column("vector", sa.LargeBinary),
        sa.column("dtype", sa.String),
    )
    bind = op.get_bind()
    narrow = sa.select(vectors.c.id, vectors.c.vector).where(vectors.c.dtype == "float16")
    for row_id, blob in bind.execute(narrow).all():
        wide = np.frombuffer(blob, dtype=np.float16).astype(np.float32).tobytes()
        bind.execute(sa.update(vectors).where(vectors.c.id == row_id).values(vector=wide))
    with op.batch_alter_table("episode_vectors", schema=None) as batch_op:
        batch_op.drop_column("dtype")
