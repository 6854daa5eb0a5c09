"""Fixtures of the retention tests (tests/index/test_retention*.py): a local object store and
an empty vector index of tests/retention_support.py's embedding version (a module may
override `store`, e.g. to run on a real S3 as well)."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.vectors import VectorIndex
from storage.local import LocalObjectStore
from tests.retention_support import DIM, VERSION


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)


@pytest.fixture
def vectors() -> VectorIndex:
    return VectorIndex(DIM, VERSION)
