"""Consistency of catalog, object storage and vector index (issue #17): what a retention run
must never leave behind, counted (`skynet retention check`, bench/retention.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from index.catalog import SessionFactory
from index.catalog.retention_plan import (
    embedded_track_ids,
    referenced_object_keys,
    tracks_with_missing_clip,
)
from index.track_indexer import context_key
from index.vectors import VectorIndex
from storage.objectstore import ObjectStore

SAMPLE = 5  # ids or keys named per kind of orphan
# Objects other parts of the product keep track of (export bundles in their jobs, the parts of
# uploads still arriving): not retention's to judge. Stored footage originals are (their
# uploads name them: retention_footage.py).
OTHER_OWNERS = ("exports/", "footage/uploads/")


@dataclass(frozen=True)
class Orphans:
    """Counts (and a few examples) of each kind of inconsistency; all 0 when consistent."""

    vectors_without_track: int
    tracks_missing_clip_unflagged: int
    rows_missing_objects: int
    objects_without_row: int
    examples: dict[str, list[str]]

    @property
    def total(self) -> int:
        return (
            self.vectors_without_track
            + self.tracks_missing_clip_unflagged
            + self.rows_missing_objects
            + self.objects_without_row
        )

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "total": self.total}


def check_consistency(
    sessions: SessionFactory, store: ObjectStore, vectors: VectorIndex | None
) -> Orphans:
    """Count vectors without a track, tracks whose clip is gone without the flag saying so,
    catalog rows naming a missing object, and stored objects no row names (a track's context
    frame counts as named by its thumbnail's row; export bundles and the parts of uploads
    are left to their owners)."""
    with sessions() as session:
        named = referenced_object_keys(session)
        missing_clip = tracks_with_missing_clip(session)
        in_catalog = (
            np.array(embedded_track_ids(session, vectors.embedding_version), np.int64)
            if vectors is not None
            else np.zeros(0, np.int64)
        )
    stray_vectors = (
        np.setdiff1d(vectors.track_ids(), in_catalog) if vectors is not None else in_catalog
    )
    stored = {obj.key for obj in store.list() if not obj.key.startswith(OTHER_OWNERS)}
    derived = {context_key(key) for key, owner in named.items() if owner.startswith("track:")}
    missing = sorted(key for key in named if key not in stored)
    unnamed = sorted(stored - named.keys() - derived)
    return Orphans(
        vectors_without_track=len(stray_vectors),
        tracks_missing_clip_unflagged=len(missing_clip),
        rows_missing_objects=len(missing),
        objects_without_row=len(unnamed),
        examples={
            "vectors_without_track": [str(i) for i in stray_vectors[:SAMPLE]],
            "tracks_missing_clip_unflagged": [str(i) for i in missing_clip[:SAMPLE]],
            "rows_missing_objects": [f"{named[k]} {k}" for k in missing[:SAMPLE]],
            "objects_without_row": unnamed[:SAMPLE],
        },
    )
