"""Proposal and check images for the fresh vtest person labels (issue #16's held-out test split).

`python -m bench.label_vtest_fresh proposals` decodes vtest.avi sequentially, runs the float
NanoDet (full frame + 2x2 tiles, score 0.3, person only) on the frames to label and an OpenCV
MOG2 background subtractor over every frame in order, writes the proposals to
/tmp/vtest_label/proposals.json (with "R": the detector boxes snapped to a median background,
the starting point of the hand tightening) and draws them, numbered (D = detector, M = moving
blob), on a 2x full frame and 4x crops of the far band, each with a source-pixel grid.
`python -m bench.label_vtest_fresh final` draws bench/data/vtest_persons_fresh.json (persons
green, ignore boxes red) on 2x full frames and 3x per-person crops for the last look.

The labels are the hand-checked JSON, not this script's output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from sample_streams.synthetic import VTEST_PATH

ROOT = Path(__file__).resolve().parents[1]
OLD_LABELS = (ROOT / "tests/data/vtest_persons.json", ROOT / "tests/data/vtest_tracks.json")
FRESH = ROOT / "bench/data/vtest_persons_fresh.json"
OUT = Path("/tmp/vtest_label")
FAR_BAND = (20, 200)  # source rows of the far (small-person) band drawn at 4x
Box = list[int]


def labelled_before() -> set[int]:
    """Frame indices already in the old person and track label files."""
    persons = json.loads(OLD_LABELS[0].read_text())
    tracks = json.loads(OLD_LABELS[1].read_text())
    done = {int(f["frame_index"]) for f in persons["frames"]}
    done |= {int(b[0]) for t in tracks["tracks"] for b in t["boxes"]}
    w = tracks["window"]
    done |= set(range(w["first_frame"], w["last_frame"] + 1, w["frame_step"]))
    return done


def frames_to_label() -> list[int]:
    """Every 12th frame from 204 to 792, minus frames labelled before."""
    return [i for i in range(204, 793, 12) if i not in labelled_before()]


def read_frames(
    wanted: list[int],
) -> tuple[dict[int, np.ndarray], dict[int, list[Box]], np.ndarray]:
    """Wanted frames, their MOG2 moving-blob boxes (subtractor run over all frames in order) and
    the median of every 3rd frame (a people-free background: nobody stands still that long)."""
    mog = cv2.createBackgroundSubtractorMOG2(history=300, varThreshold=16, detectShadows=True)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    cap = cv2.VideoCapture(str(VTEST_PATH))
    frames: dict[int, np.ndarray] = {}
    blobs: dict[int, list[Box]] = {}
    samples: list[np.ndarray] = []
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        mask = mog.apply(frame)
        if index % 3 == 0:
            samples.append(frame)
        if index in wanted:
            fg = cv2.morphologyEx((mask > 200).astype(np.uint8), cv2.MORPH_OPEN, kernel)
            fg = cv2.dilate(fg, kernel, iterations=2)
            n, _, stats, _ = cv2.connectedComponentsWithStats(fg)
            boxes = [
                [int(x), int(y), int(x + w), int(y + h)]
                for x, y, w, h, area in stats[1:n]
                if area >= 60 and h >= 12
            ]
            frames[index], blobs[index] = frame, boxes
        index += 1
    return frames, blobs, np.median(np.stack(samples), axis=0).astype(np.int16)


def snap(frame: np.ndarray, background: np.ndarray, box: Box) -> Box:
    """`box` moved to the extent of the foreground (channel difference > 40 from `background`,
    >= 3 px per row/column) inside it plus 3 px; an edge grows by at most 2 px, and an edge that
    would move by more than 30 % of the width (15 % of the height) is kept."""
    x0, y0, x1, y1 = box
    bx0, by0, bx1, by1 = max(0, x0 - 3), max(0, y0 - 3), min(768, x1 + 3), min(576, y1 + 3)
    diff = np.abs(frame[by0:by1, bx0:bx1].astype(np.int16) - background[by0:by1, bx0:bx1])
    fg = cv2.morphologyEx((diff.max(axis=2) > 40).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2)))
    cols, rows = np.nonzero(fg.sum(axis=0) >= 3)[0], np.nonzero(fg.sum(axis=1) >= 3)[0]
    if not len(cols) or not len(rows):
        return box
    found = (bx0 + cols[0], by0 + rows[0], bx0 + cols[-1] + 1, by0 + rows[-1] + 1)
    limit = [int(max(found[0], x0 - 2)), int(max(found[1], y0 - 2))]
    limit += [int(min(found[2], x1 + 2)), int(min(found[3], y1 + 2))]
    reach = [0.3 * (x1 - x0), 0.15 * (y1 - y0)] * 2
    return [limit[k] if abs(limit[k] - box[k]) <= reach[k] else box[k] for k in range(4)]


def detector_boxes(frames: list[np.ndarray]) -> list[list[Box]]:
    """Float NanoDet person boxes, full frame + 2x2 tiles (overlap 0.2), score 0.3."""
    from detect.detector import NanoDetDetector, TiledDetector, TileGrid
    from models.build import ensure_models

    model = ensure_models(None, ["nanodet"])["nanodet"]
    base = NanoDetDetector(model, score_threshold=0.3, classes=("person",), intra_op_threads=1)
    tiled = TiledDetector(base, TileGrid(2, 2, 0.2))
    out = []
    for frame in frames:
        dets = tiled.detect([frame])[0]
        out.append([[round(float(v)) for v in box] for box in dets.xyxy])
    return out


def grid(img: np.ndarray, scale: int, x0: int, y0: int, step: int = 10) -> None:
    """Source-pixel ticks every `step` px along the edges, labels every 5 ticks (in place)."""
    h, w = img.shape[:2]
    for sx in range((x0 // step + 1) * step, x0 + w // scale, step):
        px, long = (sx - x0) * scale, sx % (5 * step) == 0
        cv2.line(img, (px, 0), (px, 14 if long else 6), (255, 255, 255), 1)
        cv2.line(img, (px, h - 1), (px, h - (14 if long else 6)), (255, 255, 255), 1)
        if long:
            cv2.putText(img, str(sx), (px + 2, 26), 0, 0.45, (255, 255, 255), 1)
    for sy in range((y0 // step + 1) * step, y0 + h // scale, step):
        py, long = (sy - y0) * scale, sy % (5 * step) == 0
        cv2.line(img, (0, py), (14 if long else 6, py), (255, 255, 255), 1)
        cv2.line(img, (w - 1, py), (w - (14 if long else 6), py), (255, 255, 255), 1)
        if long:
            cv2.putText(img, str(sy), (16, py + 4), 0, 0.45, (255, 255, 255), 1)


def draw(
    frame: np.ndarray,
    layers: list[tuple[str, list[Box], tuple[int, int, int]]],
    scale: int,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """`frame` (or its `crop` x0,y0,x1,y1) scaled `scale`x with numbered boxes and a grid."""
    x0, y0, x1, y1 = crop or (0, 0, frame.shape[1], frame.shape[0])
    img = cv2.resize(frame[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for tag, boxes, colour in layers:
        for i, (bx0, by0, bx1, by1) in enumerate(boxes):
            # Edges drawn just outside the box's pixels, so the enclosed pixels stay visible.
            p0 = ((bx0 - x0) * scale - 1, (by0 - y0) * scale - 1)
            p1 = ((bx1 - x0) * scale, (by1 - y0) * scale)
            cv2.rectangle(img, p0, p1, colour, 1)
            label_y = p0[1] - 3 if tag != "M" else p1[1] + 12
            cv2.putText(img, f"{tag}{i}", (p0[0], label_y), 0, 0.45, colour, 1)
    grid(img, scale, x0, y0)
    return img


def proposals() -> None:
    """Compute proposals for the frames to label and write the check images."""
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = frames_to_label()
    frames, blobs, background = read_frames(wanted)
    dets = detector_boxes([frames[i] for i in wanted])
    record = {
        str(i): {"D": d, "M": blobs[i], "R": [snap(frames[i], background, b) for b in d]}
        for i, d in zip(wanted, dets, strict=True)
    }
    (OUT / "proposals.json").write_text(json.dumps(record))
    for i, d in zip(wanted, dets, strict=True):
        layers = [("D", d, (0, 255, 0)), ("M", blobs[i], (255, 0, 255))]
        cv2.imwrite(str(OUT / f"f{i:03d}_full2x.png"), draw(frames[i], layers, 2))
        top, bottom = FAR_BAND
        halves = [(0, top, 392, bottom), (376, top, 768, bottom)]
        crops = [draw(frames[i], layers, 4, c) for c in halves]
        sheet = np.vstack([crops[0], np.zeros((8, crops[0].shape[1], 3), np.uint8), crops[1]])
        cv2.imwrite(str(OUT / f"f{i:03d}_far4x.png"), sheet)
    print(f"{len(wanted)} frames: {wanted}")


def final() -> None:
    """Draw the checked labels for the last look: 2x frame and 3x per-person crops."""
    labels = json.loads(FRESH.read_text())["frames"]
    wanted = [int(f["frame_index"]) for f in labels]
    frames, _, _ = read_frames(wanted)
    for f in labels:
        i = int(f["frame_index"])
        layers = [("P", f["persons_xyxy"], (0, 255, 0)), ("I", f["ignore_xyxy"], (0, 0, 255))]
        cv2.imwrite(str(OUT / f"f{i:03d}_final2x.png"), draw(frames[i], layers, 2))
        tiles = []
        for x0, y0, x1, y1 in f["persons_xyxy"]:
            crop = (max(0, x0 - 8), max(0, y0 - 8), min(768, x1 + 8), min(576, y1 + 8))
            tiles.append(draw(frames[i], [("", [[x0, y0, x1, y1]], (0, 255, 0))], 3, crop))
        if tiles:
            height = max(t.shape[0] for t in tiles)
            padded = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 6, 0) for t in tiles]
            cv2.imwrite(str(OUT / f"f{i:03d}_crops3x.png"), np.hstack(padded))


if __name__ == "__main__":
    {"proposals": proposals, "final": final}[sys.argv[1] if len(sys.argv) > 1 else "proposals"]()
