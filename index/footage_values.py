"""Values of offline footage (issue #15): what an operator declares, the limits, who acts, the
errors the footage service raises and the offline camera id a label gives."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

EARLIEST_FOOTAGE = datetime(2000, 1, 1, tzinfo=UTC)
SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")
_NOT_ID_CHARS = re.compile(r"[^a-z0-9_.-]+")
# Queues the analysis of an offline camera's new segments [start, end) by the re-index engine,
# in the session that stores them (so stored footage is never left unqueued): (session,
# camera_id, start, end, owner) → the analysis job's id. None: stored, analysed by a later
# re-index job.
AnalysisHook = Callable[[Session, str, datetime, datetime, str], str]


class FootageError(ValueError):
    """Footage refused as given (bad size, time, file, label); the message says why."""


class FootageConflictError(FootageError):
    """The footage clashes with what is stored: a live camera's label, overlapping footage,
    an upload already finished."""


@dataclass(frozen=True)
class FootagePolicy:
    """Limits and places (Settings: footage_* and segment_duration_s).

    A long file is accepted and cut into segments like a live recording (stream copy costs
    I/O, not decoding, and the re-index engine checkpoints per segment), up to
    `max_duration_s` (24 h by default: a day's recorder export) and `max_bytes`.
    """

    work_dir: Path
    segment_duration_s: float = 10.0
    part_bytes: int = 8 * 1024 * 1024
    max_bytes: int = 64 * 1024**3
    max_duration_s: float = 24 * 3600.0
    future_slack_s: float = 300.0  # camera and server clocks disagree by minutes, not hours
    # A worker refreshes an upload it processes every stale_processing_s / 10; one silent for
    # longer died (process killed) and `complete` may take the upload over.
    stale_processing_s: float = 300.0
    process_timeout_s: float | None = None


@dataclass(frozen=True)
class FootageRequest:
    """What an operator gives to start an upload."""

    filename: str
    size_bytes: int
    camera_label: str
    sha256: str | None = None
    lat: float | None = None
    lon: float | None = None
    heading_deg: float | None = None
    start_time: datetime | None = None


@dataclass(frozen=True)
class Actor:
    """Who does it: name and role for the audit log, `owner` (a stable id, such as an API
    key's) for who may see and resume the upload."""

    name: str
    role: str
    owner: str


def offline_camera_id(label: str) -> str:
    """The camera id a label gives: lower case, runs of other characters as '-', ≤ 64."""
    slug = _NOT_ID_CHARS.sub("-", label.strip().lower()).strip("-._")[:64].rstrip("-._")
    if not slug:
        raise FootageError(f"camera_label {label!r} needs letters or digits")
    return slug
