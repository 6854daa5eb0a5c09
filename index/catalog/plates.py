"""Catalog repository for licence plates (issue #14): a vehicle track's plate (one row per
track, table `plates`), and plate search over the tracks passing a `TrackQuery`.

Exact, prefix, contains and wildcard patterns are matched in SQL (an indexed equality or
LIKE with `\\` escaping, so a stray `%` or `_` is a literal even if a pattern ever carries
one); fuzzy patterns score every plate passing the filters in Python with detect's
`plate_distance`, over the voted text and its alternatives, so both dialects rank alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from detect.plate_match import (
    ANY_CHAR,
    ANY_RUN,
    PlatePattern,
    PlateScore,
    explain_distance,
    score_plate,
    score_plate_within,
)
from detect.plate_values import TrackPlate
from index.catalog.rows import PlateRow, TrackRow, insert_ignoring_conflict, utc_now
from index.catalog.tracks import live_only, track_filter
from index.catalog.values import TrackQuery

MAX_FUZZY_CANDIDATES = 200_000  # plates scored per fuzzy search (newest first)
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class StoredPlate:
    """A track's plate as stored: `alternatives` ranked (text, score); `reads` the evidence,
    each {"text", "confidence", "at" (ISO), "box": [x1, y1, x2, y2] source pixels}."""

    track_id: int
    text: str
    confidence: float
    plate_format: str
    colour: str
    alternatives: tuple[tuple[str, float], ...]
    reads: tuple[dict[str, Any], ...]
    crop_key: str | None


@dataclass(frozen=True)
class PlateHit:
    """A plate that matched a search: `distance` and `matched_text` (its text or an
    alternative) for fuzzy searches, `why` in words."""

    plate: StoredPlate
    distance: float
    matched_text: str
    why: str


@dataclass(frozen=True)
class PlateHits:
    """One page of plate hits, and how many matched in all."""

    hits: list[PlateHit]
    total: int


def _stored_plate(row: PlateRow) -> StoredPlate:
    return StoredPlate(
        track_id=int(row.track_id),
        text=row.text,
        confidence=float(row.confidence),
        plate_format=row.plate_format,
        colour=row.colour,
        alternatives=tuple((str(text), float(score)) for text, score in row.alternatives or ()),
        reads=tuple(dict(read) for read in row.reads or ()),
        crop_key=row.crop_key,
    )


def _plate_values(track_id: int, plate: TrackPlate, crop_key: str | None) -> dict[str, Any]:
    """The row of `plate`: format and colour from the reads that agree with the voted text
    (else the first read; a plate without reads is generic and of unknown colour)."""
    agreeing = [read for read in plate.reads if read.text == plate.text] or list(plate.reads)
    best = max(agreeing, key=lambda read: read.confidence, default=None)
    return {
        "track_id": int(track_id),
        "text": plate.text,
        "confidence": float(plate.confidence),
        "plate_format": "generic" if best is None else best.plate_format,
        "colour": "unknown" if best is None else best.colour,
        "alternatives": [[text, float(score)] for text, score in plate.alternatives],
        "reads": [
            {
                "text": read.text,
                "confidence": float(read.confidence),
                "at": read.at.isoformat(),
                "box": [float(v) for v in read.box_xyxy_px],
            }
            for read in plate.reads
        ],
        "crop_key": crop_key,
        "created_at": utc_now(),
    }


def store_plates(session: Session, plates: Sequence[tuple[int, TrackPlate, str | None]]) -> None:
    """Store (track id, plate, crop object key) rows; a track that already has a plate keeps
    it (idempotent like add_tracks: a re-ingest writes nothing)."""
    if not plates:
        return
    statement = insert_ignoring_conflict(session, PlateRow).on_conflict_do_nothing(
        index_elements=["track_id"]
    )
    session.execute(statement, [_plate_values(i, plate, key) for i, plate, key in plates])
    session.flush()


def store_plate(
    session: Session, track_id: int, plate: TrackPlate, crop_key: str | None = None
) -> None:
    """Store one track's plate (see store_plates)."""
    store_plates(session, [(track_id, plate, crop_key)])


def get_plate(session: Session, track_id: int) -> StoredPlate | None:
    row = session.get(PlateRow, int(track_id))
    return None if row is None else _stored_plate(row)


def plates_by_track_ids(session: Session, track_ids: Iterable[int]) -> dict[int, StoredPlate]:
    """The plates of these tracks (tracks without one are left out)."""
    wanted = sorted({int(i) for i in track_ids})
    found: dict[int, StoredPlate] = {}
    for offset in range(0, len(wanted), 5000):
        chunk = wanted[offset : offset + 5000]
        for row in session.scalars(select(PlateRow).where(PlateRow.track_id.in_(chunk))):
            found[int(row.track_id)] = _stored_plate(row)
    return found


# ---- search ---------------------------------------------------------------------------------


def escape_like(text: str) -> str:
    """`text` with LIKE's special characters (and the escape character) escaped."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return text


def like_pattern(pattern: PlatePattern) -> str:
    """The LIKE pattern of a prefix, contains or wildcard pattern (`*` → `%`, `?` → `_`)."""
    if pattern.mode == "prefix":
        return escape_like(pattern.text) + "%"
    if pattern.mode == "contains":
        return "%" + escape_like(pattern.text) + "%"
    if pattern.mode == "wildcard":
        return "".join(
            "%" if c == ANY_RUN else "_" if c == ANY_CHAR else escape_like(c) for c in pattern.text
        )
    raise ValueError(f"mode {pattern.mode!r} has no LIKE pattern")


def _text_condition(pattern: PlatePattern) -> ColumnElement[bool]:
    if pattern.mode == "exact":
        return PlateRow.text == pattern.text
    return PlateRow.text.like(like_pattern(pattern), escape=LIKE_ESCAPE)


def _candidates(session: Session, statement: Select[Any], query: TrackQuery) -> Select[Any]:
    """`statement` over plates joined to their tracks, cut to the live version's tracks (issue
    #15: one version's tracks per search) passing `query`."""
    joined = statement.join(TrackRow, TrackRow.id == PlateRow.track_id)
    return live_only(session, track_filter(joined, query))


def _passes_attributes(query: TrackQuery, attributes: dict[str, Any] | None) -> bool:
    return query.attributes.is_empty() or query.attributes.match(attributes or {}) is not None


def search_plates(
    session: Session,
    pattern: PlatePattern,
    query: TrackQuery,
    top_k: int,
    offset: int = 0,
) -> PlateHits:
    """Plates matching `pattern` on the tracks passing `query`: exact/prefix/contains/wildcard
    newest first; fuzzy nearest first (newest first among equals), at most
    `MAX_FUZZY_CANDIDATES` newest plates scored."""
    if query.matches_nothing():
        return PlateHits([], 0)
    columns = select(PlateRow, TrackRow.attributes).order_by(
        TrackRow.start_at.desc(), PlateRow.track_id.desc()
    )
    if pattern.mode == "fuzzy":
        statement = _candidates(session, columns, query).limit(MAX_FUZZY_CANDIDATES)
        scored: list[tuple[PlateScore, PlateRow]] = []
        for row, attributes in session.execute(statement.execution_options(yield_per=5000)):
            if not _passes_attributes(query, attributes):
                continue
            alternatives = [str(text) for text, _ in row.alternatives or ()]
            score = score_plate_within(pattern.text, row.text, alternatives, pattern.max_distance)
            if score is not None:
                scored.append((score, row))
        scored.sort(key=lambda item: item[0].distance)  # stable: newest first among equals
        page = scored[offset : offset + top_k]
        return PlateHits([plate_hit(pattern, _stored_plate(row)) for _, row in page], len(scored))
    statement = _candidates(session, columns.where(_text_condition(pattern)), query)
    matched = [
        row
        for row, attributes in session.execute(statement)
        if _passes_attributes(query, attributes) and pattern.matches(row.text)
    ]
    page_rows = matched[offset : offset + top_k]
    return PlateHits([plate_hit(pattern, _stored_plate(row)) for row in page_rows], len(matched))


def plate_hit(pattern: PlatePattern, plate: StoredPlate) -> PlateHit:
    """How `plate` matches `pattern` (pure): fuzzy distance over its text and alternatives,
    and the match in words."""
    if pattern.mode != "fuzzy":
        return PlateHit(plate, 0.0, plate.text, f"{pattern.mode} match of {pattern.text!r}")
    alternatives = [text for text, _ in plate.alternatives]
    score = score_plate(pattern.text, plate.text, alternatives)
    source = "alternative read " if score.is_alternative else ""
    detail = explain_distance(pattern.text, score.matched_text)
    why = f"{source}{score.matched_text!r} at distance {score.distance:g}: {detail}"
    return PlateHit(plate, score.distance, score.matched_text, why)


def count_plates(session: Session, query: TrackQuery) -> int:
    """How many plates the tracks passing `query` (but its attributes) carry."""
    if query.matches_nothing():
        return 0
    statement = _candidates(session, select(func.count(PlateRow.track_id)), query)
    return int(session.scalar(statement) or 0)
