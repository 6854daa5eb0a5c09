"""NanoDet detector on real images (bus, zidane, vtest), letterbox/NMS geometry, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.detections import COCO_CLASSES
from detect.detector import (
    DetectorConfig,
    NanoDetDetector,
    TiledDetector,
    TileGrid,
    detector_for,
)
from detect.nms import batched_nms, box_iou, nms
from models.build import ensure_models
from models.letterbox import letterbox

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
LABELS = Path(__file__).parents[1] / "data" / "vtest_persons.json"
BUS_PERSONS = np.array(
    [[50, 400, 245, 905], [222, 405, 345, 860], [670, 380, 810, 880], [0, 550, 80, 875]], float
)  # hand-labelled from the image
BUS_BUS = np.array([[20, 225, 805, 750]], float)
ZIDANE_PERSONS = np.array([[120, 200, 960, 720], [750, 40, 1150, 720]], float)


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    return ensure_models(None, ["nanodet", "nanodet-int8", "asset-bus", "asset-zidane"])


@pytest.fixture(scope="module")
def detector(models: dict[str, Path]) -> NanoDetDetector:
    return NanoDetDetector(models["nanodet"], classes=COCO_CLASSES)


def _imread(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return image


def _read_vtest(indices: set[int]) -> dict[int, np.ndarray]:
    if not VTEST.exists():
        pytest.fail("Debian package opencv-doc (vtest.avi) is not installed: run scripts/setup.sh")
    cap = cv2.VideoCapture(str(VTEST))
    frames: dict[int, np.ndarray] = {}
    index = 0
    while len(frames) < len(indices):
        ok, frame = cap.read()
        assert ok, f"vtest.avi ended before frame {max(indices)}"
        if index in indices:
            frames[index] = frame
        index += 1
    return frames


def _matched(truth: np.ndarray, found: np.ndarray, iou: float = 0.5) -> int:
    """Ground-truth boxes matched one-to-one (greedy by IoU) by found boxes."""
    if not len(found):
        return 0
    m = box_iou(truth, found)
    hits = 0
    while m.size and m.max() >= iou:
        i, j = np.unravel_index(m.argmax(), m.shape)
        hits += 1
        m[i, :] = 0
        m[:, j] = 0
    return hits


def test_bus_has_the_bus_and_four_persons(models: dict[str, Path]) -> None:
    image = _imread(models["asset-bus"])
    plain = NanoDetDetector(models["nanodet"], score_threshold=0.25, classes=COCO_CLASSES)
    dets = plain.detect([image])[0]
    persons = dets[dets.class_id == 0]
    buses = dets[dets.class_id == COCO_CLASSES.index("bus")]
    assert _matched(BUS_BUS, buses.xyxy) == 1
    assert _matched(BUS_PERSONS, persons.xyxy) == 4  # 416×416: the two at the edges score 0.27-0.30
    tiled = TiledDetector(plain, TileGrid(1, 2, 0.2)).detect([image])[0]
    assert _matched(BUS_PERSONS, tiled[tiled.class_id == 0].xyxy) == 4
    assert len(tiled[tiled.class_id == 0]) >= 4


def test_zidane_has_two_persons(detector: NanoDetDetector, models: dict[str, Path]) -> None:
    dets = detector.detect([_imread(models["asset-zidane"])])[0]
    persons = dets[dets.class_id == 0]
    assert len(persons) == 2
    assert _matched(ZIDANE_PERSONS, persons.xyxy) == 2
    assert (persons.confidence > 0.35).all()


def test_vtest_frame_40_has_three_or_more_persons(models: dict[str, Path]) -> None:
    frame = _read_vtest({40})[40]
    dets = NanoDetDetector(models["nanodet"], classes=("person",)).detect([frame])[0]
    truth = next(f for f in json.loads(LABELS.read_text())["frames"] if f["frame_index"] == 40)
    assert len(dets) >= 3 and set(dets.class_name) == {"person"}
    assert _matched(np.array(truth["persons_xyxy"], float), dets.xyxy) >= 3
    assert (dets.xyxy[:, 2] <= 768).all() and (dets.xyxy[:, 3] <= 576).all()


def _labelled_vtest() -> tuple[list[np.ndarray], list[np.ndarray]]:
    labels = {f["frame_index"]: f["persons_xyxy"] for f in json.loads(LABELS.read_text())["frames"]}
    frames = _read_vtest(set(labels))
    return [frames[i] for i in sorted(labels)], [np.array(labels[i], float) for i in sorted(labels)]


def test_int8_detector_keeps_the_float_models_detections(models: dict[str, Path]) -> None:
    """The quantised live default: same objects on bus and zidane, vtest recall within 2 points."""
    int8 = NanoDetDetector(models["nanodet-int8"], score_threshold=0.25, classes=COCO_CLASSES)
    bus = int8.detect([_imread(models["asset-bus"])])[0]
    assert _matched(BUS_BUS, bus[bus.class_id == COCO_CLASSES.index("bus")].xyxy) == 1
    assert _matched(BUS_PERSONS, bus[bus.class_id == 0].xyxy) >= 3
    zidane = int8.detect([_imread(models["asset-zidane"])])[0]
    assert _matched(ZIDANE_PERSONS, zidane[zidane.class_id == 0].xyxy) == 2
    frames, truths = _labelled_vtest()
    recall = {}
    for name in ("nanodet", "nanodet-int8"):
        live = NanoDetDetector(models[name], input_size=(448, 256), classes=("person",))
        found = live.detect(frames)
        recall[name] = sum(_matched(t, d.xyxy) for t, d in zip(truths, found, strict=True))
    total = sum(len(t) for t in truths)
    assert recall["nanodet-int8"] >= recall["nanodet"] - 0.02 * total, recall
    assert recall["nanodet-int8"] >= 0.9 * total, recall


def test_batch_equals_single_and_boxes_follow_the_source_scale(
    detector: NanoDetDetector, models: dict[str, Path]
) -> None:
    bus = _imread(models["asset-bus"])
    zidane = _imread(models["asset-zidane"])
    batch = detector.detect([bus, zidane, bus])
    singles = [detector.detect([img])[0] for img in (bus, zidane)]
    for got, want in zip(batch[:2], singles, strict=True):
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.5)
        assert list(got.class_id) == list(want.class_id)
    half = cv2.resize(zidane, (640, 360), interpolation=cv2.INTER_AREA)
    small = detector.detect([half])[0]
    small_persons = small[small.class_id == 0]
    assert _matched(ZIDANE_PERSONS / 2, small_persons.xyxy) == 2


def test_non_square_input_size_for_16_9_sub_streams(models: dict[str, Path]) -> None:
    wide = NanoDetDetector(models["nanodet"], input_size=(416, 256), classes=("person",))
    zidane = cv2.resize(_imread(models["asset-zidane"]), (640, 360))
    dets = wide.detect([zidane])[0]
    assert _matched(ZIDANE_PERSONS / 2, dets.xyxy) == 2


def test_class_filter_and_config_switch(models: dict[str, Path]) -> None:
    base = NanoDetDetector(models["nanodet"], classes=("bus",))
    dets = base.detect([_imread(models["asset-bus"])])[0]
    assert set(dets.class_name) == {"bus"}
    assert detector_for(DetectorConfig(), base) is base
    tiled = detector_for(DetectorConfig(tiles=(2, 2)), base)
    assert isinstance(tiled, TiledDetector) and tiled.grid.cols == 2


@pytest.mark.parametrize(
    ("frame", "cause"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10), np.uint8), "H×W×3"),
        (np.zeros((10, 10, 4), np.uint8), "H×W×3"),
        ("not an image", "numpy array"),
    ],
)
def test_bad_input_names_the_cause(detector: NanoDetDetector, frame: object, cause: str) -> None:
    with pytest.raises(ValueError, match=cause):
        detector.detect([np.zeros((8, 8, 3), np.uint8), frame])  # type: ignore[list-item]
    assert detector.detect([]) == []


def test_bad_settings_are_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        NanoDetDetector(models["nanodet"], input_size=(400, 416))
    with pytest.raises(ValueError, match="unknown class"):
        NanoDetDetector(models["nanodet"], classes=("unicorn",))
    with pytest.raises(FileNotFoundError):
        NanoDetDetector(Path("/nonexistent/model.onnx"))


# ----------------------------------------------------------------------------- geometry

boxes = st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 200), st.floats(1, 200)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


@settings(max_examples=50, deadline=None)
@given(
    src_w=st.integers(16, 2000),
    src_h=st.integers(16, 2000),
    size=st.sampled_from([(416, 416), (416, 256), (640, 384)]),
)
def test_letterbox_round_trip(src_w: int, src_h: int, size: tuple[int, int]) -> None:
    image = np.zeros((src_h, src_w, 3), np.uint8)
    boxed, t = letterbox(image, size)
    assert boxed.shape == (size[1], size[0], 3)
    xyxy = np.array([[0, 0, src_w, src_h], [src_w / 4, src_h / 3, src_w / 2, src_h / 2]])
    np.testing.assert_allclose(t.to_source(t.to_input(xyxy)), xyxy, atol=1e-2)
    inner = t.to_input(xyxy[:1])[0]
    assert inner[0] >= -0.5 and inner[2] <= size[0] + 0.5 and inner[3] <= size[1] + 0.5


@settings(max_examples=50, deadline=None)
@given(st.lists(boxes, min_size=1, max_size=30), st.floats(0.1, 0.9))
def test_nms_keeps_no_overlapping_pair_and_best_box(box_list: list, iou: float) -> None:
    xyxy = np.array(box_list)
    scores = np.linspace(1, 0.1, len(xyxy))
    keep = nms(xyxy, scores, iou)
    assert keep[0] == 0
    kept = box_iou(xyxy[keep], xyxy[keep])
    np.fill_diagonal(kept, 0)
    assert (kept <= iou + 1e-9).all()
    dropped = np.setdiff1d(np.arange(len(xyxy)), keep)
    if len(dropped):
        assert (box_iou(xyxy[dropped], xyxy[keep]).max(axis=1) > iou).all()


def test_batched_nms_keeps_overlapping_boxes_of_other_classes() -> None:
    xyxy = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], float)
    keep = batched_nms(xyxy, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 2]), 0.5)
    assert sorted(keep.tolist()) == [0, 2]


def test_tile_grid_covers_the_frame() -> None:
    tiles = TileGrid(2, 2, 0.2).tiles(768, 576)
    assert len(tiles) == 4
    assert min(t[0] for t in tiles) == 0 and max(t[2] for t in tiles) == 768
    assert min(t[1] for t in tiles) == 0 and max(t[3] for t in tiles) == 576
    with pytest.raises(ValueError, match="overlap"):
        TileGrid(2, 2, 1.0)
