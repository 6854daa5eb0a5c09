"""Zone-filtered vector search against brute force, on the exact and the approximate index: the
catalog (SQLite) links tracks to zones, the search service turns the filter into allowed ids,
FAISS pre- or post-filters; the truth is OpenCV's point-in-polygon over the raw trajectories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bench.search_data import ClusteredSpec, ClusteredVectors
from index import catalog
from index.catalog import CameraSpec, NewTrack, Principal, init_catalog, session_factory
from index.vectors import IndexPolicy, VectorIndex
from index.vectors.ann import AnnConfig
from index.vectors.filtered_search import FilterPolicy
from search_api.schemas import SearchFiltersIn
from search_api.search_filters import filters_from
from search_api.search_service import allowed_track_ids

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
DIM = 64
TRACKS = 3000
FRAME_PX = (640, 480)
CLASSES = ("person", "car", "bicycle")
ZONES = {
    "kiosk": [(0.40, 0.40), (0.52, 0.40), (0.52, 0.52), (0.40, 0.52)],  # a few percent
    "road": [(0.0, 0.55), (1.0, 0.45), (1.0, 1.0), (0.0, 1.0)],  # about half
}
ANN = AnnConfig(
    rerank_dim=32, ivf_dim=16, pq_bytes=8, nprobe=8, rerank_candidates=100,
    full_rerank_candidates=30,
)  # fmt: skip
ANYONE = Principal("ana", "investigator", None)


@dataclass
class Scene:
    sessions: sessionmaker[Session]
    ids: np.ndarray
    vectors: np.ndarray
    cameras: list[str]
    classes: list[str]
    walks: list[np.ndarray]  # foot points in pixels
    zone_ids: dict[str, int]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root: Path = tmp_path_factory.mktemp("zone_search")
    sessions = session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))
    rng = np.random.default_rng(11)
    cameras = [("cam-a", "cam-b")[i % 2] for i in range(TRACKS)]
    classes = [CLASSES[int(c)] for c in rng.integers(0, len(CLASSES), TRACKS)]
    walks = []
    for _ in range(TRACKS):  # short random walks of the feet, 2-8 points
        start = rng.uniform([0, 0], FRAME_PX)
        steps = rng.normal(0, 15, size=(int(rng.integers(1, 8)), 2))
        feet = np.vstack([start, start + np.cumsum(steps, axis=0)])
        walks.append(np.clip(feet, 0.5, np.subtract(FRAME_PX, 0.5)))  # off the image edges
    vectors = ClusteredVectors(ClusteredSpec(dim=DIM, latent_dim=24, clusters=40, seed=4)).chunk(
        0, TRACKS
    )
    with sessions() as session:
        for camera_id in ("cam-a", "cam-b"):
            catalog.upsert_camera(session, CameraSpec(camera_id, camera_id, "rtsp://h/main"))
        # "kiosk" exists before the tracks (linked on insert), "road" after (back-filled).
        zone_ids = {"kiosk": catalog.create_zone(session, "cam-a", "kiosk", ZONES["kiosk"]).id}
        tracks = [
            NewTrack(
                camera_id=cameras[i],
                local_track_id=i,
                class_name=classes[i],
                confidence=0.8,
                start_at=T0 + timedelta(seconds=i),
                end_at=T0 + timedelta(seconds=i + 5),
                best_shot_at=T0 + timedelta(seconds=i),
                best_bbox_xyxy_px=(0.0, 0.0, 10.0, 10.0),
                embedding=catalog.embedding_to_bytes(vectors[i]),
                embedding_version="v1",
                trajectory=[[float(t), x - 15, y - 60, x + 15, y] for t, (x, y) in enumerate(w)],
                frame_size_px=FRAME_PX,
            )
            for i, w in enumerate(walks)
        ]
        ids = np.array(catalog.add_tracks(session, tracks), dtype=np.int64)
        zone_ids["road"] = catalog.create_zone(session, "cam-a", "road", ZONES["road"]).id
        session.commit()
    yield Scene(sessions, ids, vectors, cameras, classes, walks, zone_ids)


def truly_allowed(scene: Scene, zone: str, class_name: str | None) -> np.ndarray:
    """Mask of tracks on the zone's camera, of the class, with a foot point in the polygon."""
    contour = (np.array(ZONES[zone]) * FRAME_PX).astype(np.float32).reshape(-1, 1, 2)
    return np.array(
        [
            scene.cameras[i] == "cam-a"
            and class_name in (None, scene.classes[i])
            and any(cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in walk)
            for i, walk in enumerate(scene.walks)
        ]
    )


def allowed_by_service(scene: Scene, zone: str, class_name: str | None) -> list[int]:
    request = SearchFiltersIn(
        zone_ids=[scene.zone_ids[zone]], classes=None if class_name is None else [class_name]
    )
    with scene.sessions() as session:
        filters = filters_from(session, ANYONE, request)
        assert filters.camera_ids == ("cam-a",)  # the zone narrows the cameras
        candidates = allowed_track_ids(session, filters)
    assert candidates is not None
    return sorted(candidates)


def brute_force(scene: Scene, mask: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(scene.vectors[mask] @ query), kind="stable")[:k]
    return scene.ids[mask][order].tolist()


def queries(count: int) -> np.ndarray:
    return ClusteredVectors(ClusteredSpec(dim=DIM, latent_dim=24, clusters=40, seed=4)).queries(
        count
    )


@pytest.mark.parametrize(("zone", "class_name"), [("kiosk", None), ("road", None), ("road", "car")])
def test_zone_filter_selects_exactly_the_tracks_inside(
    scene: Scene, zone: str, class_name: str | None
) -> None:
    mask = truly_allowed(scene, zone, class_name)
    assert 0.01 < mask.mean() < 0.5
    assert allowed_by_service(scene, zone, class_name) == sorted(scene.ids[mask].tolist())


@pytest.mark.parametrize("zone", ["kiosk", "road"])
def test_zone_filtered_exact_search_equals_brute_force(scene: Scene, zone: str) -> None:
    """kiosk is selective (IDSelector pre-filter), road is broad (over-fetch post-filter)."""
    index = VectorIndex(DIM, "v1", IndexPolicy(filters=FilterPolicy(exact_scan_max_ids=20)))
    index.add(scene.ids, scene.vectors)
    assert index.stats().kind == "exact"
    allowed = allowed_by_service(scene, zone, None)
    mask = truly_allowed(scene, zone, None)
    for query in queries(10):
        got = [h.track_id for h in index.search(query, 10, allowed_ids=allowed)]
        assert got == brute_force(scene, mask, query, 10)


@pytest.mark.parametrize(
    ("zone", "class_name", "filters"),
    [
        ("kiosk", "car", FilterPolicy(exact_scan_max_ids=100)),  # tiny: exact scan
        ("kiosk", None, FilterPolicy(exact_scan_max_ids=20, prefilter_max_fraction=0.2)),  # bitmap
        ("road", None, FilterPolicy(exact_scan_max_ids=20, prefilter_max_fraction=0.1)),  # post
    ],
)
def test_zone_filtered_approximate_search_matches_brute_force(
    scene: Scene, zone: str, class_name: str | None, filters: FilterPolicy
) -> None:
    policy = IndexPolicy(
        approximate_from_count=2000, train_sample_rows=5000, ann=ANN, filters=filters
    )
    index = VectorIndex(DIM, "v1", policy)
    index.add(scene.ids, scene.vectors)
    assert index.wait_until_idle(60) and index.stats().kind == "approximate"
    allowed = allowed_by_service(scene, zone, class_name)
    mask = truly_allowed(scene, zone, class_name)
    permitted = set(scene.ids[mask].tolist())
    found = total = 0
    for query in queries(30):
        got = [h.track_id for h in index.search(query, 10, allowed_ids=allowed)]
        want = brute_force(scene, mask, query, 10)
        assert set(got) <= permitted and len(got) == len(want)
        found += len(set(got) & set(want))
        total += len(want)
    assert found / total >= 0.95
