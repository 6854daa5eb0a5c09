"""Retention benchmark (issue #17): a populated catalog (SQLite) + local object store + vector
index, 60 days of material on 4 cameras (two in a 7-day group, two on the 30/90/365-day
default tier) and an offline camera's uploaded footage (an original + its segments every 10
days, issue #15) with a legal hold on a case; one retention run; then the consistency check.

Writes `retention_*` keys into bench/results/security.json (other keys kept):
retention_orphans (vectors without a track + tracks whose clip is gone without saying so +
catalog rows naming a missing object + objects no row names; must be 0), what was deleted and
held back, the run's wall time and rows deleted per second, and the same check after a run
cut short between a batch's catalog commit and its object deletes (the objects noted on the
run's job row) and completed by the next run.

    flock /tmp/skynet-bench.lock .venv/bin/python -m bench.retention
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from detect.zone_rules import Snapshot, ViolationUpdate
from index import catalog
from index.catalog import CameraSpec, NewTrack, SessionFactory
from index.catalog.footage import NewFootageUpload, create_footage_upload, move_footage_upload
from index.catalog.retention import (
    DEFAULT_TIER,
    RetentionFloors,
    RetentionPolicy,
    RetentionTier,
    file_case_material,
    place_legal_hold,
    set_retention_tier,
)
from index.catalog.retention_batches import delete_batch
from index.retention import JOB_KIND, RetentionConfig, make_plan, object_keys, run_retention_job
from index.retention_check import check_consistency
from index.track_indexer import context_key
from index.vectors import VectorIndex
from ingest.segment import Segment
from storage.local import LocalObjectStore

RESULTS = Path(__file__).resolve().parent / "results" / "security.json"
CAMERAS = {"cam-1": "short", "cam-2": "short", "cam-3": None, "cam-4": None}
DAYS = 60
SEGMENTS_PER_DAY = 24  # one an hour (a real camera records 8640 10-s segments a day)
TRACKS_PER_DAY = 20
EVENTS_PER_DAY = 2
OFFLINE_CAMERA = "dvr-1"  # uploaded footage (default tier): one hour every FOOTAGE_EVERY_DAYS
FOOTAGE_EVERY_DAYS = 10
DIM = 64
VERSION = "bench-v1"
SQUARE = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]
CONFIG = RetentionConfig(
    RetentionPolicy((RetentionTier(DEFAULT_TIER, 30, 90, 365),), 365), RetentionFloors(),
    batch_rows=2000,
)  # fmt: skip


def _evidence_key(camera_id: str, event_id: int, n: int, at: datetime) -> str:
    return f"events/{camera_id}/{at:%Y-%m-%d}/{event_id}-{n}.jpg"


def populate(
    sessions: SessionFactory, store: LocalObjectStore, vectors: VectorIndex, now: datetime
) -> dict[str, int]:
    rng = np.random.default_rng(17)
    with sessions() as session:
        catalog.create_camera_group(session, "short", "7 days")
        for camera_id, group in CAMERAS.items():
            catalog.upsert_camera(session, CameraSpec(camera_id, camera_id, "rtsp://h/x"))
            catalog.create_zone(session, camera_id, "lane", SQUARE)
            catalog.set_camera_group(session, camera_id, group)
        session.commit()
    local_id = 0
    made = {"segments": 0, "tracks": 0, "events": 0}
    for camera_id in CAMERAS:
        with sessions() as session:
            zone_id = catalog.list_zones(session, camera_id)[0].id
        for day in range(DAYS, 0, -1):
            day_start = now - timedelta(days=day)
            segments, tracks = [], []
            for hour in range(SEGMENTS_PER_DAY):
                start = day_start + timedelta(hours=hour)
                key = f"segments/{camera_id}/{start:%Y/%m/%d/%H}.mp4"
                stored = store.put_bytes(key, os.urandom(256), "video/mp4")
                end = start + timedelta(hours=1)
                segments.append(Segment(camera_id, start, end, key, stored.sha256, 256))
            for n in range(TRACKS_PER_DAY):
                local_id += 1
                t_start = day_start + timedelta(minutes=70 * n + 3)
                thumb = f"thumbnails/{camera_id}/{t_start:%Y/%m/%d}/{local_id}.jpg"
                store.put_bytes(thumb, b"jpeg", "image/jpeg")
                store.put_bytes(context_key(thumb), b"jpeg", "image/jpeg")
                vector = rng.normal(size=DIM).astype(np.float32)
                tracks.append(
                    NewTrack(
                        camera_id=camera_id, local_track_id=local_id, class_name="car",
                        confidence=0.9, start_at=t_start, end_at=t_start + timedelta(seconds=20),
                        best_shot_at=t_start, best_bbox_xyxy_px=(1.0, 2.0, 3.0, 4.0),
                        thumbnail_key=thumb,
                        embedding=catalog.embedding_to_bytes(vector / np.linalg.norm(vector)),
                        embedding_version=VERSION,
                    )
                )  # fmt: skip
            with sessions() as session:
                for segment in segments:
                    catalog.add_segment(session, segment)
                ids = catalog.add_tracks(session, tracks)
                for n in range(EVENTS_PER_DAY):
                    start = day_start + timedelta(hours=8 + 6 * n)
                    recorded = catalog.record_violation(
                        session,
                        ViolationUpdate(
                            camera_id=camera_id, zone_id=zone_id, kind="fire_lane_occupation",
                            phase="ended", started_at=start,
                            last_seen_at=start + timedelta(minutes=5), severity="medium",
                            snapshots=(Snapshot(start, b"jpeg"),),
                        ),
                        timezone="UTC", merge_gap_s=0, evidence_key=_evidence_key,
                    )  # fmt: skip
                    for key, jpeg in recorded.pictures:
                        store.put_bytes(key, jpeg, "image/jpeg")
                session.commit()
            vectors.add(ids, np.stack([np.frombuffer(t.embedding or b"", "<f4") for t in tracks]))
            made["segments"] += len(segments)
            made["tracks"] += len(tracks)
            made["events"] += EVENTS_PER_DAY
    made["footage_originals"] = add_footage(sessions, store, now)
    return made


def add_footage(sessions: SessionFactory, store: LocalObjectStore, now: datetime) -> int:
    """Stored uploads of an offline camera as the footage service leaves them: the original
    and its 10-minute segments in the store, the upload `stored` with its report."""
    with sessions() as session:
        catalog.upsert_camera(session, CameraSpec(OFFLINE_CAMERA, "Shop DVR", "", kind="offline"))
        session.commit()
    count = 0
    for day in range(DAYS, 0, -FOOTAGE_EVERY_DAYS):
        start = now - timedelta(days=day)
        with sessions() as session:
            upload = create_footage_upload(session, NewFootageUpload(
                OFFLINE_CAMERA, "Shop DVR", f"dvr-{day}.mp4", 4096, None, 4096, "bench",
            ))  # fmt: skip
            original = f"footage/{OFFLINE_CAMERA}/{upload.id}/original.mp4"
            store.put_bytes(original, os.urandom(4096), "video/mp4")
            for n in range(6):
                key = f"segments/{OFFLINE_CAMERA}/{upload.id}/{n}.mp4"
                stored = store.put_bytes(key, os.urandom(256), "video/mp4")
                begin = start + timedelta(minutes=10 * n)
                catalog.add_segment(session, Segment(
                    OFFLINE_CAMERA, begin, begin + timedelta(minutes=10), key, stored.sha256, 256,
                ))  # fmt: skip
            report = {"original_key": original, "segments": 6,
                      "start_at": start.isoformat(),
                      "end_at": (start + timedelta(hours=1)).isoformat()}  # fmt: skip
            move_footage_upload(
                session, upload.id, "receiving", "stored", start_at=start, report=report
            )
            session.commit()
        count += 1
    return count


def hold_a_case(sessions: SessionFactory, now: datetime) -> str:
    """Hold a case filing the 50-day-old tracks of cam-1 (a 7-day camera)."""
    with sessions() as session:
        case_id = catalog.create_case(session, "bench case", "bench")
        held = catalog.matching_track_ids(
            session,
            catalog.TrackQuery(
                camera_ids=("cam-1",),
                start=now - timedelta(days=50),
                end=now - timedelta(days=49),
            ),
        )
        file_case_material(session, case_id, "bench", list(held))
        place_legal_hold(session, case_id, "bench hold", "bench")
        set_retention_tier(session, RetentionTier("short", 7, 7, 7), RetentionFloors(), "bench")
        session.commit()
    return case_id


def one_run(root: Path, crash_first: bool) -> dict[str, object]:
    now = datetime.now(UTC)
    engine = catalog.init_catalog(f"sqlite:///{root / 'catalog.db'}")
    sessions = catalog.session_factory(engine)
    store = LocalObjectStore(root / "objects", "http://bench/objects", b"k" * 32)
    vectors = VectorIndex(DIM, VERSION)
    made = populate(sessions, store, vectors, now)
    hold_a_case(sessions, now)
    before = check_consistency(sessions, store, vectors)
    if crash_first:  # a run stopped after a batch's catalog commit, before its object deletes
        with sessions() as session:
            job_id = catalog.create_job(session, JOB_KIND, {"as_of": now.isoformat()})
            session.commit()
        plan = make_plan(sessions, CONFIG, now, CONFIG.batch_rows)
        with sessions() as session:
            delete_batch(session, job_id, plan, object_keys)
            session.commit()
    started = time.perf_counter()
    report = run_retention_job(sessions, store, vectors, CONFIG, "bench", now=now)[1]
    run_s = time.perf_counter() - started
    after = check_consistency(sessions, store, vectors)
    engine.dispose()
    summary = report.as_json()
    deleted = summary["deleted"]
    assert isinstance(deleted, dict)
    rows = int(deleted["segments"]) + int(deleted["tracks"]) + int(deleted["events"])
    return {
        "made": made,
        "orphans_before": before.total,
        "orphans_after": after.as_json(),
        "deleted": deleted,
        "held_back": summary["held_back"],
        "flagged": summary["tracks_flagged_clip_deleted"],
        "vectors_removed": summary["vectors_removed"],
        "run_s": run_s,
        "rows_per_s": rows / run_s if run_s else 0.0,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="skynet-retention-") as tmp:
        clean = one_run(Path(tmp) / "clean", crash_first=False)
        resumed = one_run(Path(tmp) / "resumed", crash_first=True)
    orphans = clean["orphans_after"]
    assert isinstance(orphans, dict)
    resumed_orphans = resumed["orphans_after"]
    assert isinstance(resumed_orphans, dict)
    deleted = clean["deleted"]
    assert isinstance(deleted, dict)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(
        {
            "retention_orphans": orphans["total"],
            "retention_orphans_detail": {k: orphans[k] for k in orphans if k != "examples"},
            "retention_orphans_before_run": clean["orphans_before"],
            "retention_orphans_after_interrupted_run": resumed_orphans["total"],
            "retention_populated": clean["made"],
            "retention_deleted": deleted,
            "retention_held_back": clean["held_back"],
            "retention_tracks_flagged_clip_deleted": clean["flagged"],
            "retention_vectors_removed": clean["vectors_removed"],
            "retention_run_s": round(float(str(clean["run_s"])), 2),
            "retention_rows_per_s": round(float(str(clean["rows_per_s"])), 1),
            "retention_date": datetime.now(UTC).date().isoformat(),
            "retention_machine": f"{platform.machine()} {os.cpu_count()} cores (shared)",
            "retention_load_avg_1m": round(os.getloadavg()[0], 2),  # the machine is shared
        }
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k.startswith("retention")}, indent=2))


if __name__ == "__main__":
    main()
