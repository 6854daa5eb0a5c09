"""Motion-region detection (#16 part 4): regions from the gate's mask, shelf packing, mapping
back; on real pixels a 12-px-wide person the whole-frame pass misses is found; stationary
objects stay tracked through the periodic whole-frame pass; the worker routes cameras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from bench.models import sub_stream_frames
from detect.detections import Detections
from detect.detector import DetectorConfig, NanoDetDetector, TileGrid
from detect.motion_regions import MotionRegionDetector, MotionRegionSettings, crop_scales
from detect.nms import box_iou
from detect.region_packing import (
    Placement,
    Region,
    merge_regions,
    motion_regions,
    moving_fraction,
    pack_regions,
    render_canvases,
    to_frame,
)
from detect.track_record import TrackRecord
from detect.worker import AnalysisWorker, CameraAnalysis
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames
from ingest.motion import MotionGate
from models.registry import ModelError, model_path
from sample_streams import synthetic

T0 = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
LIVE_INPUT_PX = (448, 256)


def test_blobs_become_padded_boxes_in_frame_pixels_and_touching_ones_merge() -> None:
    mask = np.zeros((90, 160), bool)
    mask[10:20, 10:14] = True  # a walker
    mask[10:20, 16:19] = True  # a second, 2 cells away: padded, they touch
    mask[60:70, 120:124] = True  # far away
    mask[80, 5] = True  # one-cell noise
    regions = motion_regions(mask, (640, 360), padding_px=8, min_blob_px=2)
    assert sorted(regions, key=lambda r: r.x0) == [
        Region(32, 32, 84, 88),  # 4× the mask cells 10..19, padded by 8, the two merged
        Region(472, 232, 504, 288),
    ]
    noise = Region(20, 320, 24, 324)  # kept when single cells count
    assert noise in motion_regions(mask, (640, 360), padding_px=0, min_blob_px=1)


def test_merge_is_transitive() -> None:
    chain = [Region(0, 0, 10, 10), Region(20, 0, 30, 10), Region(9, 0, 21, 10)]
    assert merge_regions(chain) == [Region(0, 0, 30, 10)]


def test_packing_keeps_crops_apart_inside_canvases_and_shrinks_only_oversized_ones() -> None:
    rng = np.random.default_rng(4)
    regions = [
        Region(0, 0, int(w), int(h))
        for w, h in zip(rng.integers(10, 120, 40), rng.integers(10, 150, 40), strict=True)
    ]
    regions.append(Region(0, 0, 640, 360))  # larger than a canvas
    placed = pack_regions(regions, LIVE_INPUT_PX, [1.5] * len(regions), gap_px=4)
    assert [p.region for p in placed] == regions
    for p in placed:
        assert p.x >= 0 and p.y >= 0
        assert p.x + p.width_px <= 448 and p.y + p.height_px <= 256
    assert placed[-1].scale == pytest.approx(0.7)  # 640×360 → 448×252
    assert all(p.scale == 1.5 for p in placed[:-1] if p.region.height_px * 1.5 <= 256)
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            apart = (
                a.canvas != b.canvas
                or a.x + a.width_px + 4 <= b.x
                or b.x + b.width_px + 4 <= a.x
                or a.y + a.height_px + 4 <= b.y
                or b.y + b.height_px + 4 <= a.y
            )
            assert apart, (a, b)
    assert max(p.canvas for p in placed) >= 1


def test_low_crops_are_enlarged_up_to_the_cap() -> None:
    settings = MotionRegionSettings(crop_scale=1.0, enlarge_below_px=120, max_crop_scale=2.0)
    low, mid, tall = Region(0, 0, 20, 40), Region(0, 0, 30, 80), Region(0, 0, 60, 200)
    assert crop_scales([low, mid, tall], settings, [0.7] * 3) == [2.0, 1.5, 1.0]


def test_tall_crops_shrink_no_lower_than_the_whole_frame_pass_shows_them() -> None:
    settings = MotionRegionSettings(shrink_above_px=100)
    low, tall, taller = Region(0, 0, 20, 80), Region(0, 0, 60, 125), Region(0, 0, 60, 300)
    assert crop_scales([low, tall, taller], settings, [0.7] * 3) == [1.0, 0.8, 0.7]


def test_crops_are_rendered_where_placed_and_boxes_map_back_to_the_frame() -> None:
    image = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)
    region = Region(100, 50, 160, 170)
    placement = Placement(region, 0, 20, 10, 2.0)
    (canvas,) = render_canvases([image], [[placement]], [LIVE_INPUT_PX])
    expected = cv2.resize(image[50:170, 100:160], (120, 240), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(canvas[10:250, 20:140], expected)
    frame_box = np.array([[110.0, 60.0, 130.0, 110.0]], np.float32)
    canvas_box = (frame_box - [100, 50, 100, 50]) * 2 + [20, 10, 20, 10]
    stray = np.array([[300.0, 20.0, 330.0, 60.0]], np.float32)  # on the background
    dets = Detections(
        np.concatenate([canvas_box, stray]).astype(np.float32),
        np.array([0.9, 0.8], np.float32),
        np.array([0, 0]),
    )
    back = to_frame(dets, [placement])
    assert len(back) == 1
    np.testing.assert_allclose(back.xyxy, frame_box, atol=1e-4)


def test_moving_fraction_counts_mask_cells_under_each_box() -> None:
    mask = np.zeros((90, 160), bool)
    mask[10:20, 10:15] = True
    boxes = np.array([[40, 40, 60, 80], [40, 40, 80, 80], [400, 200, 440, 240]], np.float32)
    np.testing.assert_allclose(moving_fraction(boxes, mask, (640, 360)), [1.0, 0.5, 0.0])


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="crop_scale"):
        MotionRegionSettings(crop_scale=0)
    with pytest.raises(ValueError, match="canvas_px"):
        MotionRegionSettings(canvas_px=(16, 256))


class CountingDetector:
    """A real NanoDet that records the shapes of each call's images."""

    def __init__(self, classes: tuple[str, ...] = ("person",)) -> None:
        try:
            path = model_path("nanodet-int8")
        except ModelError as error:
            pytest.fail(f"NanoDet not built (run python -m models.build): {error}")
        self.nanodet = NanoDetDetector(path, LIVE_INPUT_PX, 0.35, classes=classes)
        self.calls: list[list[tuple[int, ...]]] = []  # whole frames
        self.sized_calls: list[list[tuple[int, ...]]] = []  # canvases

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        self.calls.append([f.shape[:2] for f in frames])
        return self.nanodet.detect(frames)

    def detect_sized(self, images: list[np.ndarray]) -> list[Detections]:
        self.sized_calls.append([f.shape[:2] for f in images])
        return self.nanodet.detect_sized(images)

    def tiled(self, grid: TileGrid) -> None:
        """No tiles: these tests are about motion regions."""
        return None


def sub_stream_background() -> np.ndarray:
    (background,), _ = sub_stream_frames([synthetic.median_background()], [np.zeros((0, 4))])
    return background


def gated(gate: MotionGate, image: np.ndarray, at_s: float, camera_id: str = "cam") -> Frame:
    gate.should_analyse(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), at_s)
    return Frame(image, camera_id, at_s, T0 + timedelta(seconds=at_s), gate.last_mask)


def test_a_12px_wide_walker_is_found_on_motion_regions_not_by_the_whole_frame() -> None:
    """A real vtest person cut-out shrunk to 12 × 34 px, stepping into the empty scene at the
    far end of the sub stream: the live whole-frame pass (448×256) does not see it, its
    motion region (cropped at native resolution, enlarged by the shipped `crop_scale`) does."""
    detector = CountingDetector()
    background = sub_stream_background()
    walker = synthetic.person_sprites()[0].scaled(34)
    assert walker.image.shape[1] == 12
    gate = MotionGate()
    regions = MotionRegionDetector(detector)
    for step in range(5):  # the empty scene: background learnt, first whole-frame pass done
        regions.detect_frames([gated(gate, background, 0.2 * step)])
    scene = background.copy()
    synthetic.paste(scene, walker, 500, 150)
    truth = np.array([[500, 150, 512, 184]], np.float64)
    frame = gated(gate, scene, 1.2)  # whole-frame passes at 0 and 0.8 s: regions only now
    found = regions.detect_frames([frame])[0]
    whole = detector.nanodet.detect([scene])[0]
    assert not len(whole) or box_iou(truth, whole.xyxy.astype(np.float64)).max() < 0.5
    assert box_iou(truth, found.xyxy.astype(np.float64)).max() >= 0.5
    # its 36 × 58 px crop (12 px padding around the mask cells) cut to a 64 × 64 canvas,
    # a sixth of the whole-frame input it took before canvases were cut to their content
    assert detector.sized_calls[-1] == [(64, 64)]


def test_whole_frame_pass_comes_every_4th_frame_and_at_a_restart() -> None:
    """Counted in frames: a camera sampled slower under load keeps the same share of passes."""
    regions = MotionRegionDetector(CountingDetector(), MotionRegionSettings(full_every_frames=4))
    mask = np.zeros((90, 160), bool)
    image = np.zeros((360, 640, 3), np.uint8)
    times = [0.2 * i for i in range(6)] + [1.2 + 0.8 * i for i in range(6)] + [0.0]  # restart
    due = [regions.full_pass_due(Frame(image, "c", t, T0, mask)) for t in times]
    assert due == [True, False, False, False, True, False, False, False, True, False, False,
                   False, True]  # fmt: skip
    assert regions.full_pass_due(Frame(image, "other", 0.2, T0, mask))  # its first frame
    assert regions.full_pass_due(Frame(image, "c", 0.2, T0, None))  # no mask: whole frame


def test_a_walkers_whole_frame_box_is_not_carried_once_they_walk_on() -> None:
    """Boxes of the last whole-frame pass stand in for still objects on the frames between;
    a walker's box is not one of them: it moved after the pass, so its stale box (empty
    pavement, score 0.7 on vtest, half the region path's false positives there) is dropped
    even where the current frame's mask no longer shows the spot it left."""
    detector = CountingDetector()
    background = sub_stream_background()
    walker = synthetic.person_sprites()[0].scaled(80)
    gate = MotionGate()
    regions = MotionRegionDetector(detector)
    for step in range(4):  # the empty scene; whole-frame pass at 0 s
        regions.detect_frames([gated(gate, background, 0.2 * step)])
    xs = [420, 350, 280, 210]
    found = []
    for step, x in enumerate(xs):  # whole-frame pass at 0.8 s sees the walker at 420
        scene = background.copy()
        synthetic.paste(scene, walker, x, 200)
        found.append(regions.detect_frames([gated(gate, scene, 0.8 + 0.2 * step)])[0])
    w = walker.image.shape[1]
    at = [np.array([[x, 200, x + w, 280]], np.float64) for x in xs]
    assert box_iou(at[0], found[0].xyxy.astype(np.float64)).max() >= 0.5  # the pass saw them
    for later in found[1:]:
        assert not len(later) or box_iou(at[0], later.xyxy.astype(np.float64)).max() < 0.3


def test_pass_boxes_are_not_carried_into_frames_of_another_size() -> None:
    """The parked van and car of a whole-frame pass are carried while nothing moves, but not
    into a frame of another geometry (the stream changed): their pixels mean nothing there."""
    detector = CountingDetector(classes=("person", "car", "truck", "bus"))
    background = sub_stream_background()
    regions = MotionRegionDetector(detector)
    still = [Frame(background, "cam", 0.2 * i, T0, np.zeros((90, 160), bool)) for i in (0, 1)]
    parked = [regions.detect_frames([frame])[0] for frame in still]  # a pass, then carried
    assert len(parked[0]) >= 1 and len(parked[1]) == len(parked[0])
    narrow = np.ascontiguousarray(background[:, 80:560])  # 480 × 360, mask 120 × 90
    found = regions.detect_frames([Frame(narrow, "cam", 0.4, T0, np.zeros((90, 120), bool))])
    assert len(found[0]) == 0


@pytest.mark.slow
def test_worker_tracks_parked_vehicles_through_whole_frame_passes_and_routes_cameras() -> None:
    """Six seconds of the empty vtest scene (parked van and car, nothing moving) on a
    motion-region camera beside a plain one: the region camera's detector sees a whole frame
    on every 4th frame only, and still keeps each parked vehicle in one track for the whole
    time, as the plain camera does."""
    detector = CountingDetector(classes=("person", "car", "truck", "bus"))
    records: list[TrackRecord] = []
    worker = AnalysisWorker(LatestFrames(4), detector, ColourEmbedder(), records.extend)
    worker.configure_camera("regions", CameraAnalysis(DetectorConfig(motion_regions=True)))
    background = sub_stream_background()
    gate = MotionGate()
    rng = np.random.default_rng(0)
    for step in range(30):
        noisy = cv2.add(background, rng.integers(0, 3, background.shape, np.uint8))
        at_s = 0.2 * step
        worker.process([Frame(noisy, "plain", at_s, T0 + timedelta(seconds=at_s))])
        worker.process([gated(gate, noisy, at_s, "regions")])
    worker.stop()
    # the plain camera: every whole frame (30); the region camera: a whole frame every 4th
    # frame (8 of 30); no canvas: its first frame's mask is all motion, but that crop would
    # show no more than the frame's whole-frame pass, and nothing moves after it
    assert detector.calls == [[(360, 640)]] * 38
    assert detector.sized_calls == []
    vehicles = {
        cam: [r for r in records if r.camera_id == cam and r.class_name != "person"]
        for cam in ("plain", "regions")
    }
    assert len(vehicles["plain"]) >= 1
    assert len(vehicles["regions"]) == len(vehicles["plain"])
    for record in vehicles["regions"]:
        assert (record.end_at - record.start_at).total_seconds() >= 5.0


class ColourEmbedder:
    """The project's HSV colour descriptor as a small real embedder."""

    def __init__(self) -> None:
        from detect.colour import COLOUR_VERSION

        self.embedding_version = COLOUR_VERSION

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        from detect.colour import colour_descriptors

        return colour_descriptors(crops, class_names)
