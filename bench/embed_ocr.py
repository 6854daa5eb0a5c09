"""Benchmark: appearance-embedding and OCR latency on real crops (merged into bench/models.py)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from detect.embedder import AppearanceEmbedder
from detect.ocr import OCR_MODEL_NAMES, OcrModelPaths, TextReader
from models.build import ensure_models
from models.registry import default_cache_dir

PAIRS_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_pairs.json"
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
EMBED_BATCH = 16
REPEATS = 5
PLATES = (
    "吉A·12345", "京B·6C789", "粤Z·D2468", "沪A·D2468", "川A·7Q215",
    "浙C·88U66", "鲁B·3K927", "苏E·5M031", "渝A·2T888", "晋K·60A12",
)  # fmt: skip


def _person_crops(count: int) -> list[np.ndarray]:
    """`count` labelled person crops from vtest.avi (tests/data/vtest_pairs.json)."""
    doc = json.loads(PAIRS_FILE.read_text())
    pairs = doc["pairs"][:count]
    wanted = {p["frame_a"] for p in pairs}
    frames: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(doc["video"])
    index = 0
    while index <= max(wanted):
        ok, frame = capture.read()
        if not ok:
            raise RuntimeError(f"cannot read frame {index} of {doc['video']}")
        if index in wanted:
            frames[index] = frame
        index += 1
    capture.release()
    return [frames[p["frame_a"]][p["box_a"][1] : p["box_a"][3], p["box_a"][0] : p["box_a"][2]]
            for p in pairs]  # fmt: skip


def _plate(text: str) -> np.ndarray:
    font = ImageFont.truetype(str(CJK_FONT), 40, index=2)
    image = Image.new("RGB", (220, 64), (20, 60, 180))
    draw = ImageDraw.Draw(image)
    draw.text((110, 32), text, font=font, fill="white", anchor="mm")
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def _median_ms(samples_s: list[float]) -> float:
    return statistics.median(samples_s) * 1000.0


def measure() -> dict[str, float]:
    """embed_ms (per crop, batch of 16), ocr_ms (det+rec per plate crop), ocr_line_ms (rec only),
    plate_exact_read (share of rendered plates read exactly by read_line)."""
    cache = default_cache_dir().resolve()
    paths = ensure_models(cache, ["mobilenetv2-embedder", *OCR_MODEL_NAMES.values()])
    embedder = AppearanceEmbedder(paths["mobilenetv2-embedder"])
    crops = _person_crops(EMBED_BATCH)
    names = ["person"] * len(crops)
    embedder.embed(crops, names)  # warm-up
    embed_s = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        embedder.embed(crops, names)
        embed_s.append((time.perf_counter() - start) / len(crops))

    reader = TextReader(OcrModelPaths.from_model_cache(cache))
    plates = [_plate(t) for t in PLATES]
    reader.read_text(plates[0])  # warm-up
    ocr_s, line_s, exact = [], [], 0
    for text, plate in zip(PLATES, plates, strict=True):
        start = time.perf_counter()
        reader.read_text(plate)
        ocr_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        read = reader.read_line(plate)
        line_s.append(time.perf_counter() - start)
        exact += int(read is not None and read.alnum == "".join(c for c in text if c.isalnum()))
    return {
        "embed_ms": round(_median_ms(embed_s), 2),
        "ocr_ms": round(_median_ms(ocr_s), 2),
        "ocr_line_ms": round(_median_ms(line_s), 2),
        "plate_exact_read": exact / len(PLATES),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
