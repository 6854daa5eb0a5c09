"""Tracking quality on vtest.avi against hand labels (tests/data/vtest_tracks.json) at 5 fps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.tracking import (
    VTEST_LABELS_PATH,
    live_pipeline_tracks,
    load_vtest_window,
    outside_zone,
    precision_recall,
    vtest_scores,
)
from sample_streams import synthetic

# Measured 2026-11-25 (INT8 NanoDet 448×256, score 0.35, ByteTracker, colour as tie-breaker):
# IDF1 0.824, MOTA 0.809, 8 ID switches, precision 0.984, recall 0.838 on 507 labelled boxes
# (bench/results/tracking.json). The floors leave ~0.1 of margin for runtime/library drift, so
# they catch gross breakage only: without the low-confidence stage (low_confidence=0.5) this
# window still scores IDF1 0.745, MOTA 0.761, and colour changes nothing here (IoU-only 0.824;
# colour as a full cost term was worse, 0.773). Those are guarded by unit tests in
# tests/detect/test_bytetrack.py (low-confidence stage, colour tie-break).
MIN_IDF1 = 0.70
MIN_MOTA = 0.65
MAX_ID_SWITCHES = 14
MIN_PRECISION = 0.90


def test_labels_cover_at_least_six_people_over_the_window() -> None:
    window = load_vtest_window()
    assert window.frame_indices == tuple(range(0, 199, 2))
    ids = {int(i) for frame_ids, _ in window.truth for i in frame_ids}
    assert len(ids) >= 6
    for frame_ids, xyxy in window.truth:
        assert len(set(frame_ids.tolist())) == len(frame_ids), "an identity twice in a frame"
        assert np.all(xyxy[:, 2:] > xyxy[:, :2])
        assert np.all((xyxy >= -1) & (xyxy <= [769, 577, 769, 577]))
        # labels are only given outside the unscored zone
        assert outside_zone(xyxy, window.ignore_zone_xyxy).all()
    assert sum(len(ids) for ids, _ in window.truth) > 400


def test_outside_zone_uses_box_centres() -> None:
    zone = np.array([10, 10, 20, 20], np.float32)
    boxes = np.array([[0, 0, 30, 30], [0, 0, 10, 10], [18, 18, 40, 40]], np.float32)
    assert outside_zone(boxes, zone).tolist() == [False, True, True]


def test_labels_outside_the_window_are_rejected(tmp_path: Path) -> None:
    raw = json.loads(VTEST_LABELS_PATH.read_text())
    raw["tracks"][0]["boxes"].append([199, 10, 10, 40, 90])  # odd frame: not sampled
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="outside the sampled window"):
        load_vtest_window(path)


@pytest.mark.slow
def test_live_pipeline_idf1_on_labelled_vtest_window() -> None:
    from models.registry import ModelError, model_path
    from skynet.settings import Settings

    try:
        model_path(Settings().detector_model)
    except ModelError as error:
        pytest.fail(f"NanoDet not built (run python -m models.build): {error}")
    if not synthetic.VTEST_PATH.is_file():
        pytest.fail(f"{synthetic.VTEST_PATH} missing (Debian package opencv-doc)")
    window = load_vtest_window()
    tracked, _detector_ms = live_pipeline_tracks(window)
    result = vtest_scores(window, tracked)
    precision, _recall = precision_recall(result)
    assert result.objects == sum(len(ids) for ids, _ in window.truth)
    assert result.idf1 >= MIN_IDF1, result
    assert result.mota >= MIN_MOTA, result
    assert result.id_switches <= MAX_ID_SWITCHES, result
    assert precision >= MIN_PRECISION, result
