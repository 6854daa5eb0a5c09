"""IoU geometry (hypothesis) and the skeleton tracker's identity keeping."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from detect.detections import Detections
from detect.iou_tracker import IouTracker, iou_matrix

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


def detections(*xyxy: tuple[float, float, float, float], class_id: int = 0) -> Detections:
    n = len(xyxy)
    return Detections(
        np.array(xyxy, np.float32).reshape(n, 4),
        np.full(n, 0.9, np.float32),
        np.full(n, class_id, np.int64),
    )


def test_two_walkers_keep_their_ids_and_end_after_max_age() -> None:
    tracker = IouTracker(max_age_s=1.0)
    ids_seen = []
    for step in range(10):
        t = step * 0.2
        frame = detections(
            (10 + 5 * step, 10, 60 + 5 * step, 110), (300 - 5 * step, 10, 350 - 5 * step, 110)
        )
        tracked, ended = tracker.update(frame, t)
        assert ended == []
        ids_seen.append(tracked.tracker_id.tolist())  # type: ignore[union-attr]
    assert all(ids == ids_seen[0] for ids in ids_seen)
    assert len(set(ids_seen[0])) == 2
    _, ended = tracker.update(Detections.empty(), 3.0)
    assert sorted(ended) == sorted(ids_seen[0])


def test_classes_do_not_share_a_track() -> None:
    tracker = IouTracker()
    first, _ = tracker.update(detections((0, 0, 50, 50), class_id=0), 0.0)
    second, _ = tracker.update(detections((0, 0, 50, 50), class_id=2), 0.2)
    assert first.tracker_id[0] != second.tracker_id[0]  # type: ignore[index]
