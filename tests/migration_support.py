"""Migration tests: rows written at an older revision, then the catalog upgraded to head."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from index.catalog.engine import alembic_config, make_engine, session_factory


@contextmanager
def upgraded_from(
    catalog_url: str, revision: str, insert_sql: str, params: Mapping[str, object]
) -> Iterator[Session]:
    """A session on a catalog built to `revision`, given rows by `insert_sql`, then upgraded."""
    engine = make_engine(catalog_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
            connection.execute(text(insert_sql), dict(params))
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
