"""Tracks across segment boundaries (#15, index/reindex_boundaries.py): which neighbours a unit
uses, the hand-over segments that bound a look-ahead, and which tracks a unit owns — on a scene
of boxes drawn into frames, tracked by the real tracker and finalised by the real builder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect.bytetrack import ByteTrackConfig
from detect.detections import Detections
from detect.track_record import TrackRecord
from index.catalog.reindex_units import UnitRecord
from index.reindex_boundaries import (
    BoundarySettings,
    UnitTracks,
    handover_at,
    is_handover_segment,
    plan_neighbours,
)
from ingest.frame import Frame
from skynet.reindex_service import analysis_settings
from skynet.settings import Settings
from tests.detect.test_track_builder import ColourEmbedder

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a multiple of a minute since the epoch
STEP_S = 0.4  # the archive path's 2.5 fps
CUT_S = 10.0


def unit(unit_id: int, start_s: float, end_s: float, camera_id: str = "cam1") -> UnitRecord:
    return UnitRecord(
        unit_id=unit_id, job_id="job", recording_id=unit_id, camera_id=camera_id,
        object_key=f"seg/{unit_id}.mp4", sha256="0" * 64, size_bytes=1,
        start_at=T0 + timedelta(seconds=start_s), end_at=T0 + timedelta(seconds=end_s),
        state="pending", attempts=0, error=None,
    )  # fmt: skip


def ids(units: tuple[UnitRecord, ...]) -> list[int]:
    return [u.unit_id for u in units]


def test_handover_times_are_the_period_multiples_at_or_after_a_time():
    assert handover_at(T0, 60.0) == T0
    assert handover_at(T0 + timedelta(microseconds=1), 60.0) == T0 + timedelta(minutes=1)
    assert handover_at(T0 + timedelta(seconds=59.5), 60.0) == T0 + timedelta(minutes=1)
    assert handover_at(T0 + timedelta(seconds=7), 15.0) == T0 + timedelta(seconds=15)
    # the segment whose span from its neighbour's end holds a multiple is the hand-over one
    assert is_handover_segment(T0, T0 + timedelta(seconds=10), 60.0)
    assert not is_handover_segment(T0 + timedelta(seconds=10), T0 + timedelta(seconds=20), 60.0)
    assert is_handover_segment(T0 + timedelta(seconds=55), T0 + timedelta(seconds=65), 60.0)


def test_a_unit_warms_up_on_its_predecessor_and_looks_ahead_up_to_the_next_handover():
    units = [unit(i + 1, 10.0 * i, 10.0 * (i + 1)) for i in range(9)]  # 0-90 s, 10 s each
    settings = BoundarySettings(handover_period_s=60.0)
    second = plan_neighbours(units[1], units, settings)  # 10-20 s
    assert second.previous is not None and second.previous.unit_id == 1
    assert ids(second.following) == [3, 4, 5, 6]  # 20-60 s; 60-70 s is a hand-over segment
    handover = plan_neighbours(units[6], units, settings)  # 60-70 s
    assert handover.previous is None  # the tracks in view at 60 s are its own
    assert ids(handover.following) == [8, 9]
    first = plan_neighbours(units[0], units, settings)
    assert first.previous is None and ids(first.following) == [2, 3, 4, 5, 6]


def test_only_contiguous_segments_of_the_same_job_and_camera_are_neighbours():
    settings = BoundarySettings(handover_period_s=60.0, max_gap_s=2.0)
    units = [
        unit(1, 0.0, 10.0), unit(2, 11.5, 20.0),  # a 1.5 s gap: still neighbours
        unit(3, 25.0, 35.0),  # a 5 s gap: none
        unit(4, 35.0, 45.0, camera_id="cam2"),  # another camera's (the catalog query filters)
    ]  # fmt: skip
    same_camera = [u for u in units if u.camera_id == "cam1"]
    assert ids(plan_neighbours(units[0], same_camera, settings).following) == [2]
    after_gap = plan_neighbours(units[2], same_camera, settings)
    assert after_gap.previous is None and after_gap.following == ()
    with pytest.raises(ValueError):
        BoundarySettings(handover_period_s=0.5)


# ---- ownership on a drawn scene -------------------------------------------------------------

# name → (first s, last s, x at first s, y, colour, px/s to the right); 40×100 px boxes
Person = tuple[float, float, float, float, tuple[int, int, int], float]
WINDOW_S = 3.0
PEOPLE: dict[str, Person] = {
    "crosses": (6.0, 14.0, 80.0, 150.0, (0, 0, 220), 12.0),
    "after": (12.0, 16.0, 420.0, 60.0, (0, 200, 0), 12.0),
    "before": (1.0, 4.0, 300.0, 230.0, (220, 0, 0), 12.0),
}


def scene(
    start_s: float, end_s: float, people: dict[str, Person] | None = None
) -> list[tuple[Frame, Detections]]:
    """Frames every STEP_S in [start_s, end_s) with the people in view drawn and detected
    (a person is hidden where `hidden` says)."""
    out = []
    for step in range(round(start_s / STEP_S), round(end_s / STEP_S)):
        at_s = step * STEP_S
        image = np.full((360, 640, 3), 110, np.uint8)
        boxes = []
        for first_s, last_s, x0, y, colour, speed in (people or PEOPLE).values():
            if first_s <= at_s <= last_s and not hidden(at_s, x0):
                x = x0 + speed * (at_s - first_s)
                boxes.append((x, y, x + 40.0, y + 100.0))
                cv2.rectangle(image, (int(x), int(y)), (int(x) + 40, int(y) + 100), colour, -1)
        detections = Detections(
            xyxy=np.array(boxes, np.float32).reshape(-1, 4),
            confidence=np.full(len(boxes), 0.9, np.float32),
            class_id=np.zeros(len(boxes), np.int64),
        )
        out.append((Frame(image, "cam1", at_s, T0 + timedelta(seconds=at_s)), detections))
    return out


def run(
    own: tuple[float, float],
    warm_up: float | None,
    look_ahead: float | None,
    people: dict[str, Person] | None = None,
) -> list[TrackRecord]:
    """A unit owning `own` (s), warmed up from `warm_up` s, looking ahead up to `look_ahead`
    (one following segment starting at own[1])."""
    tracks = UnitTracks("cam1", ColourEmbedder(), ByteTrackConfig(), WINDOW_S)
    for frame, detections in scene(warm_up, own[0], people) if warm_up is not None else []:
        tracks.warm_up(frame, detections)
    tracks.begin_own(T0 + timedelta(seconds=own[0]))
    for frame, detections in scene(*own, people):
        tracks.observe(frame, detections)
    if look_ahead is not None:
        tracks.cross(T0 + timedelta(seconds=own[1]))
        for frame, detections in scene(own[1], look_ahead, people):
            if not tracks.observe(frame, detections):
                break
    return tracks.close()


def spans(records: list[TrackRecord]) -> list[tuple[float, float]]:
    return sorted(
        (round((r.start_at - T0).total_seconds(), 1), round((r.end_at - T0).total_seconds(), 1))
        for r in records
    )


def test_cut_per_segment_a_crossing_person_is_two_tracks():
    first = run((0.0, CUT_S), None, None)
    second = run((CUT_S, 20.0), None, None)
    assert spans(first) == [(1.6, 4.0), (6.4, 9.6)]  # confirmed on its second frame
    assert spans(second) == [(10.4, 14.0), (12.4, 16.0)]


def test_with_warm_up_and_look_ahead_each_person_is_one_track_of_one_unit():
    first = run((0.0, CUT_S), None, 20.0)
    second = run((CUT_S, 20.0), CUT_S - WINDOW_S - 1.0, None)
    assert spans(first) == [(1.6, 4.0), (6.4, 14.0)]  # followed past the cut to its end
    assert spans(second) == [(12.4, 16.0)]  # the crossing person was the first unit's
    crossing = next(r for r in first if r.end_at > T0 + timedelta(seconds=CUT_S))
    assert crossing.trajectory[-1][0] == pytest.approx(14.0 - 6.4, abs=0.01)


def hidden(at_s: float, x0: float) -> bool:
    """The "lost" person (x0 = 500) is behind something from 7.3 s to 9.5 s."""
    return x0 == 500.0 and 7.3 <= at_s <= 9.5


def test_a_track_the_next_unit_cannot_know_at_the_cut_ends_there():
    """Seen until 7.2 s, hidden, back at 9.6 s: the first unit's tracker still holds them (lost
    2.4 s, matched again at once), a tracker started 3 s before the cut saw them on two
    separate frames and never confirmed them. Followed across, they would be held by both
    units; instead the first unit ends its track at the cut and the second starts anew."""
    people: dict[str, Person] = {"lost": (2.0, 16.0, 500.0, 40.0, (200, 0, 200), 12.0)}
    first = run((0.0, CUT_S), None, 20.0, people)
    second = run((CUT_S, 20.0), CUT_S - WINDOW_S - 1.0, None, people)
    assert spans(first) == [(2.4, 9.6)]
    assert spans(second) == [(10.0, 16.0)]
    assert spans(run((0.0, CUT_S), None, None, people)) == [(2.4, 9.6)]


def test_an_object_standing_still_at_the_cut_is_cut_there_as_before():
    """Following a parked car would analyse up to a minute again for one longer track: both
    units see it still in the window before the cut, the first ends it there, the second
    starts it anew — and the look-ahead is not taken at all."""
    people: dict[str, Person] = {"parked": (0.0, 30.0, 200.0, 200.0, (0, 160, 160), 0.0)}
    first = run((0.0, CUT_S), None, 30.0, people)
    second = run((CUT_S, 20.0), CUT_S - WINDOW_S - 1.0, None, people)
    assert spans(first) == [(0.4, 9.6)]
    assert spans(second) == [(10.0, 19.6)]


def test_a_look_ahead_stops_once_the_units_own_tracks_have_ended():
    tracks = UnitTracks("cam1", ColourEmbedder(), ByteTrackConfig(), WINDOW_S)
    tracks.begin_own(T0)
    for frame, detections in scene(0.0, CUT_S):
        tracks.observe(frame, detections)
    tracks.cross(T0 + timedelta(seconds=CUT_S))
    assert tracks.following
    followed = []
    for frame, detections in scene(CUT_S, 40.0):
        followed.append(frame.pts_s)
        if not tracks.observe(frame, detections):
            break
    assert 14.0 < followed[-1] <= 16.5  # ended ~2 s (the tracker's max age) after its last box
    assert spans(tracks.close()) == [(1.6, 4.0), (6.4, 14.0)]


def test_a_unit_without_a_usable_predecessor_keeps_the_tracks_in_view_at_its_start():
    """No warm-up (first unit of a range, a hand-over segment, a bad neighbour): as before."""
    assert spans(run((CUT_S, 20.0), None, None)) == [(10.4, 14.0), (12.4, 16.0)]


def test_the_service_takes_the_warm_up_and_hand_over_period_from_the_settings(tmp_path: Path):
    analysis = analysis_settings(
        Settings(data_dir=tmp_path, reindex_warmup_s=4.5, reindex_handover_s=120.0)
    )
    assert analysis.boundaries == BoundarySettings(4.5, 120.0)
    assert analysis_settings(Settings(data_dir=tmp_path)).boundaries == BoundarySettings()
    cut = Settings(data_dir=tmp_path, reindex_join_boundaries=False)
    assert analysis_settings(cut).boundaries is None  # every track cut at each boundary
