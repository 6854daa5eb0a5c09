"""The catalog session factory the CLI commands share (skynet/cli.py, skynet/cli_zones.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from skynet.settings import Settings


def catalog_sessions(settings: Settings) -> sessionmaker[Session]:
    from index.catalog.engine import init_catalog, session_factory

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return session_factory(init_catalog(settings.catalog_url))
