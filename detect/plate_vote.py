"""Voting a vehicle track's plate reads into one `TrackPlate` (issue #14).

Reads of the commonest text length (weighted by confidence) vote per character position, each
character weighted by its own confidence; the winner at each position makes the best text. A
text's score is the product over positions of its characters' vote shares times the weakest
winning character's mean confidence, so one unanimous sure read scores its confidence and a
disputed position lowers the score. Alternatives are the other texts read and the best text
with one position swapped for its runner-up, ranked by the same score.
"""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np

from detect.plate_reader import PlateSighting
from detect.plate_values import TrackPlate

MAX_ALTERNATIVES = 5
CROP_JPEG_QUALITY = 90


class PlateVoter:
    """Collects one track's plate sightings; `result` votes them."""

    def __init__(self) -> None:
        self._sightings: list[PlateSighting] = []

    def __len__(self) -> int:
        return len(self._sightings)

    def add(self, sighting: PlateSighting | None) -> None:
        """Keep a sighting (None, a frame with no plate read, is ignored)."""
        if sighting is not None and sighting.read.text:
            self._sightings.append(sighting)

    def result(self) -> TrackPlate | None:
        """The voted plate, or None when nothing was read."""
        if not self._sightings:
            return None
        weight_by_length: dict[int, float] = defaultdict(float)
        for s in self._sightings:
            weight_by_length[len(s.read.text)] += sum(s.read.char_confidences)
        length = max(weight_by_length, key=lambda n: (weight_by_length[n], n))
        voters = [s for s in self._sightings if len(s.read.text) == length]
        votes: list[dict[str, float]] = [defaultdict(float) for _ in range(length)]
        counts: list[dict[str, int]] = [defaultdict(int) for _ in range(length)]
        for s in voters:
            for i, (ch, conf) in enumerate(zip(s.read.text, s.read.char_confidences, strict=True)):
                votes[i][ch] += conf
                counts[i][ch] += 1
        totals = [max(sum(v.values()), 1e-9) for v in votes]
        ranked = [sorted(v, key=lambda ch: -v[ch]) for v in votes]
        best = "".join(r[0] for r in ranked)
        sureness = min(votes[i][ch] / counts[i][ch] for i, ch in enumerate(best))

        def score(text: str) -> float:
            if len(text) != length:
                share = sum(s.read.confidence for s in self._sightings if s.read.text == text)
                return share / len(self._sightings)
            product = 1.0
            for i, ch in enumerate(text):
                product *= votes[i].get(ch, 0.0) / totals[i]
            return product * sureness

        candidates = {s.read.text for s in self._sightings}
        for i, chars in enumerate(ranked):
            if len(chars) > 1:
                candidates.add(best[:i] + chars[1] + best[i + 1 :])
        candidates.discard(best)
        alternatives = sorted(((t, score(t)) for t in candidates), key=lambda a: (-a[1], a[0]))
        best_sighting = max(
            (s for s in voters if s.read.text == best),
            key=lambda s: s.read.confidence,
            default=max(voters, key=lambda s: s.read.confidence),
        )
        return TrackPlate(
            text=best,
            confidence=round(score(best), 4),
            alternatives=tuple((t, round(p, 4)) for t, p in alternatives[:MAX_ALTERNATIVES]),
            reads=tuple(s.read for s in self._sightings),
            crop_jpeg=encode_plate_crop(best_sighting.crop),
        )


def encode_plate_crop(crop: np.ndarray) -> bytes:
    """JPEG bytes of a plate crop (b"" for an empty crop)."""
    if crop.size == 0:
        return b""
    ok, buffer = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, CROP_JPEG_QUALITY])
    return buffer.tobytes() if ok else b""
