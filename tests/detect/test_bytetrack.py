"""ByteTrack: IoU geometry (hypothesis), class groups, identity through crossings, occlusion and
fast motion, the low-confidence stage, the colour tie-breaker, IDF1 on synthetic scenes of real
cut-outs (motmetrics). Cost per frame is measured in bench/tracking.py, not asserted here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.tracking import (
    accumulate,
    drop_ignored,
    run_tracker,
    scores,
    shipped_detector,
    synthetic_truth,
)
from detect.bytetrack import ByteTrackConfig, ByteTracker, iou_matrix
from detect.detections import Detections
from sample_streams import synthetic

coordinate = st.floats(min_value=0, max_value=1000, allow_nan=False)


@st.composite
def boxes(draw: st.DrawFn) -> np.ndarray:
    x1, y1 = draw(coordinate), draw(coordinate)
    w = draw(st.floats(min_value=1, max_value=300))
    h = draw(st.floats(min_value=1, max_value=300))
    return np.array([x1, y1, x1 + w, y1 + h], np.float32)


@given(boxes(), boxes())
def test_iou_is_symmetric_bounded_and_one_on_itself(a: np.ndarray, b: np.ndarray) -> None:
    ab = iou_matrix(a[None], b[None])[0, 0]
    assert abs(ab - iou_matrix(b[None], a[None])[0, 0]) < 1e-5
    assert -1e-6 <= ab <= 1 + 1e-6
    assert abs(iou_matrix(a[None], a[None])[0, 0] - 1) < 1e-4


def detections(
    *xyxy: tuple[float, float, float, float], class_id: int = 0, confidence: float = 0.9
) -> Detections:
    n = len(xyxy)
    return Detections(
        np.array(xyxy, np.float32).reshape(n, 4),
        np.full(n, confidence, np.float32),
        np.full(n, class_id, np.int64),
    )


def test_two_walkers_keep_their_ids_and_end_after_max_age() -> None:
    tracker = ByteTracker(ByteTrackConfig(max_age_s=1.0))
    ids_seen = []
    for step in range(10):
        frame = detections(
            (10 + 5 * step, 10, 60 + 5 * step, 110), (300 - 5 * step, 10, 350 - 5 * step, 110)
        )
        tracked, ended = tracker.update(frame, step * 0.2)
        assert ended == []
        ids_seen.append(tracked.tracker_id.tolist())  # type: ignore[union-attr]
    assert ids_seen[0] == []  # tentative until the second hit
    assert all(ids == ids_seen[1] for ids in ids_seen[1:])
    assert len(set(ids_seen[1])) == 2
    _, ended = tracker.update(Detections.empty(), 3.0)
    assert sorted(ended) == sorted(ids_seen[1])
    assert tracker.live_track_count == 0


def test_classes_do_not_share_a_track() -> None:
    tracker = ByteTracker(ByteTrackConfig(min_hits=1))
    first, _ = tracker.update(detections((0, 0, 50, 50), class_id=0), 0.0)
    second, _ = tracker.update(detections((0, 0, 50, 50), class_id=2), 0.2)
    assert first.tracker_id[0] != second.tracker_id[0]  # type: ignore[index]


def test_a_car_seen_as_a_truck_keeps_its_id_beside_a_person() -> None:
    """Classes of one group (car, truck) share a track, other classes never do: a car labelled
    truck in every other frame keeps its id while a person standing on it keeps another."""
    tracker = ByteTracker(ByteTrackConfig(min_hits=1))
    ids: dict[str, set[int]] = {"vehicle": set(), "person": set()}
    for step in range(6):
        car_class = 7 if step % 2 else 2  # COCO truck, car
        frame = Detections.merge(
            [detections((100, 100, 200, 160), class_id=car_class), detections((120, 90, 150, 160))]
        )
        tracked, _ = tracker.update(frame, step * 0.2)
        for class_id, track_id in zip(tracked.class_id, tracked.tracker_id, strict=True):  # type: ignore[arg-type]
            ids["person" if class_id == 0 else "vehicle"].add(int(track_id))
    assert len(ids["vehicle"]) == 1 and len(ids["person"]) == 1
    assert ids["vehicle"] != ids["person"]


def test_head_on_crossing_with_occlusion_keeps_both_ids() -> None:
    """Two people walk towards each other; while one hides the other it is detected with low
    confidence or not at all, and the Kalman prediction carries it through."""
    tracker = ByteTracker()
    owner: dict[int, set[int]] = {0: set(), 1: set()}
    for step in range(30):
        ax, bx = 100 + 12 * step, 460 - 12 * step
        a, b = (ax, 200, ax + 40, 300), (bx, 205, bx + 40, 305)
        gap = abs(ax - bx)
        if gap < 20:
            frame = detections(b)  # a fully hidden behind b
        elif gap < 50:
            frame = Detections.merge([detections(a, confidence=0.3), detections(b)])
        else:
            frame = detections(a, b)
        tracked, _ = tracker.update(frame, step * 0.2)
        for box, track_id in zip(tracked.xyxy, tracked.tracker_id.tolist(), strict=True):  # type: ignore[union-attr]
            who = 0 if abs(box[0] - ax) < abs(box[0] - bx) else 1
            owner[who].add(track_id)
    assert len(owner[0]) == 1 and len(owner[1]) == 1
    assert owner[0] != owner[1]


def test_fast_car_at_5_fps_keeps_one_id() -> None:
    """A car 100 px long moving 70 px per frame: plain boxes of consecutive frames barely touch."""
    tracker = ByteTracker()
    ids = set()
    for step in range(12):
        x = 20 + 70 * step + (5 if step % 2 else -5)
        tracked, _ = tracker.update(detections((x, 300, x + 100, 350), class_id=2), step * 0.2)
        ids.update(tracked.tracker_id.tolist())  # type: ignore[union-attr]
    assert len(ids) == 1


def test_low_confidence_stage_carries_an_occluded_object_past_max_age() -> None:
    """A walker half hidden for 3 s (longer than max_age_s = 2 s) is detected only at 0.3: the
    second association stage keeps its id; without it the track dies and a new id starts."""

    def walker_ids(config: ByteTrackConfig) -> list[int]:
        tracker, ids = ByteTracker(config), []
        for step in range(30):
            x = 100 + 8 * step
            occluded = 5 <= step < 20
            frame = detections((x, 200, x + 40, 300), confidence=0.3 if occluded else 0.9)
            tracked, _ = tracker.update(frame, step * 0.2)
            ids += tracked.tracker_id.tolist()  # type: ignore[union-attr]
        return ids

    kept = walker_ids(ByteTrackConfig())
    assert len(kept) == 29 and set(kept) == {1}  # reported through the occlusion too
    without_low_stage = walker_ids(ByteTrackConfig(low_confidence=0.5))
    assert len(set(without_low_stage)) == 2


def painted(*boxes: tuple[tuple[int, int, int, int], tuple[int, int, int]]) -> np.ndarray:
    """A grey 640×360 frame with each box painted a solid BGR colour."""
    image = np.full((360, 640, 3), 128, np.uint8)
    for (x1, y1, x2, y2), bgr in boxes:
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), bgr, thickness=-1)
    return image


def box_keeping_the_red_id(config: ByteTrackConfig) -> str:
    """A red walker standing at x = 100 is confirmed; then a blue walker appears 20 px to its
    left as the red one steps 20 px right: both boxes overlap the prediction equally, the blue
    one listed first. Returns which box ("left" blue or "right" red) carries the red id."""
    red, blue = (0, 0, 220), (220, 60, 0)
    tracker = ByteTracker(config)
    still = (100, 100, 140, 200)
    for step in range(3):
        tracked, _ = tracker.update(detections(still), step * 0.2, painted((still, red)))
    before = int(tracked.tracker_id[0])  # type: ignore[index]
    left, right = (80, 100, 120, 200), (120, 100, 160, 200)
    image = painted((left, blue), (right, red))
    tracked, _ = tracker.update(detections(left, right), 0.6, image)
    (kept,) = tracked.xyxy[tracked.tracker_id == before].tolist()
    return {tuple(map(float, left)): "left", tuple(map(float, right)): "right"}[tuple(kept)]


def test_colour_breaks_an_iou_tie() -> None:
    assert box_keeping_the_red_id(ByteTrackConfig()) == "right"
    # IoU alone cannot tell them apart: the Hungarian solver takes the first (blue) box
    assert box_keeping_the_red_id(ByteTrackConfig(appearance_margin=0.0)) == "left"


def test_time_going_backwards_is_refused() -> None:
    tracker = ByteTracker()
    tracker.update(detections((0, 0, 10, 10)), 5.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(detections((0, 0, 10, 10)), 4.0)


Scene = tuple[list[synthetic.Mover], synthetic.SyntheticSequence]


@pytest.fixture(scope="module")
def scene() -> Scene:
    movers = synthetic.crossing_scene(seed=1, duration_s=16.0)
    return movers, synthetic.render_sequence(movers, 5.0, 16.0)


def test_synthetic_scene_idf1_with_detector_noise_model(scene: Scene) -> None:
    movers, seq = scene
    classes = {m.object_id: m.sprite.class_id for m in movers}
    dets = synthetic.noisy_detections(seq.truth, classes, seed=5)
    times = [gt.at_s for gt in seq.truth]
    tracked, _ms_per_frame = run_tracker(ByteTracker(), dets, times, seq.frames)
    result = scores([accumulate(synthetic_truth(seq), tracked)])
    assert result.objects > 300
    assert result.idf1 >= 0.85, result
    assert result.id_switches <= 2, result


def test_synthetic_scene_idf1_with_the_shipped_detector(scene: Scene) -> None:
    from models.registry import ModelError

    try:
        detector = shipped_detector()
    except ModelError as error:
        pytest.fail(f"NanoDet not built (run python -m models.build): {error}")
    _movers, seq = scene
    ignore = detector.detect([synthetic.median_background()])[0].xyxy
    frames = seq.frames[:50]
    dets = [detector.detect([f])[0] for f in frames]
    tracked, _ = run_tracker(ByteTracker(), dets, [gt.at_s for gt in seq.truth[:50]], frames)
    result = scores([accumulate(synthetic_truth(seq)[:50], drop_ignored(tracked, ignore))])
    assert result.idf1 >= 0.8, result


def test_thirty_objects_keep_thirty_ids() -> None:
    rng = np.random.default_rng(0)
    start = rng.uniform(0, 1500, size=(30, 2))
    tracker = ByteTracker()
    for step in range(50):
        xy = start + step * 4.0
        frame = Detections(
            np.hstack([xy, xy + np.array([40.0, 90.0])]).astype(np.float32),
            np.full(30, 0.8, np.float32),
            np.zeros(30, np.int64),
        )
        tracked, _ = tracker.update(frame, step * 0.2)
    assert len(set(tracked.tracker_id.tolist())) == 30  # type: ignore[union-attr]


def test_at_one_frame_per_second_a_track_survives_missed_frames() -> None:
    """Sampled at 1 fps (a camera shedding load), a walker missed in 3 frames (3 s, longer than
    max_age_s = 2 s) keeps its id: tracks survive `max_age_frames` frame intervals."""

    def walker(at_s: float) -> Detections:
        return detections((100 + 10 * at_s, 50, 140 + 10 * at_s, 150))

    for config, same_id in ((ByteTrackConfig(), True), (ByteTrackConfig(max_age_frames=1), False)):
        tracker = ByteTracker(config)
        for second in range(5):
            before, _ = tracker.update(walker(second), float(second))
        for second in (5, 6, 7):
            tracker.update(Detections.empty(), float(second))
        after, _ = tracker.update(walker(8), 8.0)
        assert (after.tracker_id.tolist() == before.tracker_id.tolist()) is same_id  # type: ignore[union-attr]
