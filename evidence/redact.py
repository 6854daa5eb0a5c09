"""Bystander redaction: blur every person, face and plate in a frame except the selected subjects.

Per frame: the detector finds persons and vehicles, CenterFace finds faces, and each selected
subject is where its stored trajectory puts it at that moment (`SubjectPath`, interpolated and
scaled to the clip's pixels). A detection of the subject's kind that overlaps the subject's box
(IoU ≥ `SUBJECT_IOU`) is the subject and stays sharp; everything else is blurred:

- bystander persons: the whole box (face, clothing, gait: all identify);
- faces: every face whose centre is not inside a kept subject person;
- bystander vehicles: their lower part, from `PLATE_ZONE_TOP` of the height down — where plates
  sit on fronts, rears and motorcycles (the plate reader's own search area). The plate
  localiser finds only about two thirds of plates (bench/results/plates.json, localisation
  0.66) and costs an OCR pass per vehicle per frame; a blurred bumper costs nothing.

Each frame's regions are also blurred in the frame before and the one after (`blurred` over a
three-frame window, evidence/bundle.py): a detector misses a person for a frame now and then,
seldom for three in a row, and at 10-25 fps a region moves a few pixels in a frame.

Where the subject's path is unknown (before its first or after its last trajectory point by more
than `PATH_GAP_S`) nothing is kept: the frame is redacted whole, subject included. Where a
bystander overlaps the subject the blur wins: a leak of a bystander cannot be undone, a partly
blurred subject is still in the sealed original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from detect.detections import PERSON_CLASSES, VEHICLE_CLASSES, Detections
from detect.detector import BatchDetector
from detect.nms import box_iou
from evidence.faces import FaceDetector

SUBJECT_IOU = 0.3
PATH_GAP_S = 1.0  # a subject is placed at most this far beyond its trajectory's ends
PLATE_ZONE_TOP = 0.3  # detect/plate_reader.py LOWER_START: plates sit below 30 % of the height
BOX_MARGIN = 0.1  # blurred boxes grow by this share of their size on every side
MOSAIC_CELL_PX = 10  # a blurred region keeps one colour per cell this size, then is smoothed


def kind_of(class_name: str) -> str | None:
    """ "person", "vehicle" or None (not redacted)."""
    if class_name in PERSON_CLASSES:
        return "person"
    if class_name in VEHICLE_CLASSES:
        return "vehicle"
    return None


@dataclass(frozen=True)
class SubjectPath:
    """Where one selected subject is: trajectory rows [t_s, x1, y1, x2, y2] in clip pixels,
    t_s counted from `start_at`."""

    track_id: int
    kind: str
    start_at: datetime
    points: np.ndarray = field(repr=False)  # K×5 float64, sorted by t_s

    @classmethod
    def from_trajectory(
        cls,
        track_id: int,
        class_name: str,
        start_at: datetime,
        trajectory: Sequence[Sequence[float]],
        scale_xy: tuple[float, float],
    ) -> SubjectPath:
        """The path of a stored track whose trajectory was measured in analysed frames that
        `scale_xy` maps to clip pixels (sub stream → recorded main stream)."""
        kind = kind_of(class_name) or "other"
        points = np.asarray(trajectory, np.float64).reshape(-1, 5)
        points = points[np.argsort(points[:, 0], kind="stable")]
        points[:, 1:] *= np.array([scale_xy[0], scale_xy[1], scale_xy[0], scale_xy[1]])
        return cls(track_id, kind, start_at, points)

    def box_at(self, at: datetime) -> np.ndarray | None:
        """The subject's box at `at` (linear between trajectory points), None off its path."""
        if len(self.points) == 0:
            return None
        t_s = (at - self.start_at).total_seconds()
        times = self.points[:, 0]
        if t_s < times[0] - PATH_GAP_S or t_s > times[-1] + PATH_GAP_S:
            return None
        return np.array([np.interp(t_s, times, self.points[:, i]) for i in range(1, 5)])


@dataclass(frozen=True)
class FrameRedaction:
    """What one frame's redaction did: boxes blurred by kind, subjects found sharp."""

    persons: int
    faces: int
    vehicles: int
    subjects_kept: int


Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in whole pixels, inside the frame


def grow(box: np.ndarray, width_px: int, height_px: int, margin: float = BOX_MARGIN) -> Region:
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(0, int(x1 - dx)),
        max(0, int(y1 - dy)),
        min(width_px, int(np.ceil(x2 + dx))),
        min(height_px, int(np.ceil(y2 + dy))),
    )


def blur_region(frame: np.ndarray, region: Region) -> None:
    """Mosaic then smooth `region` (x1, y1, x2, y2) of `frame` in place: no detail smaller than
    a cell survives, so faces and plate characters cannot be read back."""
    x1, y1, x2, y2 = region
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    roi = frame[y1:y2, x1:x2]
    cells = (max(1, (x2 - x1) // MOSAIC_CELL_PX), max(1, (y2 - y1) // MOSAIC_CELL_PX))
    small = cv2.resize(roi, cells, interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    frame[y1:y2, x1:x2] = cv2.GaussianBlur(mosaic, (0, 0), MOSAIC_CELL_PX / 2)


def subject_matches(
    detections: Detections, kinds: list[str | None], subjects: Sequence[tuple[str, np.ndarray]]
) -> set[int]:
    """Indices of the detections that are subjects: per subject, the detection of its kind with
    the highest IoU with its box, if at least SUBJECT_IOU."""
    kept: set[int] = set()
    for kind, box in subjects:
        candidates = [i for i, k in enumerate(kinds) if k == kind and i not in kept]
        if not candidates:
            continue
        ious = box_iou(box[None], detections.xyxy[candidates])[0]
        best = int(np.argmax(ious))
        if ious[best] >= SUBJECT_IOU:
            kept.add(candidates[best])
    return kept


class Redactor:
    """Finds what to blur in BGR frames with a detector (persons, vehicles) and a face
    detector."""

    def __init__(self, detector: BatchDetector, faces: FaceDetector) -> None:
        self._detector = detector
        self._faces = faces

    def regions(
        self, frame: np.ndarray, subjects: Sequence[tuple[str, np.ndarray]]
    ) -> tuple[list[Region], FrameRedaction]:
        """The regions of `frame` to blur; `subjects` are (kind, xyxy box) of the selected
        subjects in this frame (only those whose path covers it)."""
        height_px, width_px = frame.shape[:2]
        detections = self._detector.detect([frame])[0]
        kinds = [kind_of(name) for name in detections.class_name]
        kept = subject_matches(detections, kinds, subjects)
        kept_persons = [detections.xyxy[i] for i in kept if kinds[i] == "person"]
        kept_persons += [box for kind, box in subjects if kind == "person"]
        face_boxes, _ = self._faces.detect(frame)
        regions: list[Region] = []
        persons = vehicles = faces = 0
        for i, kind in enumerate(kinds):
            if kind is None or i in kept:
                continue
            box = detections.xyxy[i]
            if kind == "vehicle":
                top = box[1] + (box[3] - box[1]) * PLATE_ZONE_TOP
                box = np.array([box[0], top, box[2], box[3]])
                vehicles += 1
            else:
                persons += 1
            regions.append(grow(box, width_px, height_px))
        for face in face_boxes:
            centre_x, centre_y = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
            if any(b[0] <= centre_x <= b[2] and b[1] <= centre_y <= b[3] for b in kept_persons):
                continue
            regions.append(grow(face, width_px, height_px, margin=0.25))
            faces += 1
        return regions, FrameRedaction(persons, faces, vehicles, len(kept))


def blurred(frame: np.ndarray, regions: Sequence[Region]) -> np.ndarray:
    """A copy of `frame` with every region blurred."""
    out = frame.copy()
    for region in regions:
        blur_region(out, region)
    return out
