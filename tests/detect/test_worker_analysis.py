"""Per-camera analysis settings in the analysis worker, on real vtest frames and the shipped
NanoDet: detector tiling per camera (untiled cameras share one call), compass bearings for a
camera with a heading, settings handed over by `configure_camera`, and tiling refused (logged,
full frames) by a backend that does not declare the capability."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bench.tracking import shipped_settings
from detect.attributes import COMPASS, compass_bearing
from detect.colour import COLOUR_VERSION, colour_descriptors
from detect.detections import Detections
from detect.detector import DetectorConfig, NanoDetDetector, TileGrid
from detect.track_record import TrackRecord
from detect.worker import AnalysisWorker, CameraAnalysis
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames
from models.registry import ModelError, model_path
from sample_streams import synthetic

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
VTEST_FPS = 10.0
FRAME_STEP = 2  # 5 fps, the default detect_fps
FRAMES = 40  # 8 s of vtest
HEADING_DEG = 90.0  # the camera looks east


class RecordingNanoDet(NanoDetDetector):
    """The shipped NanoDet, noting the image shapes of every call (tiles included)."""

    def __init__(self) -> None:
        defaults = shipped_settings()
        try:
            model = model_path(defaults["detector_model"])
        except ModelError as error:
            pytest.fail(f"NanoDet not built (run python -m models.build): {error}")
        super().__init__(
            model,
            input_size=defaults["detector_input_px"],
            score_threshold=defaults["detector_score_threshold"],
            classes=("person",),
        )
        self.calls: list[list[tuple[int, ...]]] = []

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        self.calls.append([frame.shape[:2] for frame in frames])
        return super().detect(frames)


class ColourEmbedder:
    """The project's HSV colour descriptor as a small real embedder."""

    embedding_version = COLOUR_VERSION

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        return colour_descriptors(crops, class_names)


def vtest_frames(count: int) -> list[tuple[float, np.ndarray]]:
    if not synthetic.VTEST_PATH.is_file():
        pytest.fail(f"{synthetic.VTEST_PATH} missing (Debian package opencv-doc)")
    frames = synthetic.read_video_frames(synthetic.VTEST_PATH, step=FRAME_STEP, limit=count)
    return [(i * FRAME_STEP / VTEST_FPS, image) for i, image in enumerate(frames)]


def frame(camera_id: str, at_s: float, image: np.ndarray) -> Frame:
    return Frame(image, camera_id, at_s, T0 + timedelta(seconds=at_s))


@dataclass
class Run:
    detector: RecordingNanoDet
    records: list[TrackRecord]
    frame_shape: tuple[int, int]

    def of(self, camera_id: str) -> list[TrackRecord]:
        return [r for r in self.records if r.camera_id == camera_id]


@pytest.fixture(scope="module")
def run() -> Run:
    """The same 40 vtest frames seen by three cameras, one batch per moment."""
    detector = RecordingNanoDet()
    records: list[TrackRecord] = []
    worker = AnalysisWorker(LatestFrames(4), detector, ColourEmbedder(), records.extend)
    worker.configure_camera("tiled", CameraAnalysis(DetectorConfig(tiles=(2, 2))))
    worker.configure_camera("east", CameraAnalysis(heading_deg=HEADING_DEG))
    # "plain" is never configured: defaults
    frames = vtest_frames(FRAMES)
    for at_s, image in frames:
        worker.process([frame(c, at_s, image) for c in ("plain", "tiled", "east")])
    worker.stop()  # finishes every open track
    height, width = frames[0][1].shape[:2]
    return Run(detector, records, (height, width))


def test_untiled_cameras_share_one_call_and_a_tiled_camera_goes_through_tiles(run: Run) -> None:
    full = run.frame_shape
    assert len(run.detector.calls) == 2 * FRAMES  # per batch: the untiled pair, the tiled one
    for untiled, tiled in zip(run.detector.calls[::2], run.detector.calls[1::2], strict=True):
        assert untiled == [full, full]  # plain and east together, whole frames
        assert len(tiled) == 1 + 2 * 2 and tiled[0] == full  # full frame + 4 tiles
        assert all(h < full[0] and w < full[1] for h, w in tiled[1:])


def test_tiling_finds_people_the_full_frame_misses(run: Run) -> None:
    """vtest's smaller pedestrians: the tiled camera follows more people for longer.

    Measured: 8 person tracks with 138 trajectory points tiled, 7 with 113 plain."""
    plain, tiled, east = run.of("plain"), run.of("tiled"), run.of("east")
    assert len(plain) >= 5
    assert [r.trajectory for r in east] == [r.trajectory for r in plain]  # same detector path
    assert len(tiled) >= len(plain)
    points = {
        name: sum(len(r.trajectory) for r in rs)
        for name, rs in (("plain", plain), ("tiled", tiled))
    }
    assert points["tiled"] >= 1.1 * points["plain"], points


def test_a_camera_with_a_heading_gets_compass_bearings(run: Run) -> None:
    east = [r for r in run.of("east") if "direction_deg" in r.attributes]
    plain = [r for r in run.of("plain") if "direction_deg" in r.attributes]
    assert len(east) >= 3 and len(plain) >= 3  # people walk through the whole window
    for record in east:
        bearing = compass_bearing(float(record.attributes["direction_deg"]), HEADING_DEG)
        assert record.attributes["bearing_deg"] == bearing
        assert record.attributes["compass"] == COMPASS[round(bearing / 45) % 8]
    assert not any("compass" in r.attributes or "bearing_deg" in r.attributes for r in plain)
    # walking left across an east-facing view is walking north
    compass = Counter(r.attributes["compass"] for r in east)
    image_sector = Counter(r.attributes["direction"] for r in east)
    assert compass["N"] == image_sector["W"] and compass["S"] == image_sector["E"]


def test_changed_settings_apply_to_the_next_batch() -> None:
    detector = RecordingNanoDet()
    records: list[TrackRecord] = []
    worker = AnalysisWorker(LatestFrames(4), detector, ColourEmbedder(), records.extend)
    frames = vtest_frames(20)
    for at_s, image in frames[:10]:
        worker.process([frame("cam", at_s, image)])
    wanted = CameraAnalysis(DetectorConfig(tiles=(2, 1)), heading_deg=180.0)
    worker.configure_camera("cam", wanted)
    assert worker.camera_settings() == {"cam": wanted}
    for at_s, image in frames[10:]:
        worker.process([frame("cam", at_s, image)])
    worker.stop()
    assert [len(call) for call in detector.calls] == [1] * 10 + [3] * 10  # full frame + 2 tiles
    moving = [r for r in records if "direction_deg" in r.attributes]
    assert moving and all("bearing_deg" in r.attributes for r in moving)  # finalised afterwards


def test_a_forgotten_camera_is_analysed_plainly_again() -> None:
    detector = RecordingNanoDet()
    worker = AnalysisWorker(LatestFrames(4), detector, ColourEmbedder(), lambda records: None)
    frames = vtest_frames(4)
    worker.configure_camera("cam", CameraAnalysis(DetectorConfig(tiles=(2, 1))))
    for at_s, image in frames[:2]:
        worker.process([frame("cam", at_s, image)])
    worker.forget_camera("cam")  # it left the catalog
    assert worker.camera_settings() == {}
    for at_s, image in frames[2:]:
        worker.process([frame("cam", at_s, image)])
    assert [len(call) for call in detector.calls] == [3, 3, 1, 1]


class FullFrameOnly:
    """A backend without the tiling capability: the shipped NanoDet's detections, no `tiled`."""

    def __init__(self) -> None:
        self.base = RecordingNanoDet()

    @property
    def calls(self) -> list[list[tuple[int, ...]]]:
        return self.base.calls

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        return self.base.detect(frames)

    def tiled(self, grid: TileGrid) -> None:
        return None


def test_tiles_on_a_backend_without_the_capability_are_refused_with_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    detector = FullFrameOnly()
    records: list[TrackRecord] = []
    worker = AnalysisWorker(LatestFrames(4), detector, ColourEmbedder(), records.extend)
    with caplog.at_level(logging.WARNING, logger="detect.worker"):
        worker.configure_camera("far", CameraAnalysis(DetectorConfig((3, 2)), HEADING_DEG))
    (warning,) = caplog.records
    message = warning.getMessage()
    assert "far" in message and "3x2 tiles" in message and "FullFrameOnly" in message
    assert worker.camera_settings()["far"].detector.tiles == (3, 2)  # kept, not applied
    for at_s, image in vtest_frames(20):
        worker.process([frame("far", at_s, image), frame("near", at_s, image)])
    worker.stop()
    full = vtest_frames(1)[0][1].shape[:2]
    assert detector.calls == [[full, full]] * 20  # one full-frame call for both cameras
    far = [r for r in records if r.camera_id == "far" and "direction_deg" in r.attributes]
    assert far and all("bearing_deg" in r.attributes for r in far)  # the heading still applies
