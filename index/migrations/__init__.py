"""Alembic migrations of the SQL catalog (run them with index.db.init_catalog / upgrade_to_head)."""
