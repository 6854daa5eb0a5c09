"""Plate / text reading with PP-OCRv4 on rendered plates and a real camera frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from detect.ocr import OCR_MODEL_NAMES, OcrModelPaths, TextRead, TextReader
from models.build import ensure_models
from models.registry import default_cache_dir

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_SC_INDEX = 2  # face "Noto Sans CJK SC" inside the collection
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="module")
def reader() -> TextReader:
    cache = default_cache_dir().resolve()
    ensure_models(cache, list(OCR_MODEL_NAMES.values()))
    return TextReader(OcrModelPaths.from_model_cache(cache))


def render_plate(text: str, size_px: tuple[int, int] = (220, 64)) -> np.ndarray:
    """A blue Chinese-style plate with white characters, as a BGR image."""
    if not CJK_FONT.is_file():
        pytest.fail(f"{CJK_FONT} is missing: install the Debian package fonts-noto-cjk")
    font = ImageFont.truetype(str(CJK_FONT), 40, index=CJK_FONT_SC_INDEX)
    image = Image.new("RGB", size_px, (20, 60, 180))
    draw = ImageDraw.Draw(image)
    draw.rectangle([2, 2, size_px[0] - 3, size_px[1] - 3], outline=(255, 255, 255), width=2)
    draw.text((size_px[0] // 2, size_px[1] // 2), text, font=font, fill="white", anchor="mm")
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def paste_on_frame(plate: np.ndarray) -> np.ndarray:
    """The plate pasted (scaled to 110 px wide) onto the lawn of a real vtest frame."""
    capture = cv2.VideoCapture(str(VTEST))
    ok, frame = capture.read()
    capture.release()
    assert ok, f"cannot read {VTEST}"
    small = cv2.resize(plate, (110, 32), interpolation=cv2.INTER_AREA)
    frame[300:332, 80:190] = small
    return frame


@pytest.mark.parametrize(
    ("text", "province", "rest"),
    [("吉A·12345", "吉", "A12345"), ("京B·6C789", "京", "B6C789"), ("粤Z·D2468", "粤", "ZD2468")],
)
def test_reads_rendered_plate(reader: TextReader, text: str, province: str, rest: str) -> None:
    reads = reader.read_text(render_plate(text))
    joined = "".join(r.alnum for r in reads)
    assert province in joined and rest in joined, reads
    assert all(0.5 <= r.confidence <= 1.0 for r in reads)
    x0, y0, x1, y1 = reads[0].xyxy
    assert 0 <= x0 < x1 <= 220 and 0 <= y0 < y1 <= 64


def test_read_line_on_plate_crop(reader: TextReader) -> None:
    read = reader.read_line(render_plate("吉A·12345"))
    assert read is not None
    assert read.alnum == "吉A12345"
    assert read.confidence > 0.9


def test_finds_plate_in_a_real_frame(reader: TextReader) -> None:
    frame = paste_on_frame(render_plate("吉A·12345"))
    reads = reader.read_text(frame)
    hits = [r for r in reads if "A12345" in r.alnum]
    assert hits, reads
    x0, y0, x1, y1 = hits[0].xyxy
    assert x0 >= 60 and x1 <= 210 and y0 >= 290 and y1 <= 345  # where the plate was pasted


def test_blank_image_reads_nothing(reader: TextReader) -> None:
    assert reader.read_text(np.full((64, 220, 3), 128, np.uint8)) == []
    assert reader.read_line(np.full((64, 220, 3), 128, np.uint8)) is None


@pytest.mark.parametrize(
    ("image", "cause"),
    [
        (np.zeros((64, 220), np.uint8), "shape"),
        (np.zeros((64, 220, 3), np.float32), "dtype"),
        (np.zeros((4, 220, 3), np.uint8), "smaller"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_bad_input_is_refused(reader: TextReader, image: np.ndarray, cause: str) -> None:
    with pytest.raises(ValueError, match=cause):
        reader.read_text(image)


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    missing = OcrModelPaths(det=tmp_path / "det.onnx", rec=tmp_path / "rec.onnx", cls=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"det\.onnx"):
        TextReader(missing)


def test_text_read_is_frozen() -> None:
    read = TextRead("吉A·12345", 0.99, ((0, 0), (10, 0), (10, 5), (0, 5)))
    assert read.alnum == "吉A12345" and read.xyxy == (0, 0, 10, 5)
    with pytest.raises(AttributeError):
        read.text = "x"  # type: ignore[misc]
