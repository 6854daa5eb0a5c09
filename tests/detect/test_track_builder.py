"""Track finalisation: one record per object with best shot, context frame, embedding,
attributes, bounded memory and periodic parts for long-lived tracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from detect.bytetrack import ByteTracker
from detect.colour import COLOUR_VERSION, colour_descriptors
from detect.detections import Detections
from detect.track_builder import (
    MAX_TRAJECTORY_POINTS,
    MAX_VIEWS,
    TrackBuilder,
    carried_by,
    covered_share,
    sharpness_factor,
    view_quality,
)
from detect.track_record import TrackRecord
from ingest.frame import Frame
from sample_streams import synthetic

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class ColourEmbedder:
    """The project's HSV colour descriptor, used as a small real embedder."""

    embedding_version = COLOUR_VERSION

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        return colour_descriptors(crops, class_names)


def frame_at(image: np.ndarray, seconds: float) -> Frame:
    return Frame(image, "cam-1", seconds, T0 + timedelta(seconds=seconds))


Records = tuple[list[synthetic.Mover], synthetic.SyntheticSequence, list[TrackRecord]]


@pytest.fixture(scope="module")
def records() -> Records:
    movers = synthetic.crossing_scene(seed=2, duration_s=12.0)
    seq = synthetic.render_sequence(movers, 5.0, 12.0)
    classes = {m.object_id: m.sprite.class_id for m in movers}
    dets = synthetic.noisy_detections(seq.truth, classes, seed=1)
    tracker, builder = ByteTracker(), TrackBuilder("cam-1", ColourEmbedder())
    out: list[TrackRecord] = []
    for image, gt, det in zip(seq.frames, seq.truth, dets, strict=True):
        tracked, ended = tracker.update(det, gt.at_s)
        builder.observe(frame_at(image, gt.at_s), tracked)
        out += builder.finalise(builder.end(ended))
        assert all(len(a.views) <= MAX_VIEWS for a in builder._live.values())
    tracker.end_all()
    out += builder.finalise(builder.end(builder.open_track_ids))
    return movers, seq, out


def test_one_record_per_object_with_real_media(records: Records) -> None:
    _movers, seq, out = records
    seen = {int(i) for gt in seq.truth for i in gt.object_ids}
    assert len(seen) - 1 <= len(out) <= len(seen) + 1
    for record in out:
        assert record.camera_id == "cam-1"
        assert record.frame_size_px == (seq.frames[0].shape[1], seq.frames[0].shape[0])
        thumb = cv2.imdecode(np.frombuffer(record.thumbnail_jpeg, np.uint8), cv2.IMREAD_COLOR)
        context = cv2.imdecode(np.frombuffer(record.context_jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert thumb is not None and max(thumb.shape[:2]) <= 256
        assert context is not None and context.shape[1] == 320
        assert abs(float(np.linalg.norm(record.embedding)) - 1.0) < 1e-4
        assert record.start_at <= record.best_shot_at <= record.end_at
        assert len(record.trajectory) <= MAX_TRAJECTORY_POINTS
        assert {"direction", "dwell_s", "mean_speed_px_s", "stationary"} <= set(record.attributes)


def test_records_carry_class_by_vote_and_attributes(records: Records) -> None:
    _movers, _seq, out = records
    classes = {r.class_name for r in out}
    assert classes == {"person", "truck"} or classes == {"person"}
    for record in out:
        if record.class_name == "person":
            assert {"upper_colour", "lower_colour"} <= set(record.attributes)
        else:
            assert record.attributes["vehicle_type"] == "truck"
            assert record.attributes["direction"] == "E"
            assert record.attributes["colour"] == "white"
    walkers = [r for r in out if r.class_name == "person" and not r.attributes["stationary"]]
    assert {r.attributes["direction"] for r in walkers} >= {"E", "W"}


def test_sharpness_and_quality_prefer_clean_views() -> None:
    crop = synthetic.person_sprites()[0].image
    assert sharpness_factor(cv2.GaussianBlur(crop, (9, 9), 4)) < sharpness_factor(crop)
    inside = np.array([100, 100, 140, 200], np.float32)
    cut = np.array([0, 100, 40, 200], np.float32)
    assert view_quality(inside, 0.8, 640, 360) > view_quality(cut, 0.8, 640, 360)
    assert view_quality(inside, 0.8, 640, 360, overlap=0.6) < view_quality(inside, 0.8, 640, 360)
    shares = covered_share(np.array([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 60, 60]], np.float32))
    assert shares.tolist() == pytest.approx([0.5, 0.5, 0.0])


def test_long_lived_track_is_finalised_in_parts() -> None:
    builder = TrackBuilder("cam-1", ColourEmbedder(), max_record_s=2.0)
    image = synthetic.median_background()
    box = Detections(
        np.array([[649, 44, 721, 98]], np.float32), np.array([0.8], np.float32), np.array([2])
    ).with_tracker_id(np.array([7]))
    parts = []
    for k in range(26):  # 5 s at 5 fps
        builder.observe(frame_at(image, k * 0.2), box)
        parts += builder.finalise(builder.end([]))
    parts += builder.finalise(builder.end([7]))
    assert len(parts) == 3
    assert {p.local_track_id for p in parts} == {7}
    assert len({p.start_at for p in parts}) == 3
    assert [p.attributes["part"] for p in parts] == [0, 1, 2]
    assert {p.frame_size_px for p in parts} == {(image.shape[1], image.shape[0])}
    assert all(p.attributes["stationary"] for p in parts)
    assert builder.open_track_count == 0


def test_untracked_detections_are_refused() -> None:
    builder = TrackBuilder("cam-1", ColourEmbedder())
    with pytest.raises(ValueError, match="tracker ids"):
        builder.observe(frame_at(synthetic.median_background(), 0.0), Detections.empty())


def boxes(rows: list[list[float]], classes: list[int]) -> Detections:
    return Detections(
        np.array(rows, np.float32), np.full(len(rows), 0.8, np.float32), np.array(classes)
    )


def test_a_carried_object_goes_to_the_smallest_person_holding_its_centre() -> None:
    people = boxes([[0, 0, 100, 200], [40, 50, 80, 150], [300, 0, 340, 90]], [0, 0, 0])
    side = boxes([[50, 90, 70, 110], [500, 500, 520, 520], [310, 40, 330, 60]], [24, 28, 25])
    assert carried_by(people, side) == {1: {"backpack"}, 2: {"umbrella"}}  # 28 (suitcase) alone
    assert carried_by(people, boxes([[50, 90, 70, 110]], [56])) == {}  # a chair is not carried
    assert carried_by(boxes([[0, 0, 10, 10]], [2]), side) == {}  # cars carry nothing


def test_a_person_seen_with_a_backpack_on_enough_frames_carries_it() -> None:
    builder = TrackBuilder("cam-1", ColourEmbedder())
    image = synthetic.median_background()
    person = boxes([[400, 40, 440, 160]], [0]).with_tracker_id(np.array([3]))
    backpack = boxes([[410, 70, 430, 100]], [24])
    umbrella = boxes([[410, 40, 430, 60]], [25])
    for k in range(10):  # backpack on 6 of 10 frames, umbrella on 1: not carried
        side = backpack if k < 6 else umbrella if k == 6 else None
        builder.observe(frame_at(image, k * 0.2), person, side)
    (record,) = builder.finalise(builder.end([3]))
    assert record.attributes["carrying"] == {"backpack": 0.6}
