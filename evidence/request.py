"""An export request and what building one needs: the request (validated, stored as a job's
params), its errors, and the site's kit (signing key, face model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from detect.detector import BatchDetector
from evidence.faces import FaceDetector
from evidence.redact import Redactor
from storage.ed25519 import Signer

EXPORT_JOB_KIND = "export"
DEFAULT_PAD_S = 2.0
MAX_TRACKS = 50


class ExportError(ValueError):
    """An export that cannot be built as asked (unknown track, no recording, altered segment)."""


@dataclass
class EvidenceKit:
    """What building exports needs besides catalog and store: the site's signing key and the
    models directory the face detector is rewritten into (loaded on first use)."""

    signer: Signer
    models_dir: Path
    _faces: FaceDetector | None = field(default=None, init=False, repr=False)

    @classmethod
    def for_site(cls, key_path: Path, models_dir: Path) -> EvidenceKit:
        """The kit of a deployment: its Ed25519 key (made on first use, see storage/ed25519)."""
        return cls(Signer.load_or_create(key_path), models_dir)

    def redactor(self, detector: BatchDetector) -> Redactor:
        """A redactor on `detector` (persons, vehicles) and the shared face detector."""
        if self._faces is None:
            self._faces = FaceDetector.from_models_dir(self.models_dir)
        return Redactor(detector, self._faces)


@dataclass(frozen=True)
class ExportRequest:
    """What to export and on whose authority (`requested_by` is audited and in custody.json)."""

    case_id: str
    track_ids: tuple[int, ...]
    purpose: str
    requested_by: str
    role: str
    requested_at: datetime
    include_originals: bool = False
    pad_s: float = DEFAULT_PAD_S

    def __post_init__(self) -> None:
        if not self.track_ids:
            raise ExportError("track_ids: name at least one track")
        if len(self.track_ids) > MAX_TRACKS:
            raise ExportError(f"track_ids: at most {MAX_TRACKS} tracks per export")
        if len(set(self.track_ids)) != len(self.track_ids):
            raise ExportError("track_ids: a track is named twice")
        if not self.purpose.strip():
            raise ExportError("purpose: must not be blank")
        if not 0.0 <= self.pad_s <= 60.0:
            raise ExportError(f"pad_s {self.pad_s} not in [0, 60]")

    def as_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "track_ids": list(self.track_ids),
            "purpose": self.purpose,
            "requested_by": self.requested_by,
            "role": self.role,
            "requested_at": self.requested_at.isoformat(),
            "include_originals": self.include_originals,
            "pad_s": self.pad_s,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ExportRequest:
        return cls(
            case_id=str(document["case_id"]),
            track_ids=tuple(int(t) for t in document["track_ids"]),
            purpose=str(document["purpose"]),
            requested_by=str(document["requested_by"]),
            role=str(document["role"]),
            requested_at=datetime.fromisoformat(document["requested_at"]),
            include_originals=bool(document.get("include_originals", False)),
            pad_s=float(document.get("pad_s", DEFAULT_PAD_S)),
        )
