"""The vending evaluation scenes (#13): deterministic, detectable real crops, truth JSON in step,
and one short scene end to end through `detect.violations.analyse_footage`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.vending import predictions, score_scene, wilson
from detect.detections import COCO_CLASSES
from detect.detector import NanoDetDetector
from sample_streams import vending_script
from sample_streams.vending_scenes import (
    FPS,
    FRAME_SIZE_PX,
    Episode,
    frame_digest,
    render_frame,
    write_scene,
)

TRUTH_PATH = Path(__file__).parents[2] / "bench" / "data" / "vending_truth.json"


@pytest.fixture(scope="module")
def detector() -> NanoDetDetector:
    from bench.vending import shipped_detector

    return shipped_detector()


def test_scenes_are_split_up_front_and_deterministic() -> None:
    tune, test = vending_script.scenes("tune"), vending_script.scenes("test")
    assert (len(tune), len(test)) == (26, 117)  # 2 × 9 + 8 truck crossings; 13 × 9
    assert {s.kind for s in tune} == {s.kind for s in test}
    assert not {s.seed for s in tune} & {s.seed for s in test}
    again = vending_script.scenes("tune")[0]
    first = render_frame(tune[0], 150)
    assert first.shape == (FRAME_SIZE_PX[1], FRAME_SIZE_PX[0], 3)
    assert frame_digest(first) == frame_digest(render_frame(again, 150))
    assert frame_digest(first) != frame_digest(render_frame(tune[1], 150))


@pytest.mark.slow
def test_truth_json_matches_the_scripts() -> None:
    committed = json.loads(TRUTH_PATH.read_text())
    assert committed == json.loads(json.dumps(vending_script.truth()))
    positives = [e for s in committed["scenes"] for e in s["episodes"] if e["expected"]]
    assert len(positives) == 98  # 4 stalls, 1 parked car, 1 truck per set of nine; 8 trucks
    for scene in committed["scenes"]:
        for episode in scene["episodes"]:
            assert 0 <= episode["start_s"] < episode["end_s"] <= scene["duration_s"]
            if episode["expected"] and episode["kind"] != "restricted_vehicle":
                assert episode["end_s"] - episode["start_s"] > committed["dwell_s"]


def _classes_at(detector: NanoDetDetector, scene_kind: str, t_s: float) -> set[str]:
    scene = next(s for s in vending_script.scenes("tune") if s.kind == scene_kind)
    found = detector.detect([render_frame(scene, int(t_s * FPS))])[0]
    return {COCO_CLASSES[c] for c in found.class_id}


def test_composited_real_crops_are_detected_by_the_real_detector(
    detector: NanoDetDetector,
) -> None:
    stall = next(s for s in vending_script.scenes("tune") if s.kind == "stall")
    both_on = max(e.start_s for e in stall.episodes) + 20
    seen = _classes_at(detector, "stall", both_on)
    assert "person" in seen and seen & {"truck", "car"}  # the vendor and the pickup
    fire = next(s for s in vending_script.scenes("tune") if s.kind == "fire_lane")
    parked = next(e for e in fire.episodes if e.expected)
    assert "car" in _classes_at(detector, "fire_lane", parked.start_s + 30)


def test_matching_rule_counts_late_and_duplicate_alerts_as_false() -> None:
    scene = next(s for s in vending_script.scenes("tune") if s.kind == "fire_lane")
    parked = next(e for e in scene.episodes if e.expected)
    from bench.vending import Predicted

    alert = parked.start_s + 95
    good = Predicted(3, "fire_lane_occupation", parked.start_s + 5, alert, parked.end_s)
    duplicate = replace(good, alert_s=alert + 40)
    brief = Predicted(3, "fire_lane_occupation", 20.0, 70.0, 75.0)
    score = score_scene(scene, [good, duplicate, brief])
    assert score.matched == 1 and score.positives == 1
    assert sorted(score.false_alerts) == ["brief stop", "unscripted"]
    assert score.delays_s == [pytest.approx(alert - parked.start_s - 90.0)]
    assert wilson(12, 12)[0] == pytest.approx(0.758, abs=0.002)


@pytest.mark.slow
def test_short_fire_lane_scene_end_to_end(detector: NanoDetDetector, tmp_path: Path) -> None:
    """A 150 s cut of the tune fire-lane scene: the brief stop raises nothing, the parked car
    raises one fire-lane occupation within dwell + 30 s."""
    from detect.violations import analyse_footage

    full = next(s for s in vending_script.scenes("tune") if s.kind == "fire_lane")
    parked = next(e for e in full.episodes if e.expected)
    cut = parked.start_s + 130.0
    episodes = tuple(
        Episode(e.zone_id, e.kind, e.start_s, min(e.end_s, cut), e.expected, e.what)
        for e in full.episodes
    )
    scene = replace(full, duration_s=cut, episodes=episodes, scene_id="short-fire-lane")
    path = write_scene(scene, tmp_path)
    updates = analyse_footage(path, scene.rules(), detector, fps=FPS, start_at=scene.start_at)
    score = score_scene(scene, predictions(updates, scene))
    assert score.false_alerts == []
    assert score.matched == 1
    assert -30.0 <= score.delays_s[0] <= 30.0
    assert np.isfinite(score.delays_s).all()
