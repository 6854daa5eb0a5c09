"""Request and response bodies of the re-index endpoints (issue #15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from index.catalog import IndexVersion
from index.reindex_jobs import MAX_PRIORITY, ReindexProgress


class ReindexIn(BaseModel):
    """Re-index cameras' recorded segments over [start, end) with a detector and embedder."""

    camera_ids: list[str] = Field(min_length=1, max_length=1000, examples=[["cam1", "cam2"]])
    start: datetime = Field(examples=["2026-12-01T08:00:00Z"])
    end: datetime = Field(examples=["2026-12-01T09:00:00Z"])
    detector: str = Field(examples=["nanodet-int8"], max_length=500)
    embedder: str = Field(examples=["mobilenetv2-embedder-int8"], max_length=200)
    priority: int = Field(default=0, ge=0, le=MAX_PRIORITY, description="higher runs first")
    switch: bool = Field(default=True, description="make the new version live when done")


class SkippedSegment(BaseModel):
    object_key: str
    reason: str


class ReindexJobOut(BaseModel):
    """A re-index job: state, segments done / skipped / total, speed, ETA, skipped segments."""

    id: str
    state: str
    progress: float
    request: dict[str, Any]
    segments_total: int
    segments_done: int
    segments_skipped: int
    footage_s: float
    footage_done_s: float
    tracks: int
    footage_per_wall_s: float | None
    eta_s: float | None
    result: dict[str, Any] | None
    error: str | None
    skipped: list[SkippedSegment]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, progress: ReindexProgress) -> ReindexJobOut:
        job, units = progress.job, progress.units
        return cls(
            id=job.id,
            state=job.state,
            progress=job.progress,
            request=dict(job.params),
            segments_total=units.total,
            segments_done=units.done,
            segments_skipped=units.skipped,
            footage_s=units.footage_s,
            footage_done_s=units.finished_footage_s,
            tracks=units.tracks,
            footage_per_wall_s=progress.footage_per_wall_s,
            eta_s=progress.eta_s,
            result=None if job.result is None else dict(job.result),
            error=job.error,
            skipped=[SkippedSegment(object_key=k, reason=r) for k, r in progress.skipped],
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class IndexVersionOut(BaseModel):
    version: str
    state: str
    detector: str
    embedder: str
    dim: int
    job_id: str | None
    created_at: datetime
    switched_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, version: IndexVersion) -> IndexVersionOut:
        return cls(
            version=version.version, state=version.state, detector=version.detector,
            embedder=version.embedder, dim=version.dim, job_id=version.job_id,
            created_at=version.created_at, switched_at=version.switched_at,
            retired_at=version.retired_at,
        )  # fmt: skip


class ModelChoiceOut(BaseModel):
    """A detector or embedder name a re-index job may give (`argument`: what follows `name:`
    when the name needs one, e.g. `ultralytics:PATH`)."""

    name: str
    summary: str = ""
    argument: str | None = None
    live: bool = Field(default=False, description="what the live index version was built with")


class ReindexChoicesOut(BaseModel):
    """What the start-a-re-index form offers: the registry's detectors, the embedders, and the
    models of every index version the catalog knows (a learned re-ID metric's among them)."""

    detectors: list[ModelChoiceOut]
    embedders: list[ModelChoiceOut]
    max_priority: int
