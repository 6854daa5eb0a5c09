"""Motion gate on real footage: busy scenes pass, a static scene passes only at keep-alive."""

from __future__ import annotations

import cv2
import numpy as np

from ingest.motion import MotionGate, MotionSettings

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def vtest_frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(VTEST)
    frames: list[np.ndarray] = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, "vtest.avi is missing: install the Debian package opencv-doc"
        frames.append(frame)
    return frames


def test_people_walking_pass_the_gate() -> None:
    gate = MotionGate()
    frames = vtest_frames(100)[::2]  # 5 fps
    passed = [gate.should_analyse(f, i * 0.2) for i, f in enumerate(frames)]
    assert sum(passed) / len(passed) > 0.9


def test_a_static_noisy_scene_passes_only_at_keepalive() -> None:
    background = np.median(np.stack(vtest_frames(60)[::6]), axis=0).astype(np.uint8)
    rng = np.random.default_rng(0)
    gate = MotionGate(MotionSettings(keepalive_s=2.0))
    passed_at = []
    for i in range(50):  # 10 s at 5 fps, with sensor/compression noise
        noise = rng.normal(0, 3, background.shape)
        frame = np.clip(background + noise, 0, 255).astype(np.uint8)
        if gate.should_analyse(frame, i * 0.2):
            passed_at.append(round(i * 0.2, 1))
    assert passed_at == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_one_person_entering_an_empty_scene_passes() -> None:
    frames = vtest_frames(60)
    background = np.median(np.stack(frames[::6]), axis=0).astype(np.uint8)
    gate = MotionGate()
    for i in range(5):
        gate.should_analyse(background, i * 0.2)
    person = frames[40][190:280, 430:470]  # a pedestrian crop from a real frame
    scene = background.copy()
    scene[190:280, 200:240] = person
    assert gate.should_analyse(scene, 1.2)
