"""FAISS vector index (exact stage): brute-force equality, filters, files, threads, CLI."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import faiss
import numpy as np
import pytest

from index.catalog import add_track, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec, NewTrack, embedding_to_bytes
from index.cli_vectors import format_stats, format_unsaved, rebuild, saved_stats
from index.track_indexer import index_file
from index.vectors import IndexPolicy, VectorIndex


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


def test_legacy_bare_faiss_file_still_loads(tmp_path: Path) -> None:
    rows = unit_rows(12, 8)
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    flat.add_with_ids(rows, np.arange(100, 112))
    path = tmp_path / "old.faiss"
    faiss.write_index(flat, str(path))
    loaded = VectorIndex.load(path, "v1")
    assert len(loaded) == 12 and loaded.search(rows[3], 1)[0].track_id == 103


def test_adds_and_searches_from_many_threads_at_once() -> None:
    index = VectorIndex(16, "v1")
    rows = unit_rows(4000, 16, seed=3)
    errors: list[BaseException] = []

    def writer(part: int) -> None:
        for start in range(part * 1000, (part + 1) * 1000, 50):
            index.add(range(start, start + 50), rows[start : start + 50])

    def reader() -> None:
        try:
            for row in rows[:300]:
                hits = index.search(row, 3)
                assert all(0 <= h.track_id < 4000 for h in hits)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(p,)) for p in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(index) == 4000
    assert index.search(rows[3210], 1)[0].track_id == 3210


def test_bad_search_arguments_are_refused() -> None:
    index = VectorIndex(4, "v1")
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones(4, np.float32), 0)
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1], np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="approximate_from_count"):
        IndexPolicy(approximate_from_count=10)


def test_cli_rebuild_from_a_real_catalog_and_stats(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    sessions = session_factory(init_catalog(url))
    rows = unit_rows(30, 16, seed=5)
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with sessions() as session:
        upsert_camera(session, CameraSpec(id="cam-1", name="gate", main_url="rtsp://x/main"))
        ids = [
            add_track(
                session,
                NewTrack(
                    camera_id="cam-1",
                    local_track_id=n,
                    class_name="person",
                    confidence=0.9,
                    start_at=start + timedelta(seconds=n),
                    end_at=start + timedelta(seconds=n + 1),
                    best_shot_at=start + timedelta(seconds=n),
                    best_bbox_xyxy_px=(0, 0, 10, 20),
                    embedding=embedding_to_bytes(rows[n]),
                    embedding_version="v1",
                ),
            )
            for n in range(30)
        ]
        session.commit()
    info = rebuild(url, tmp_path / "vectors", "v1", 16)
    assert (info.kind, info.count, info.dim) == ("exact", 30, 16)
    shown = saved_stats(tmp_path / "vectors", "v1")
    assert shown is not None
    assert shown.count == 30 and "vectors            30" in format_stats(shown)
    loaded = VectorIndex.load(index_file(tmp_path / "vectors", "v1"), "v1")
    assert loaded.search(rows[7], 1)[0].track_id == ids[7]
    assert saved_stats(tmp_path / "vectors", "v2") is None  # before the first save: empty
    unsaved = format_unsaved(url, tmp_path / "vectors", "v2").splitlines()
    assert unsaved[1].startswith("vectors            0 (no index saved yet under")
    assert unsaved[2] == "the catalog holds no embeddings of this version yet"
    assert "holds 30 embeddings" in format_unsaved(url, tmp_path / "other", "v1")
