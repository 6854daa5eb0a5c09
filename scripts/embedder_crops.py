"""Write the embedder's INT8 calibration crops (models/embedder_calibration.json) offline.

    .venv/bin/python scripts/embedder_crops.py [OUT_JSON]

The crops are float NanoDet's boxes on the calibration images of `models.quantize`. Running a
detector is run-time work, so this lives outside `models/`: the build step reads the JSON and
never imports `detect`. Run it only to change the crop recipe; the INT8 embedder's pinned sha256
depends on the file's boxes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from detect.detector import NanoDetDetector
from models.quantize import EMBEDDER_CROPS_PATH, calibration_images, source_names
from models.registry import default_cache_dir, model_path

CROP_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
CROP_MIN_SCORE = 0.5
COMMAND = "python scripts/embedder_crops.py"


def write_embedder_crops(out_path: Path = EMBEDDER_CROPS_PATH) -> int:
    """Write the crops JSON to `out_path` from float NanoDet's boxes; returns the crop count."""
    detector = NanoDetDetector(
        model_path("nanodet", default_cache_dir()), score_threshold=CROP_MIN_SCORE,
        classes=CROP_CLASSES,
    )  # fmt: skip
    crops = []
    for name, image in zip(source_names(), calibration_images(), strict=True):
        found = detector.detect([image])[0]
        height, width = image.shape[:2]
        for class_name, xyxy in zip(found.class_name, found.xyxy, strict=True):
            x1, y1, x2, y2 = (round(float(v)) for v in xyxy)
            box = [max(0, x1), max(0, y1), min(width, x2), min(height, y2)]
            if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                crops.append({"image": name, "class": class_name, "box": box})
    method = (
        f"float NanoDet 416×416, classes {', '.join(CROP_CLASSES)}, score ≥"
        f" {CROP_MIN_SCORE}, boxes rounded and clipped to the image ({COMMAND})"
    )
    lines = ",\n".join(f"  {json.dumps(crop)}" for crop in crops)
    out_path.write_text(
        f'{{\n "method": {json.dumps(method, ensure_ascii=False)},\n'
        ' "box_format": "xyxy source pixels; vtest.avi frames 0-based as decoded by OpenCV",\n'
        f' "crops": [\n{lines}\n ]\n}}\n'
    )
    return len(crops)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        raise SystemExit(f"usage: {COMMAND} [OUT_JSON]")
    out = Path(sys.argv[1]) if len(sys.argv) == 2 else EMBEDDER_CROPS_PATH
    print(f"{write_embedder_crops(out)} crops → {out}")
