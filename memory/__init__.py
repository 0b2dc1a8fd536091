"""Persistent memory: events, decisions, rejected inputs and runs (SQLite or PostgreSQL)."""
