"""Violations with the real detector on real frames: NanoDet's side classes leave the tracked
boxes as they were; vtest through `analyse_footage` (PyAV) finds the parked car in a fire lane
and no vending among passers-by; rules reach the engine through the worker's
`configure_camera` and its updates reach the sink, on keep-alive frames 2 s apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from bench.tracking import shipped_settings
from detect.detector import NanoDetDetector
from detect.violations import SIDE_CLASSES, FootageCost, analyse_footage
from detect.worker import AnalysisWorker, CameraAnalysis
from detect.zone_rules import ViolationUpdate, ZoneRule
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames
from models.registry import ModelError, model_path
from sample_streams import synthetic

pytestmark = pytest.mark.slow  # real servers and processes: not in the quick subset

W, H = 768, 576
CAR_LANE = ((690 / W, 30 / H), (767 / W, 30 / H), (767 / W, 130 / H), (690 / W, 130 / H))
PAVEMENT = ((0.0, 0.4), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0))


def detector(side: bool) -> NanoDetDetector:
    defaults = shipped_settings()
    try:
        model = model_path(defaults["detector_model"])
    except ModelError as error:
        pytest.fail(f"NanoDet not built (run python -m models.build): {error}")
    return NanoDetDetector(
        model,
        input_size=defaults["detector_input_px"],
        score_threshold=defaults["detector_score_threshold"],
        side_classes=SIDE_CLASSES if side else (),
    )


def test_side_classes_leave_tracked_boxes_unchanged() -> None:
    image = cv2.imread(str(synthetic.DOG_JPG_PATH))
    assert image is not None, f"{synthetic.DOG_JPG_PATH} missing (Debian package darknet)"
    plain = detector(side=False).detect([image])[0]
    both = detector(side=True).detect([image])[0]
    main = both[~np.isin(both.class_name, SIDE_CLASSES)]
    np.testing.assert_array_equal(main.xyxy, plain.xyxy)
    np.testing.assert_array_equal(main.class_id, plain.class_id)
    assert "bench" in both.class_name  # the bench behind the dog


def test_vtest_fire_lane_and_no_vending_among_passers_by() -> None:
    rules = [
        ZoneRule(1, "cam", "lane", CAR_LANE, kind="fire_lane", min_dwell_s=20),
        ZoneRule(2, "cam", "pavement", PAVEMENT, kind="sidewalk", min_dwell_s=20),
        ZoneRule(3, "cam", "all", PAVEMENT, kind="restricted_vehicles"),
    ]
    cost = FootageCost()
    updates = analyse_footage(synthetic.VTEST_PATH, rules, detector(side=True), 5.0, cost=cost)
    assert {(u.zone_id, u.kind) for u in updates} == {(1, "fire_lane_occupation")}
    assert [u.phase for u in updates] == ["opened", "ended"]
    assert (updates[0].last_seen_at - updates[0].started_at).total_seconds() >= 20
    assert cost.frames == 398 and 0 < cost.engine_ms_per_frame < cost.detect_ms / cost.frames


def test_rules_reach_the_engine_through_configure_camera() -> None:
    got: list[ViolationUpdate] = []
    worker = AnalysisWorker(
        LatestFrames(8), detector(side=True), _NoEmbedder(), lambda records: None,
        violation_sink=got.append,
    )  # fmt: skip
    rule = ZoneRule(1, "cam", "lane", CAR_LANE, kind="fire_lane", min_dwell_s=10)
    worker.configure_camera("cam", CameraAnalysis(rules=(rule,)))
    assert worker.camera_settings()["cam"].rules == (rule,)
    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    images = list(synthetic.read_video_frames(synthetic.VTEST_PATH, step=20, limit=20))
    for index, image in enumerate(images):  # the motion gate's keep-alive: one frame per 2 s
        worker.process([Frame(image, "cam", index * 2.0, t0 + timedelta(seconds=index * 2.0))])
    assert [u.phase for u in got] == ["opened"] and got[0].kind == "fire_lane_occupation"
    worker.configure_camera("cam", CameraAnalysis())  # rules removed: the violation ends
    worker.process([Frame(images[0], "cam", 40.0, t0 + timedelta(seconds=40))])
    assert [u.phase for u in got] == ["opened", "ended"]


class _NoEmbedder:
    embedding_version = "none"

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        return np.zeros((len(crops), 4), np.float32)
