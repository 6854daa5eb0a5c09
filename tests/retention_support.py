"""A populated catalog + object store + vector index for retention tests and the retention
benchmark: two cameras (cam-a in group "traffic", cam-b in none), each with one recorded
segment, a recording gap after it, two tracks (thumbnail, context frame, embedding) and one
violation event (evidence picture) on each of several days back from `now`; and the clock and
policy the retention tests share (their `store` and `vectors` fixtures: tests/index/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from detect.zone_rules import Snapshot, ViolationUpdate
from index import catalog
from index.catalog import CameraSpec, NewTrack, SessionFactory
from index.catalog.retention import DEFAULT_TIER, RetentionFloors, RetentionPolicy, RetentionTier
from index.retention import RetentionConfig
from index.track_indexer import context_key
from index.vectors import VectorIndex
from ingest.segment import Segment
from storage.objectstore import ObjectStore

DIM = 8
VERSION = "test-v1"
CAMERAS = ("cam-a", "cam-b")
GROUP = "traffic"
SQUARE = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# The "*" tier keeps segments 10 days, tracks and events 30; audit 365 (the floor).
DEFAULT_POLICY = RetentionPolicy((RetentionTier(DEFAULT_TIER, 10, 30, 30),), 365)
CONFIG = RetentionConfig(DEFAULT_POLICY, RetentionFloors(), batch_rows=2)  # several rounds


@dataclass
class Material:
    """Ids and keys of what was stored, by (camera, days back)."""

    segments: dict[tuple[str, int], int] = field(default_factory=dict)
    segment_keys: dict[tuple[str, int], str] = field(default_factory=dict)
    tracks: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    thumbnails: dict[int, str] = field(default_factory=dict)
    events: dict[tuple[str, int], int] = field(default_factory=dict)
    event_keys: dict[int, list[str]] = field(default_factory=dict)


def _evidence_key(camera_id: str, event_id: int, n: int, at: datetime) -> str:
    return f"events/{camera_id}/{at:%Y-%m-%d}/{event_id}-{n}.jpg"


def set_up_cameras(sessions: SessionFactory) -> None:
    with sessions() as session:
        catalog.create_camera_group(session, GROUP, "short retention")
        for camera_id in CAMERAS:
            catalog.upsert_camera(
                session, CameraSpec(camera_id, camera_id, f"rtsp://h/{camera_id}")
            )
            catalog.create_zone(session, camera_id, "lane", SQUARE)
        catalog.set_camera_group(session, "cam-a", GROUP)
        session.commit()


def populate(
    sessions: SessionFactory,
    store: ObjectStore,
    vectors: VectorIndex,
    now: datetime,
    days_back: tuple[int, ...] = (40, 20, 5, 1),
    tracks_per_day: int = 2,
) -> Material:
    """Store each camera's material for each day in `days_back` (pictures and segments in
    `store`, rows in the catalog, embeddings in `vectors`)."""
    material = Material()
    rng = np.random.default_rng(7)
    local_id = 0
    for camera_id in CAMERAS:
        with sessions() as session:
            zone_id = catalog.list_zones(session, camera_id)[0].id
        for days in days_back:
            start = now - timedelta(days=days)
            key = f"segments/{camera_id}/{start:%Y/%m/%d}/{int(start.timestamp())}.mp4"
            data = f"mp4 of {camera_id} {days}".encode()
            stored = store.put_bytes(key, data, "video/mp4")
            tracks = []
            for n in range(tracks_per_day):
                local_id += 1
                t_start = start + timedelta(seconds=5 + 20 * n)
                thumb = f"thumbnails/{camera_id}/{start:%Y/%m/%d}/{local_id}.jpg"
                store.put_bytes(thumb, b"jpeg thumb", "image/jpeg")
                store.put_bytes(context_key(thumb), b"jpeg context", "image/jpeg")
                vector = rng.normal(size=DIM).astype(np.float32)
                vector /= np.linalg.norm(vector)
                tracks.append(
                    NewTrack(
                        camera_id=camera_id, local_track_id=local_id, class_name="car",
                        confidence=0.9, start_at=t_start, end_at=t_start + timedelta(seconds=10),
                        best_shot_at=t_start + timedelta(seconds=2),
                        best_bbox_xyxy_px=(1.0, 2.0, 30.0, 40.0), thumbnail_key=thumb,
                        embedding=catalog.embedding_to_bytes(vector), embedding_version=VERSION,
                    )
                )  # fmt: skip
            with sessions() as session:
                segment_id = catalog.add_segment(
                    session,
                    Segment(camera_id, start, start + timedelta(seconds=60), key,
                            stored.sha256, stored.size_bytes),
                )  # fmt: skip
                ids = catalog.add_tracks(session, tracks)
                catalog.add_recording_gap(
                    session, camera_id, start + timedelta(seconds=60),
                    start + timedelta(seconds=70), "stream down",
                )  # fmt: skip
                recorded = catalog.record_violation(
                    session,
                    ViolationUpdate(
                        camera_id=camera_id, zone_id=zone_id, kind="fire_lane_occupation",
                        phase="ended", started_at=start + timedelta(seconds=10),
                        last_seen_at=start + timedelta(seconds=50), severity="medium",
                        local_track_ids=(local_id,),
                        snapshots=(Snapshot(start + timedelta(seconds=20), b"jpeg event"),),
                    ),
                    timezone="UTC", merge_gap_s=0, evidence_key=_evidence_key,
                )  # fmt: skip
                for picture_key, jpeg in recorded.pictures:
                    store.put_bytes(picture_key, jpeg, "image/jpeg")
                session.commit()
            vectors.add(ids, np.stack([np.frombuffer(t.embedding or b"", "<f4") for t in tracks]))
            material.segments[(camera_id, days)] = segment_id
            material.segment_keys[(camera_id, days)] = key
            material.tracks[(camera_id, days)] = ids
            material.thumbnails.update(
                {i: t.thumbnail_key or "" for i, t in zip(ids, tracks, strict=True)}
            )
            material.events[(camera_id, days)] = recorded.event.id
            material.event_keys[recorded.event.id] = [k for k, _ in recorded.pictures]
    return material
