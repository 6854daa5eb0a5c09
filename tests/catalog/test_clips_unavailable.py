"""`clips_unavailable` (index/catalog/retention_plan.py) runs for every hit of every search: a
track is unavailable when retention deleted its clip or it was seen in a recording gap with no
segment over it. The gap test must come first: a camera has few gaps and many segments, and the
segment test scans the camera's recording history from its start (its index cannot bound
`end_at`), so run first it cost ~26 ms per hit at 200k segments (23 days of 10 s segments)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert

from index.catalog import CameraSpec, NewTrack, add_recording_gap, add_tracks, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.retention_plan import clips_unavailable, span_never_recorded
from index.catalog.rows import SegmentRow
from ingest.camera import FIRST_RECORDING_GAP_REASON

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SEGMENT = timedelta(seconds=10)
SEGMENTS = 4000
STEP = 1000  # SQLite VM instructions per progress call


def test_unavailable_clips_are_found_without_scanning_the_recording_history(
    tmp_path: Path,
) -> None:
    engine = init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    calls = [0]

    def count(*_: object) -> int:
        calls[0] += 1
        return 0

    @event.listens_for(engine, "connect")
    def _progress(connection: sqlite3.Connection, _record: object) -> None:
        connection.set_progress_handler(count, STEP)

    engine.dispose()  # new connections get the handler
    with session_factory(engine)() as session:
        upsert_camera(session, CameraSpec("cam", "Cam", "rtsp://10.0.0.1/main"))
        add_recording_gap(session, "cam", T0 - timedelta(minutes=1), T0, FIRST_RECORDING_GAP_REASON)
        session.execute(
            insert(SegmentRow),
            [
                {"camera_id": "cam", "start_at": T0 + i * SEGMENT, "end_at": T0 + (i + 1) * SEGMENT,
                 "object_key": f"segments/cam/{i}.mp4", "sha256": "0" * 64, "size_bytes": 1}
                for i in range(SEGMENTS)
            ],
        )  # fmt: skip
        late = [T0 + (SEGMENTS - 1 - 3 * k) * SEGMENT for k in range(20)]  # recorded
        ids = add_tracks(
            session,
            [
                NewTrack(camera_id="cam", local_track_id=k, class_name="person", confidence=0.9,
                         start_at=at, end_at=at + timedelta(seconds=4), best_shot_at=at,
                         best_bbox_xyxy_px=(1.0, 2.0, 30.0, 40.0))
                for k, at in enumerate([T0 - timedelta(seconds=40), *late])
            ],
        )  # fmt: skip
        session.commit()
        calls[0] = 0
        assert clips_unavailable(session, ids) == {ids[0]}  # the one seen in the gap
        assert not span_never_recorded(session, "cam", late[0], late[0] + SEGMENT)
        # the old order: ~20 hits x 4000 segments x a row look-up each, > 300 calls here
        assert calls[0] * STEP < 100_000, calls[0]
    engine.dispose()
