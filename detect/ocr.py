"""Text and licence-plate reading with PP-OCRv4 (det + rec ONNX) through rapidocr_onnxruntime."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.registry import model_path

OCR_MODEL_NAMES: dict[str, str] = {
    "det": "ppocrv4-det",
    "rec": "ppocrv4-rec",
    "cls": "ppocr-cls",
}
OCR_VERSION = "ppocrv4-rapidocr-1.4.4"
MIN_SIDE_PX = 8
DET_MAX_SIDE_PX = 960  # larger images are shrunk for the text detector; smaller ones kept as is


@dataclass(frozen=True)
class TextRead:
    """One line of text: `text`, recogniser `confidence` (0-1) and the line's quadrilateral.

    `quad_px` holds 4 (x, y) corners in image pixels, clockwise from top-left.
    """

    text: str
    confidence: float
    quad_px: tuple[tuple[float, float], ...]

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.quad_px]
        ys = [p[1] for p in self.quad_px]
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def alnum(self) -> str:
        """The text without separators and spaces (e.g. "吉A·12345" → "吉A12345")."""
        return "".join(ch for ch in self.text if ch.isalnum())


@dataclass(frozen=True)
class OcrModelPaths:
    """ONNX files of the text detector, recogniser and 0/180° line classifier."""

    det: Path
    rec: Path
    cls: Path

    @classmethod
    def from_model_cache(cls, cache_dir: Path | None = None) -> OcrModelPaths:
        """Verified cached files from the run-time model registry (models/registry.py)."""
        return cls(
            det=model_path(OCR_MODEL_NAMES["det"], cache_dir),
            rec=model_path(OCR_MODEL_NAMES["rec"], cache_dir),
            cls=model_path(OCR_MODEL_NAMES["cls"], cache_dir),
        )


def check_image(image: np.ndarray) -> None:
    """Raise ValueError naming the problem unless `image` is an H×W×3 uint8 BGR image."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 BGR, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H×W×3 BGR, got shape {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE_PX:
        raise ValueError(f"image is smaller than {MIN_SIDE_PX} px on a side: {image.shape}")


class TextReader:
    """Holds one PP-OCRv4 engine (created once) and reads text lines from BGR images.

    The 0/180° classifier is off: plates and signs seen by street cameras are upright, and it
    costs a model call per line. The detector never upscales (rapidocr's default scales the
    short side up to 736 px, which makes a 64 px plate crop cost ~1 s instead of ~35 ms).
    """

    def __init__(
        self,
        models: OcrModelPaths,
        min_confidence: float = 0.5,
        intra_op_threads: int = 1,
        det_max_side_px: int = DET_MAX_SIDE_PX,
    ) -> None:
        for kind, path in (("det", models.det), ("rec", models.rec), ("cls", models.cls)):
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"OCR {kind} model {path} does not exist; build it with "
                    f"`python -m models.build {OCR_MODEL_NAMES[kind]}`"
                )
        from rapidocr_onnxruntime import RapidOCR

        self.min_confidence = min_confidence
        self._engine: Any = RapidOCR(
            det_model_path=str(models.det),
            rec_model_path=str(models.rec),
            cls_model_path=str(models.cls),
            use_cls=False,
            text_score=min_confidence,
            det_limit_type="max",
            det_limit_side_len=det_max_side_px,
            intra_op_num_threads=intra_op_threads,
            inter_op_num_threads=1,
        )

    def read_text(self, image: np.ndarray) -> list[TextRead]:
        """Text lines of a BGR uint8 image, top to bottom, with confidence ≥ `min_confidence`."""
        check_image(image)
        result, _elapsed = self._engine(np.ascontiguousarray(image))
        reads: list[TextRead] = []
        for quad, text, score in result or []:
            corners = tuple((float(x), float(y)) for x, y in quad)
            reads.append(TextRead(text=str(text), confidence=float(score), quad_px=corners))
        return reads

    def detect_lines(self, image: np.ndarray) -> list[tuple[tuple[float, float], ...]]:
        """Quadrilaterals (4 corners, clockwise from top-left) of the text lines in a BGR image:
        the detector alone, for callers that pick lines before recognising them (plates)."""
        check_image(image)
        boxes, _elapsed = self._engine.text_det(np.ascontiguousarray(image))
        if boxes is None:
            return []
        return [tuple((float(x), float(y)) for x, y in quad) for quad in boxes]

    def read_line(self, crop: np.ndarray) -> TextRead | None:
        """Recognise a crop that is one text line (e.g. a plate crop) without the detector.

        Returns None when the recogniser's confidence is below `min_confidence`; the quad is
        the whole crop.
        """
        check_image(crop)
        result, _elapsed = self._engine(np.ascontiguousarray(crop), use_det=False)
        if not result:
            return None
        text, score = result[0][0], float(result[0][1])
        if score < self.min_confidence or not text:
            return None
        h, w = crop.shape[:2]
        quad = ((0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h)))
        return TextRead(text=str(text), confidence=score, quad_px=quad)


@functools.lru_cache(maxsize=1)
def default_reader() -> TextReader:
    """The process-wide reader over the model cache (`$SKYNET_MODELS_DIR` or var/models)."""
    return TextReader(OcrModelPaths.from_model_cache())


def read_text(image: np.ndarray) -> list[TextRead]:
    """Text lines of a BGR uint8 image using the process-wide default reader."""
    return default_reader().read_text(image)
