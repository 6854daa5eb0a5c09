"""Catalog engines, sessions and migrations (SQLite embedded, PostgreSQL via psycopg 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK_ID = 0x534B594E4554  # "SKYNET": pg advisory lock key for migrations
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# What callers outside the catalog name: a session is an opaque handle they pass to repository
# functions and commit; a factory makes them; CatalogError is any failure of the database.
SessionFactory = sessionmaker[Session]
CatalogError = SQLAlchemyError


class UnsupportedDatabaseError(ValueError):
    """The catalog URL names a database the catalog does not support."""


def normalize_url(url: str) -> URL:
    """Parse a catalog URL; `postgresql://` and `postgres://` get the psycopg 3 driver."""
    if not url or "://" not in url:
        raise UnsupportedDatabaseError(
            f"catalog URL {url!r} is not a database URL (expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB)"
        )
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername not in ("postgresql", "postgresql+psycopg"):
            raise UnsupportedDatabaseError(
                f"catalog URL driver {parsed.drivername!r} is not supported: use postgresql+psycopg"
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise UnsupportedDatabaseError(
        f"catalog database {backend!r} is not supported: use sqlite or postgresql"
    )


def _is_memory_sqlite(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """An Engine for the catalog.

    SQLite: WAL journal, foreign keys on, a busy timeout, usable across threads; the parent
    directory of the file is created. PostgreSQL: psycopg 3, session time zone UTC,
    connections pinged before use.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if _is_memory_sqlite(parsed):
            options["poolclass"] = StaticPool
        else:
            Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **options)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(
        parsed,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC"},
    )


def session_factory(engine: Engine) -> SessionFactory:
    """Sessions bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def upgrade_to_head(engine_url: str) -> None:
    """Run the catalog's Alembic migrations up to head (no alembic.ini needed)."""
    engine = make_engine(engine_url)
    try:
        upgrade_engine_to_head(engine)
    finally:
        engine.dispose()


def upgrade_engine_to_head(engine: Engine) -> None:
    """Run the catalog's Alembic migrations up to head on an existing engine."""
    with engine.begin() as connection:
        # Serialise concurrent start-ups (API and pipeline migrating the same fresh database):
        # the lock lasts until this transaction, which also holds the migration, commits.
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config = alembic_config(connection)
        command.upgrade(config, "head")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at this package's migrations; `connection` is used if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision id (what a migrated catalog records)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found under {MIGRATIONS_DIR}")
    return head


def init_catalog(url: str) -> Engine:
    """Create (or upgrade) the catalog at `url` to the newest schema and return its Engine."""
    engine = make_engine(url)
    upgrade_engine_to_head(engine)
    return engine
