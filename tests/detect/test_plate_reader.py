"""Plate reading on real pixels (plates rendered with Noto CJK onto bus.jpg's bus), bad crops,
per-track voting and the track builder attaching plates to vehicle tracks only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from detect.detections import Detections
from detect.detector import NanoDetDetector
from detect.ocr import OCR_MODEL_NAMES
from detect.plate_reader import PlateReader, PlateSighting
from detect.plate_values import PlateRead
from detect.plate_vote import PlateVoter
from detect.track_builder import TrackBuilder
from detect.track_record import TrackRecord
from detect.worker import AnalysisWorker
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames
from models.build import ensure_models
from models.registry import default_cache_dir, model_path
from tests.detect.test_track_builder import ColourEmbedder

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
CJK_FONT_SC_INDEX = 2  # "Noto Sans CJK SC"
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
BUS_BOX = (0, 230, 810, 800)  # the bus in bus.jpg (x1, y1, x2, y2)
PLATE_AT = (330, 640)  # top-left of the pasted plate, on the bus's front below the windscreen
PLATE_SIZE_PX = (150, 48)
COLOURS = {
    "blue": ((20, 60, 180), "white"),
    "yellow": ((230, 190, 30), "black"),
    "green": ((120, 200, 120), "black"),
}


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    cache = default_cache_dir().resolve()
    ensure_models(cache, [*OCR_MODEL_NAMES.values(), "asset-bus"])
    return PlateReader.from_model_cache(cache)


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    image = cv2.imread(str(default_cache_dir().resolve() / "assets" / "bus.jpg"))
    assert image is not None and image.shape == (1080, 810, 3)
    return image


def render_plate(text: str, colour: str) -> np.ndarray:
    """A 440×140 one-row plate (frame, background, characters sized to fit), as BGR."""
    if not CJK_FONT.is_file():
        pytest.fail(f"{CJK_FONT} is missing: install the Debian package fonts-noto-cjk")
    background, ink = COLOURS[colour]
    size = 90
    font = ImageFont.truetype(str(CJK_FONT), size, index=CJK_FONT_SC_INDEX)
    while font.getlength(text) > 400:
        size -= 4
        font = ImageFont.truetype(str(CJK_FONT), size, index=CJK_FONT_SC_INDEX)
    image = Image.new("RGB", (440, 140), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle([5, 5, 434, 134], outline=ink, width=4)
    draw.text((220, 70), text, font=font, fill=ink, anchor="mm")
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def bus_with_plate(bus: np.ndarray, text: str, colour: str) -> np.ndarray:
    plate = cv2.resize(render_plate(text, colour), PLATE_SIZE_PX, interpolation=cv2.INTER_AREA)
    image = bus.copy()
    x, y = PLATE_AT
    image[y : y + PLATE_SIZE_PX[1], x : x + PLATE_SIZE_PX[0]] = plate
    return image


@pytest.mark.parametrize(
    ("rendered", "text", "colour", "plate_format"),
    [
        ("京A·12345", "京A12345", "blue", "standard"),
        ("粤B·D12345", "粤BD12345", "green", "new_energy"),
        ("吉A·1234学", "吉A1234学", "yellow", "special"),
    ],
)
def test_reads_a_plate_on_a_real_bus(
    reader: PlateReader,
    bus: np.ndarray,
    rendered: str,
    text: str,
    colour: str,
    plate_format: str,
) -> None:
    x1, y1, x2, y2 = BUS_BOX
    vehicle = bus_with_plate(bus, rendered, colour)[y1:y2, x1:x2]
    sighting = reader.sight(vehicle, T0, (float(x1), float(y1)))
    assert sighting is not None
    read = sighting.read
    assert (read.text, read.plate_format, read.colour, read.rows) == (
        text,
        plate_format,
        colour,
        1,
    )
    assert len(read.char_confidences) == len(text) and read.confidence > 0.3
    bx1, by1, bx2, by2 = read.box_xyxy_px  # frame pixels, around the pasted plate
    px, py = PLATE_AT
    assert abs(bx1 - px) < 12 and abs(by1 - py) < 16
    assert abs(bx2 - px - PLATE_SIZE_PX[0]) < 12 and abs(by2 - py - PLATE_SIZE_PX[1]) < 16
    assert sighting.crop.shape[0] >= 20 and sighting.crop.shape[1] >= 100


def test_the_bare_bus_has_no_plate(reader: PlateReader, bus: np.ndarray) -> None:
    x1, y1, x2, y2 = BUS_BOX
    assert reader.read(bus[y1:y2, x1:x2], T0) is None


@pytest.mark.parametrize(
    "crop",
    [
        np.zeros((3, 3, 3), np.uint8),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((40, 120), np.uint8),
        np.zeros((40, 120, 3), np.float32),
        np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8),
    ],
    ids=["3x3", "empty", "grey", "float", "noise-200x300", "noise-64x64"],
)
def test_bad_crops_read_nothing(reader: PlateReader, crop: np.ndarray) -> None:
    assert reader.read(crop, T0) is None


def sighting(text: str, confidences: list[float]) -> PlateSighting:
    read = PlateRead(text, tuple(confidences), T0, (0.0, 0.0, 10.0, 4.0))
    return PlateSighting(read, np.full((20, 60, 3), 128, np.uint8))


def test_voting_takes_the_majority_per_position_and_ranks_alternatives() -> None:
    voter = PlateVoter()
    voter.add(sighting("京A12345", [0.9] * 7))
    voter.add(sighting("京A12845", [0.9, 0.9, 0.9, 0.9, 0.6, 0.9, 0.9]))
    voter.add(sighting("京A1Z345", [0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9]))
    voter.add(sighting("京A1234", [0.9] * 6))  # a short read of another length does not vote
    voter.add(None)
    plate = voter.result()
    assert plate is not None
    assert plate.text == "京A12345"
    assert len(plate.reads) == 4
    texts = [t for t, _ in plate.alternatives]
    assert {"京A12845", "京A1Z345", "京A1234"} <= set(texts)
    scores = [s for _, s in plate.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert all(s < plate.confidence for s in scores)
    assert plate.crop_jpeg.startswith(b"\xff\xd8")


def test_voting_nothing_is_none() -> None:
    voter = PlateVoter()
    voter.add(None)
    assert voter.result() is None


def test_track_builder_attaches_a_plate_to_the_bus_and_none_to_a_person(
    reader: PlateReader, bus: np.ndarray
) -> None:
    image = bus_with_plate(bus, "京A·12345", "blue")
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=reader)
    boxes = np.array([BUS_BOX, (50, 400, 245, 905)], np.float32)  # the bus; the left person
    for i in range(4):
        dets = Detections(
            xyxy=boxes + i,
            confidence=np.array([0.9, 0.85], np.float32),
            class_id=np.array([5, 0]),
            tracker_id=np.array([1, 2]),
        )
        builder.observe(Frame(image, "cam-1", i * 0.2, T0 + timedelta(seconds=i * 0.2)), dets)
    records = {r.class_name: r for r in builder.finalise(builder.end([1, 2]))}
    assert set(records) == {"bus", "person"}
    plate = records["bus"].plate
    assert plate is not None and plate.text == "京A12345"
    assert 1 <= len(plate.reads) <= 3
    assert plate.crop_jpeg.startswith(b"\xff\xd8")
    assert records["person"].plate is None


def test_the_live_worker_reads_the_plates_of_vehicle_tracks(
    reader: PlateReader, bus: np.ndarray
) -> None:
    """The real detector and tracker on a bus with a plate: the worker's finished bus track
    carries the plate, the people's tracks none."""
    image = bus_with_plate(bus, "京A·12345", "blue")
    detector = NanoDetDetector(model_path("nanodet", default_cache_dir()))
    records: list[TrackRecord] = []
    worker = AnalysisWorker(
        LatestFrames(4), detector, ColourEmbedder(), records.extend, plate_reader=reader
    )
    for i in range(6):
        worker.process([Frame(image, "cam-1", i * 0.2, T0 + timedelta(seconds=i * 0.2))])
    worker.end_camera("cam-1")
    plates = {r.class_name: r.plate for r in records}
    bus_plate = plates.get("bus")
    assert bus_plate is not None and bus_plate.text == "京A12345"
    assert "person" in plates and plates["person"] is None


def test_a_parked_vehicle_is_read_periodically_within_bounds(
    reader: PlateReader, bus: np.ndarray
) -> None:
    image = bus_with_plate(bus, "京A·12345", "blue")
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=reader, plate_period_s=10.0)
    for i in range(61):  # one minute, a frame a second, standing still
        dets = Detections(
            xyxy=np.array([BUS_BOX], np.float32),
            confidence=np.array([0.9], np.float32),
            class_id=np.array([5]),
            tracker_id=np.array([1]),
        )
        builder.observe(Frame(image, "cam-1", float(i), T0 + timedelta(seconds=i)), dets)
    (record,) = builder.finalise(builder.end([1]))
    assert record.plate is not None and record.plate.text == "京A12345"
    late = [r for r in record.plate.reads if r.at >= T0 + timedelta(seconds=40)]
    assert 3 < len(record.plate.reads) <= 5 and len(late) == 2  # the 2 newest samples kept


def test_reads_a_two_row_yellow_plate(reader: PlateReader, bus: np.ndarray) -> None:
    def font(size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(CJK_FONT), size, index=CJK_FONT_SC_INDEX)

    plate = Image.new("RGB", (440, 220), COLOURS["yellow"][0])
    draw = ImageDraw.Draw(plate)
    draw.rectangle([5, 5, 434, 214], outline="black", width=4)
    draw.text((220, 52), "鲁 B", font=font(70), fill="black", anchor="mm")
    draw.text((220, 150), "12345", font=font(110), fill="black", anchor="mm")
    small = cv2.resize(cv2.cvtColor(np.array(plate), cv2.COLOR_RGB2BGR), (140, 70))
    image = bus.copy()
    image[630:700, 335:475] = small
    read = reader.read(image[230:800], T0, (0.0, 230.0))
    assert read is not None
    assert (read.text, read.rows, read.plate_format, read.colour) == (
        "鲁B12345",
        2,
        "standard",
        "yellow",
    )
