"""How a watchlist entry matches a freshly indexed vehicle track (issue #14); pure, no SQL.

Plate entries use the plate patterns and the confusion-weighted distance of
detect/plate_match.py (the same ones plate search uses) against the track's voted text and its
ranked alternatives (a lower-ranked read may be the true plate); exemplar entries compare the
track's appearance embedding with the exemplar's (both unit length: the dot product is the
cosine) when both come from the same embedding version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

import numpy as np

from detect.plate_match import PlateMatchMode, PlatePattern, score_plate
from detect.track_record import TrackRecord

if TYPE_CHECKING:
    from index.catalog.watchlist_rows import WatchlistEntryRow


@dataclass(frozen=True)
class WatchedTrack:
    """What matching needs of a stored vehicle track."""

    track_id: int
    camera_id: str
    at: datetime  # the best shot: when the vehicle (and its plate) was seen best
    plate_text: str | None
    plate_alternatives: tuple[str, ...]
    embedding: np.ndarray | None
    embedding_version: str | None

    @classmethod
    def from_record(cls, track_id: int, record: TrackRecord) -> WatchedTrack:
        plate = record.plate
        embedding = None if record.embedding is None else np.asarray(record.embedding, "<f4")
        return cls(
            track_id=track_id,
            camera_id=record.camera_id,
            at=record.best_shot_at,
            plate_text=plate.text if plate is not None and plate.text else None,
            plate_alternatives=() if plate is None else tuple(t for t, _ in plate.alternatives),
            embedding=embedding,
            embedding_version=record.embedding_version,
        )


@dataclass(frozen=True)
class EntryTarget:
    """An active entry, ready to compare: its plate pattern or its unit embedding."""

    entry_id: int
    kind: str
    plate: PlatePattern | None = None
    embedding: np.ndarray | None = None
    embedding_version: str | None = None
    min_similarity: float = 1.0

    @classmethod
    def from_row(cls, row: WatchlistEntryRow) -> EntryTarget:
        if row.kind == "plate":
            return cls(row.id, row.kind, plate=stored_pattern(row))
        vector = None if row.embedding is None else np.frombuffer(row.embedding, dtype="<f4")
        return cls(
            row.id, row.kind, embedding=vector, embedding_version=row.embedding_version,
            min_similarity=row.min_similarity or 1.0,
        )  # fmt: skip


def stored_pattern(row: WatchlistEntryRow) -> PlatePattern | None:
    """The plate pattern a stored entry holds (None for exemplar entries)."""
    if row.plate_pattern is None or row.plate_match is None:
        return None
    mode = cast(PlateMatchMode, row.plate_match)
    return PlatePattern(row.plate_pattern, mode, row.max_distance or 0.0)


def plate_match(pattern: PlatePattern, track: WatchedTrack) -> tuple[str, float] | None:
    """(matched text, score in (0, 1]) when the track's plate text or an alternative matches;
    exact and wildcard matches score 1, fuzzy ones 1 - distance / pattern length."""
    if track.plate_text is None:
        return None
    texts = (track.plate_text, *track.plate_alternatives)
    if pattern.mode != "fuzzy":
        matched = next((text for text in texts if pattern.matches(text)), None)
        return None if matched is None else (matched, 1.0)
    score = score_plate(pattern.text, track.plate_text, track.plate_alternatives)
    if score.distance > pattern.max_distance:
        return None
    return score.matched_text, max(0.0, 1.0 - score.distance / max(len(pattern.text), 1))


def exemplar_match(target: EntryTarget, track: WatchedTrack) -> float | None:
    """The cosine similarity when it reaches the entry's threshold (same embedding version)."""
    if target.embedding is None or track.embedding is None:
        return None
    if target.embedding_version != track.embedding_version:
        return None
    if target.embedding.shape != track.embedding.shape:
        return None
    similarity = float(np.dot(target.embedding, track.embedding))
    return similarity if similarity >= target.min_similarity else None


def match_entry(target: EntryTarget, track: WatchedTrack) -> tuple[str | None, float] | None:
    """(plate text to report, score) when `track` matches the entry, else None."""
    if target.plate is not None:
        return plate_match(target.plate, track)
    similarity = exemplar_match(target, track)
    return None if similarity is None else (track.plate_text, similarity)
