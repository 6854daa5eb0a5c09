"""Shared pytest configuration: real-server fixtures live in tests/servers/; catalog fixtures
that run a test on SQLite and on a real PostgreSQL live here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from index.catalog.engine import init_catalog, session_factory

# The CLI's rich consoles are made at import and read the width then: one wide width for every
# test process (pytest-xdist's workers have no terminal to take it from).
os.environ.setdefault("COLUMNS", "200")

pytest_plugins = [
    "tests.servers.swift",
    "tests.servers.postgres",
    "tests.servers.rtsp",
    "tests.servers.ray_cluster",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    engine = init_catalog(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
