"""FAISS vector index: equal to brute force, exact filters, atomic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.vectors import VectorIndex


def unit_rows(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def brute_force(matrix: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(matrix @ query), kind="stable")[:k]
    return ids[order].tolist()


def test_search_equals_brute_force_with_and_without_a_filter() -> None:
    matrix, ids = unit_rows(500, 32), np.arange(1000, 1500)
    index = VectorIndex(32, "v1")
    index.add(ids.tolist(), matrix)
    query = unit_rows(1, 32, seed=7)[0]
    assert [h.track_id for h in index.search(query, 10)] == brute_force(matrix, ids, query, 10)
    allowed = ids[::7]
    mask = np.isin(ids, allowed)
    got = [h.track_id for h in index.search(query, 10, allowed_ids=allowed.tolist())]
    assert got == brute_force(matrix[mask], ids[mask], query, 10)
    assert index.search(query, 10, allowed_ids=[]) == []


def test_re_adding_an_id_replaces_it_and_remove_deletes() -> None:
    index = VectorIndex(8, "v1")
    rows = unit_rows(3, 8)
    index.add([1, 2, 3], rows)
    index.add([2], rows[:1])
    assert len(index) == 3
    assert {h.track_id for h in index.search(rows[0], 2)} == {1, 2}
    assert index.remove([1, 99]) == 1
    assert len(index) == 2


def test_save_is_atomic_and_load_round_trips(tmp_path: Path) -> None:
    index = VectorIndex(16, "v1")
    rows = unit_rows(20, 16)
    index.add(range(20), rows)
    path = tmp_path / "idx" / "v1.faiss"
    index.save(path)
    assert not path.with_suffix(".faiss.tmp").exists()
    loaded = VectorIndex.load(path, "v1")
    assert len(loaded) == 20
    assert loaded.search(rows[5], 1)[0].track_id == 5


def test_bad_vectors_are_refused_with_the_reason() -> None:
    index = VectorIndex(4, "v1")
    with pytest.raises(ValueError, match=r"N×4"):
        index.add([1], np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        index.add([1], np.full((1, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="ids for"):
        index.add([1, 2], np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="positive"):
        VectorIndex(0, "v1")
