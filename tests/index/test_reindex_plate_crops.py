"""Re-index plate reads at full resolution (#14 × #15): what the track builder reads on, and the
plate reading a re-index is configured with (the live runtime's)."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

import av
import numpy as np

from detect.detections import Detections
from detect.main_stream_plates import MAIN_MIN_VEHICLE_SIDE_PX
from detect.track_builder import TrackBuilder
from index.reindex_plates import MainFrame
from ingest.archive import FullFrame
from ingest.frame import Frame
from skynet.plate_reading import plate_reading
from skynet.reindex_service import analysis_settings
from skynet.settings import Settings
from tests.detect.test_plate_legibility_gate import CAR, T0, RecordingSighter
from tests.detect.test_track_builder import ColourEmbedder

SCALE = 3  # 1920×1080 recorded, 640×360 analysed


def observe_car(builder: TrackBuilder, widths: list[float]) -> None:
    """A car of these widths (analysed pixels) seen on analysed frames with their 1080p frame."""
    rng = np.random.default_rng(5)
    full_image = rng.integers(0, 255, (1080, 1920, 3), np.uint8)
    small = full_image[::SCALE, ::SCALE].copy()
    full = MainFrame(FullFrame(av.VideoFrame.from_ndarray(full_image, format="bgr24")))
    for i, w in enumerate(widths):
        dets = Detections(
            xyxy=np.array([[100.0, 100.0, 100.0 + w, 100.0 + w * 0.6]], np.float32),
            confidence=np.array([0.9], np.float32),
            class_id=np.array([CAR]),
            tracker_id=np.array([7]),
        )
        at = T0 + timedelta(seconds=i * 0.2)
        builder.observe(Frame(small, "cam-1", i * 0.2, at), dets, full=full)


def test_a_car_too_small_on_the_analysed_frame_is_read_on_the_full_resolution_one() -> None:
    sighter = RecordingSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
    observe_car(builder, [80.0, 82.0, 84.0])  # under the analysed frame's 96 px gate
    (record,) = builder.finalise(builder.end([7]))
    assert record.plate is not None and record.plate.text == "京A12345"
    # 1080p crops: the box × 3, padded 6 % a side (detect/main_stream_plates.py READ_PAD)
    assert sorted(w for w, _ in sighter.crop_sizes) == [270, 276, 284]
    assert min(read.box_xyxy_px[0] for read in record.plate.reads) >= 100 * SCALE - 30


def test_a_car_illegible_at_full_resolution_is_not_read() -> None:
    sighter = RecordingSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
    width = (MAIN_MIN_VEHICLE_SIDE_PX - 2) / SCALE  # under the main stream's gate at 1080p
    observe_car(builder, [width, width + 0.1, width + 0.2])
    (record,) = builder.finalise(builder.end([7]))
    assert sighter.crop_sizes == [] and record.plate is None


def test_a_reindex_reads_plates_with_the_live_runtimes_reading() -> None:
    settings = Settings(models_dir=Path("/models"), plate_recogniser="both", plate_deblur=False)
    plates = analysis_settings(settings).plates
    assert plates is not None and plates == plate_reading(settings)
    assert (plates.recogniser, plates.deblur) == ("both", False)
    assert pickle.loads(pickle.dumps(analysis_settings(settings))).plates == plates  # Ray actors
    off = Settings(models_dir=Path("/models"), plate_reading=False)
    assert analysis_settings(off).plates is None
