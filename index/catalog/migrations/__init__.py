"""Alembic migrations of the SQL catalog (run by index.catalog.engine.upgrade_to_head)."""
