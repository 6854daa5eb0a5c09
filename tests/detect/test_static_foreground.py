"""The static-foreground model on real vtest frames: an object pasted into the real scene
(people walking past it) for a while is found where it was put and only while it stays; a
change of light over the whole scene, sudden or gradual, is not an object; a thing that was
there from the first frame and left (a ghost) is not either."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detect.static_foreground import StaticForeground
from sample_streams import synthetic

STEP_S = 0.2  # 5 fps
OBJECT_BOX = (100, 400, 180, 500)  # x1, y1, x2, y2 on the pavement, bottom left


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    if not synthetic.VTEST_PATH.is_file():
        pytest.fail(f"{synthetic.VTEST_PATH} missing (Debian package opencv-doc)")
    return list(synthetic.read_video_frames(synthetic.VTEST_PATH, step=2, limit=200))


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A real object: the bicycle and bench corner of darknet's dog.jpg."""
    image = cv2.imread(str(synthetic.DOG_JPG_PATH))
    if image is None:
        pytest.fail(f"{synthetic.DOG_JPG_PATH} missing (Debian package darknet)")
    x1, y1, x2, y2 = OBJECT_BOX
    return cv2.resize(image[250:520, 120:320], (x2 - x1, y2 - y1))


def paste(frame: np.ndarray, crop: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = OBJECT_BOX
    out = frame.copy()
    out[y1:y2, x1:x2] = crop
    return out


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_pasted_object_found_while_it_stays(frames: list[np.ndarray], crop: np.ndarray) -> None:
    model = StaticForeground()
    found_at: list[int] = []
    boxes = []
    for index, frame in enumerate(frames):
        image = paste(frame, crop) if 40 <= index < 160 else frame
        blobs = model.update(image, index * STEP_S)
        if blobs:
            found_at.append(index)
            boxes.append(max(blobs, key=lambda b: b.area_frac).xyxy)
    assert found_at, "the pasted object was never found"
    # found within 20 s of being put down (min_static_s 10 s + the short background's lag)
    assert 40 < found_at[0] <= 40 + 20 / STEP_S
    assert max(found_at) < 160 + 5  # gone within a second of being taken away
    assert iou(boxes[-1], tuple(float(v) for v in OBJECT_BOX)) > 0.5


def test_person_boxes_are_not_static_objects(frames: list[np.ndarray], crop: np.ndarray) -> None:
    model = StaticForeground()
    person = np.array([OBJECT_BOX], np.float32)
    for index, frame in enumerate(frames[:140]):
        image = paste(frame, crop) if index >= 40 else frame
        assert model.update(image, index * STEP_S, person) == []


@pytest.mark.parametrize("change", ["darker", "brighter", "gradual"])
def test_lighting_change_is_not_an_object(frames: list[np.ndarray], change: str) -> None:
    model = StaticForeground()
    found = []
    for index, frame in enumerate(frames):
        image = frame.astype(np.float32)
        if change == "darker" and index >= 60:
            image *= 0.6
        elif change == "brighter" and index >= 60:
            image = image * 1.2 + 25
        elif change == "gradual":
            image *= 1.0 - 0.5 * min(1.0, index / len(frames))  # dusk over 40 s
        found += model.update(np.clip(image, 0, 255).astype(np.uint8), index * STEP_S)
    assert found == []


def test_object_leaving_is_not_a_static_object(frames: list[np.ndarray], crop: np.ndarray) -> None:
    model = StaticForeground()
    found = []
    for index, frame in enumerate(frames):
        image = paste(frame, crop) if index < 20 else frame  # there from the start, then gone
        found += model.update(image, index * STEP_S)
    assert found == []


def test_frame_rate_does_not_change_timing(frames: list[np.ndarray], crop: np.ndarray) -> None:
    """Keep-alive frames every 2 s age the model as 5 fps does: found after ~the same time."""
    model = StaticForeground()
    first_s = None
    for index in range(60):
        at_s = index * 2.0
        image = paste(frames[index % 20], crop) if at_s >= 20 else frames[index % 20]
        if model.update(image, at_s) and first_s is None:
            first_s = at_s
    assert first_s is not None and 20 + 10 <= first_s <= 20 + 24
