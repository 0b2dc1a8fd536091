"""Alembic migrations for festina's memory schema."""
