"""Motion gate on real footage: busy scenes pass, a static scene passes only at keep-alive."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ingest.motion import MotionGate, MotionSettings

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def vtest_frames(count: int) -> list[np.ndarray]:
    """The first `count` frames of vtest.avi as luma (what the gate sees of a decoded picture)."""
    capture = cv2.VideoCapture(VTEST)
    frames: list[np.ndarray] = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, "vtest.avi is missing: install the Debian package opencv-doc"
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
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


def test_colour_frames_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="single-channel"):
        MotionGate().should_analyse(np.zeros((36, 64, 3), np.uint8), 0.0)


def test_luma_of_a_decoded_picture_is_its_y_plane() -> None:
    import av

    from ingest.camera import luma_of

    picture = np.zeros((64, 96, 3), np.uint8)
    picture[16:48, 24:72] = (40, 200, 90)  # a green box on black
    frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
    luma = luma_of(frame)
    assert luma.shape == (64, 96)
    expected = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY).astype(int)
    assert abs(int(luma[32, 48]) - (16 + expected[32, 48] * 219 // 255)) <= 3  # BT.601 range
    assert luma[2, 2] <= 17
    rgb = luma_of(av.VideoFrame.from_ndarray(picture, format="bgr24"))  # not planar: converted
    assert rgb.shape == (64, 96)
