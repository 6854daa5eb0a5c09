"""Shared builders for API tests: a real ApiContext (real models, SQLite, local store) with data.

Tracks are real vtest crops embedded by the real embedder; person attributes come from the real
attribute namer (detect/attributes.py); vehicles carry explicit attributes in its layout.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from detect.attributes import colour_attributes, motion_attributes
from detect.detector import NanoDetDetector
from detect.embedder import AppearanceEmbedder
from detect.track_builder import Embedder, encode_thumbnail
from detect.track_record import TrackRecord
from index.catalog import close_case, create_api_key, create_case, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec
from index.track_indexer import TrackIndexer
from index.vectors import VectorIndex
from models.registry import default_cache_dir, model_path
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from storage.local import LocalObjectStore

DATA = Path(__file__).parent / "data"
BASE_URL = "http://testserver"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOP_T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
LAT0, LON0 = 31.2300, 121.4700
METRES_PER_DEG_LON = 111_320 * np.cos(np.radians(LAT0))


def vtest_pairs(count: int, skip: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Crops of one pedestrian in frames k and k+3, one pair per frame (hand-checked pairs)."""
    doc = json.loads((DATA / "vtest_pairs.json").read_text())
    pairs, seen_frames = [], set()
    for pair in doc["pairs"]:
        if pair["frame_a"] not in seen_frames:
            seen_frames.add(pair["frame_a"])
            pairs.append(pair)
    pairs = pairs[skip : skip + count]
    wanted = {p["frame_a"] for p in pairs} | {p["frame_b"] for p in pairs}
    capture, frames, index = cv2.VideoCapture(doc["video"]), {}, 0
    while index <= max(wanted):
        ok, frame = capture.read()
        assert ok
        if index in wanted:
            frames[index] = frame
        index += 1

    def crop(frame: int, box: list[int]) -> np.ndarray:
        return frames[frame][box[1] : box[3], box[0] : box[2]].copy()

    return [(crop(p["frame_a"], p["box_a"]), crop(p["frame_b"], p["box_b"])) for p in pairs]


def jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


@dataclass
class ApiEnv:
    """A running test API and what was put into it."""

    client: TestClient
    context: ApiContext
    keys: dict[str, str]
    case_id: str
    closed_case_id: str
    persons: list[int] = field(default_factory=list)  # track ids of the vtest persons
    person_attributes: list[dict[str, Any]] = field(default_factory=list)
    vehicles: dict[str, int] = field(default_factory=dict)
    hop: dict[str, int] = field(default_factory=dict)
    later_crops: list[np.ndarray] = field(default_factory=list)
    key_cases: dict[str, str] = field(default_factory=dict)  # a case is its creator's alone

    def headers(self, key: str = "investigator") -> dict[str, str]:
        return {"X-API-Key": self.keys[key]}

    def access(self, key: str = "investigator") -> dict[str, str]:
        """Case and purpose for a search with `key`: the open case its principal opened."""
        case_id = self.key_cases.get(key, self.case_id)
        return {"case_id": case_id, "purpose": "test investigation"}


def _record(
    embedder: Embedder,
    camera_id: str,
    local_id: int,
    class_name: str,
    image: np.ndarray,
    start: datetime,
    attributes: dict[str, Any],
    duration_s: float = 5.0,
) -> TrackRecord:
    return TrackRecord(
        camera_id=camera_id,
        local_track_id=local_id,
        class_name=class_name,
        confidence=0.8,
        start_at=start,
        end_at=start + timedelta(seconds=duration_s),
        best_shot_at=start,
        best_box=(0.0, 0.0, float(image.shape[1]), float(image.shape[0])),
        thumbnail_jpeg=encode_thumbnail(image),
        embedding=embedder.embed([image], [class_name])[0],
        embedding_version=embedder.embedding_version,
        trajectory=[(0.0, 0.0, 0.0, 10.0, 10.0)],
        attributes=attributes,
    )


def _walk(rightwards: bool) -> list[tuple[float, float, float, float, float]]:
    """A 4 s walk 200 px to the right (or left) in image space, box 40×100 px."""
    sign = 1 if rightwards else -1
    return [(t, 300 + sign * 50 * t, 200, 340 + sign * 50 * t, 300) for t in range(5)]


@functools.cache
def query_models() -> tuple[NanoDetDetector, AppearanceEmbedder]:
    """The API's real query-side models, loaded once per test session (inference is stateless)."""
    models = default_cache_dir().resolve()
    detector = NanoDetDetector(model_path("nanodet", models))
    return detector, AppearanceEmbedder(model_path("mobilenetv2-embedder", models))


def empty_context(root: Path) -> ApiContext:
    """A real API context with nothing in it: SQLite catalog, local store, real models."""
    sessions = session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))
    signing_key = b"k" * 32
    store = LocalObjectStore(root / "objects", f"{BASE_URL}{API_PREFIX}/objects", signing_key)
    detector, embedder = query_models()
    vectors = VectorIndex(embedder.dim, embedder.embedding_version)
    return ApiContext(sessions, store, vectors, detector, embedder, 600, signing_key, BASE_URL)


@contextmanager
def api_env(root: Path) -> Iterator[ApiEnv]:
    context = empty_context(root)
    sessions, store, vectors, embedder = (
        context.sessions, context.store, context.vectors, context.embedder
    )  # fmt: skip
    models = default_cache_dir().resolve()
    indexer = TrackIndexer(sessions, store, vectors, root / "vectors")
    url = "rtsp://admin:hunter2@10.0.0.5/main"
    cameras = [
        CameraSpec("cam1", "Gate 1", url),
        CameraSpec("cam2", "Gate 2", url),
        CameraSpec("cam3", "3号摄像头 Plaza", url),
        CameraSpec("hopA", "Crossing A", url, lat=LAT0, lon=LON0),
        CameraSpec("hopB", "Crossing B", url, lat=LAT0, lon=LON0 + 100 / METRES_PER_DEG_LON),
        CameraSpec("hopC", "Far away", url, lat=LAT0 + 0.05, lon=LON0),
    ]
    with sessions() as session:
        for spec in cameras:
            upsert_camera(session, spec)
        session.commit()

    pairs = vtest_pairs(12)
    records, person_attributes = [], []
    for i, (first, _later) in enumerate(pairs):
        trajectory = _walk(rightwards=i % 2 == 0)
        attributes = {
            **colour_attributes([first], "person", [1.0]),
            **motion_attributes(trajectory, None),
        }
        person_attributes.append(attributes)
        record = _record(
            embedder, ("cam1", "cam2", "cam3")[i % 3], i + 1, "person", first,
            T0 + timedelta(seconds=10 * i), attributes,
        )  # fmt: skip
        records.append(
            TrackRecord(**{**record.__dict__, "trajectory": trajectory})  # real motion rows
        )
    person_ids = indexer.index(records)

    bus = cv2.imread(str(models / "assets" / "bus.jpg"))
    assert bus is not None
    vehicle_specs = {
        "red_car": ("car", bus[230:750, 20:800], {"colour": "red", "colour_confidence": 0.9}),
        "white_car": ("car", bus[230:750, 40:790], {"colour": "white", "colour_confidence": 0.7}),
        "silver_truck": ("truck", bus[200:700, :780], {"colour": "silver", "colour_confidence": 0.6}),  # noqa: E501
        "parked_bus": ("bus", bus[220:760, 10:810], {"colour": "blue", "stationary": True}),
    }  # fmt: skip
    vehicle_records = [
        _record(
            embedder,
            "cam1",
            100 + n,
            cls,
            crop,
            T0 + timedelta(seconds=300 + 10 * n),
            {**attrs, "vehicle_type": cls, "vehicle_type_confidence": 0.8},
        )
        for n, (cls, crop, attrs) in enumerate(vehicle_specs.values())
    ]
    vehicle_ids = dict(zip(vehicle_specs, indexer.index(vehicle_records), strict=True))

    # Hop scene: person P walks from hopA to hopB (100 m: ~81 s expected); look-alikes and a
    # too-early copy of P sit on hopB, and P again on a camera 5.5 km away.
    p_first, p_later = pairs[0]
    hop_records = [
        _record(embedder, "hopA", 200, "person", p_first, HOP_T0, {}),
        _record(embedder, "hopB", 201, "person", p_later, HOP_T0 + timedelta(seconds=88), {}),
        _record(embedder, "hopB", 202, "person", p_later, HOP_T0 + timedelta(seconds=8), {}),
        _record(embedder, "hopC", 203, "person", p_later, HOP_T0 + timedelta(seconds=90), {}),
    ]
    for n, (_first, later) in enumerate(pairs[1:4]):
        start = HOP_T0 + timedelta(seconds=70 + 15 * n)
        hop_records.append(_record(embedder, "hopB", 210 + n, "person", later, start, {}))
    # P's return trip: seen back on hopA later (a forward hop from hopB).
    hop_records.append(
        _record(embedder, "hopA", 220, "person", p_first, HOP_T0 + timedelta(seconds=200), {})
    )
    hop_ids = indexer.index(hop_records)
    hop = {
        "seed": hop_ids[0], "true": hop_ids[1], "too_early": hop_ids[2], "far": hop_ids[3],
        "lookalike1": hop_ids[4], "lookalike2": hop_ids[5], "lookalike3": hop_ids[6],
        "return": hop_ids[7],
    }  # fmt: skip

    with sessions() as session:
        keys = {
            "investigator": create_api_key(session, "ana", "investigator"),
            "other": create_api_key(session, "bob", "investigator"),
            "viewer": create_api_key(session, "vic", "viewer"),
            "cam2-only": create_api_key(session, "cam2 desk", "investigator", ["cam2"]),
        }
        case_id = create_case(session, "Robbery at gate 2", "ana")
        closed = create_case(session, "Old case", "ana")
        key_cases = {"cam2-only": create_case(session, "Gate 2 desk", "cam2 desk")}
        session.commit()
    with sessions() as session:
        close_case(session, closed)
        session.commit()
    app = create_app(context)
    with TestClient(app, base_url=BASE_URL) as client:
        yield ApiEnv(
            client=client,
            context=context,
            keys=keys,
            case_id=case_id,
            closed_case_id=closed,
            persons=person_ids,
            person_attributes=person_attributes,
            vehicles=vehicle_ids,
            hop=hop,
            later_crops=[later for _, later in pairs],
            key_cases=key_cases,
        )
    runner = getattr(app.state, "search_jobs", None)
    if runner is not None:
        runner.shutdown()
