"""Alembic revisions, oldest first by their four-digit ids (alembic skips this file)."""
