"""nullable JSON columns hold SQL NULL, not the JSON document `null`, so queries can
filter on them

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 08:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NULLABLE_JSON_COLUMNS = {
    "decisions": ("offer",),
    "deliberations": ("proposal", "counterfactual", "executions"),
}


def upgrade() -> None:
    for table, columns in NULLABLE_JSON_COLUMNS.items():
        for column in columns:
            op.execute(f"UPDATE {table} SET {column} = NULL WHERE CAST({column} AS TEXT) = 'null'")


def downgrade() -> None:
    # SQL NULL reads back as None, as the JSON `null` did: nothing to undo.
    pass
