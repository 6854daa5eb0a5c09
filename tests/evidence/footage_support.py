"""Recorded footage in a real catalog for export tests: vtest.avi (real pedestrians) encoded as
two 6 s H.264 segments (GOP 1 s) of camera cam1 in a local object store, the hand-checked
vtest labels (tests/data/vtest_tracks.json) as the catalog's person tracks, a case with an
audit row, and a track on another camera (cam2) for scope checks.

Subject: label 7 (right side, frames 50-90); bystander: label 8 (centre, frames 64-90), whose
boxes never overlap the subject's.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from index.catalog import (
    CameraSpec,
    NewTrack,
    SessionFactory,
    add_segment,
    add_tracks,
    append_audit,
    create_case,
    init_catalog,
    session_factory,
    upsert_camera,
)
from ingest.segment import Segment
from sample_streams.footage import VTEST_PATH
from storage.local import LocalObjectStore
from storage.objectstore import sha256_of_file

DATA = Path(__file__).parents[1] / "data"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FPS = 10
SEGMENT_S = 6
SEGMENTS = 2
SUBJECT_LABEL, BYSTANDER_LABEL = 7, 8
TRACK_FRAMES = (50, 90)  # both catalog tracks are cut to these frames
FRAME_PX = (768, 576)
SIGNING_KEY = b"s" * 32


def labelled_boxes() -> dict[int, dict[int, list[float]]]:
    """label id → frame → [x1, y1, x2, y2] (every 2nd frame, hand-checked)."""
    document = json.loads((DATA / "vtest_tracks.json").read_text())
    return {t["id"]: {row[0]: row[1:] for row in t["boxes"]} for t in document["tracks"]}


def frame_at(index: int) -> datetime:
    return T0 + timedelta(seconds=index / FPS)


def vtest_frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(VTEST_PATH))
    frames = []
    for _ in range(count):
        ok, frame = capture.read()
        assert ok
        frames.append(frame)
    return frames


def encode_segments(out_dir: Path) -> list[Path]:
    """vtest's first SEGMENTS × SEGMENT_S seconds as H.264 MP4 segments, keyframe every 1 s."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(VTEST_PATH),
         "-frames:v", str(SEGMENTS * SEGMENT_S * FPS), "-an", "-c:v", "libx264",
         "-preset", "veryfast", "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
         "-pix_fmt", "yuv420p", "-f", "segment", "-segment_time", str(SEGMENT_S),
         "-reset_timestamps", "1", str(out_dir / "seg%d.mp4")],
        check=True, timeout=120,
    )  # fmt: skip
    return [out_dir / f"seg{i}.mp4" for i in range(SEGMENTS)]


def catalog_track(label: int, local_id: int, camera_id: str = "cam1") -> NewTrack:
    boxes = labelled_boxes()[label]
    first, last = TRACK_FRAMES
    frames = [f for f in sorted(boxes) if first <= f <= last]
    best = frames[len(frames) // 2]
    return NewTrack(
        camera_id=camera_id,
        local_track_id=local_id,
        class_name="person",
        confidence=0.9,
        start_at=frame_at(frames[0]),
        end_at=frame_at(frames[-1]),
        best_shot_at=frame_at(best),
        best_bbox_xyxy_px=tuple(boxes[best]),  # type: ignore[arg-type]
        thumbnail_key=f"thumbs/{camera_id}-{local_id}.jpg",
        trajectory=[[(f - frames[0]) / FPS, *boxes[f]] for f in frames],
        frame_size_px=FRAME_PX,
    )


@dataclass(frozen=True)
class RecordedCase:
    """What the fixture put into the catalog and the store."""

    sessions: SessionFactory
    store: LocalObjectStore
    case_id: str
    subject_id: int
    bystander_id: int
    other_camera_id: int  # a track on cam2


def record_case(root: Path, segment_files: list[Path]) -> RecordedCase:
    sessions = session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))
    store = LocalObjectStore(root / "objects", "http://testserver/api/v1/objects", SIGNING_KEY)
    frames = vtest_frames(TRACK_FRAMES[1] + 1)
    boxes = labelled_boxes()
    with sessions.begin() as session:
        for camera_id in ("cam1", "cam2"):
            upsert_camera(session, CameraSpec(camera_id, f"Gate {camera_id}", "rtsp://10.0.0.5/m"))
        for index, path in enumerate(segment_files):
            start = T0 + timedelta(seconds=index * SEGMENT_S)
            key = f"cameras/cam1/{index}.mp4"
            store.put_file(key, path, "video/mp4")
            sha256, size_bytes = sha256_of_file(path)
            add_segment(
                session,
                Segment(
                    "cam1", start, start + timedelta(seconds=SEGMENT_S), key, sha256, size_bytes
                ),
            )
        tracks = [
            catalog_track(SUBJECT_LABEL, 1),
            catalog_track(BYSTANDER_LABEL, 2),
            catalog_track(SUBJECT_LABEL, 3, camera_id="cam2"),
        ]
        for track in tracks:
            x1, y1, x2, y2 = (int(v) for v in boxes[SUBJECT_LABEL][70])
            ok, jpeg = cv2.imencode(".jpg", frames[70][y1:y2, x1:x2])
            assert ok and track.thumbnail_key
            store.put_bytes(track.thumbnail_key, jpeg.tobytes(), "image/jpeg")
        ids = add_tracks(session, tracks)
        case_id = create_case(session, "Bag snatch at the gate", "ana")
        append_audit(
            session, principal="ana", role="investigator", action="open_case", case_id=case_id,
            target=f"case:{case_id}",
        )  # fmt: skip
    return RecordedCase(sessions, store, case_id, ids[0], ids[1], ids[2])
