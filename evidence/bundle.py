"""Building a case's evidence bundle: what goes in, read from the catalog, cut, redacted, signed.

What a bundle holds, and why:

- `clips/track-<id>.mp4` — always: the track's moments (first seen − pad … last seen + pad) cut
  from the recorded segments and re-encoded with every bystander blurred (evidence/redact.py);
  every selected subject on the clip's camera stays sharp.
- `originals/track-<id>.mp4` — only when asked for by someone who may see unredacted footage of
  everyone (the API: admins; decided by the caller): a stream copy of the same moments, bits
  unchanged.
  Otherwise the originals travel as hashes only: `metadata.json` lists each source segment's
  object key and SHA-256 — checked against the catalog while building — so a court can have
  the sealed recording produced and compare it, without bystanders leaving the system.
- `shots/track-<id>.jpg` — the track's best shot (a crop of the subject alone).
- `metadata.json` — tracks (times, boxes, trajectory, attributes), plates, cameras (names,
  never URLs), source segments, per clip what redaction blurred.
- `hops.json` — the case's hop decisions between the exported tracks (confirmed or rejected
  that two sightings are the same person or vehicle, with the note, who and when: the trail
  the investigator built, index/catalog/hops.py), and how many other decisions the case holds
  (on tracks not exported, so not shown: their cameras were not checked for the requester).
- `audit.jsonl` — the case's audit extract (every entry filed under the case, chain order,
  with each entry's place and hash in the audit chain).
- `custody.json` — the chain-of-custody record: who asked, when, why, under which case, what
  was built, when and by which key.
- the signed manifest (evidence/manifest.py).

Access checks (case open and the requester's, tracks on cameras the requester may see, who may
have originals) are the caller's: the API and the CLI run them before a build is queued.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from evidence.clips import (
    ClipEncoder,
    SegmentFile,
    VideoInfo,
    cut_original,
    probe_video,
    redacted_frames,
)
from evidence.manifest import Manifest, write_bundle
from evidence.redact import FrameRedaction, Redactor, Region, SubjectPath, blurred, kind_of
from evidence.request import ExportError, ExportRequest
from index.catalog import (
    AuditEntry,
    AuditQuery,
    CaseRecord,
    Session,
    StoredPlate,
    StoredTrack,
    get_camera,
    get_case,
    iter_audit_entries,
    plates_by_track_ids,
    segments_between,
    tracks_by_ids,
)
from index.catalog.hops import HopDecision, case_hop_decisions
from ingest.segment import Segment
from storage.ed25519 import Signer
from storage.objectstore import ObjectNotFoundError, ObjectStore, sha256_of_file

PROGRESS_EVERY_FRAMES = 10

Progress = Callable[[float], None]


@dataclass(frozen=True)
class ExportMaterial:
    """Everything the catalog holds for one export, read in one short transaction."""

    request: ExportRequest
    case: CaseRecord
    tracks: tuple[StoredTrack, ...]
    plates: dict[int, StoredPlate]
    camera_names: dict[str, str]
    segments: dict[int, tuple[Segment, ...]]  # per track id, oldest first
    audit: tuple[AuditEntry, ...]
    hops: tuple[HopDecision, ...] = ()  # the case's decisions between exported tracks
    hops_not_exported: int = 0  # the case's other decisions (a track of theirs not exported)

    def span(self, track: StoredTrack) -> tuple[datetime, datetime]:
        pad = timedelta(seconds=self.request.pad_s)
        return track.start_at - pad, track.end_at + pad


def load_material(session: Session, request: ExportRequest) -> ExportMaterial:
    """Read the case, tracks, plates, cameras, covering segments, the case's hop decisions and
    audit extract; ExportError naming a missing track or a track with no recording."""
    case = get_case(session, request.case_id)
    if case is None:
        raise ExportError(f"case {request.case_id!r} does not exist")
    found = {track.id: track for track in tracks_by_ids(session, list(request.track_ids))}
    missing = [t for t in request.track_ids if t not in found]
    if missing:
        raise ExportError(f"track(s) {missing} not found")
    tracks = tuple(found[t] for t in request.track_ids)
    segments: dict[int, tuple[Segment, ...]] = {}
    for track in tracks:
        pad = timedelta(seconds=request.pad_s)
        covering = segments_between(
            session, track.camera_id, track.start_at - pad, track.end_at + pad
        )
        if not covering:
            raise ExportError(f"track {track.id}: no recording covers its moments")
        segments[track.id] = tuple(covering)
    names = {}
    for camera_id in sorted({t.camera_id for t in tracks}):
        spec = get_camera(session, camera_id)
        names[camera_id] = camera_id if spec is None else spec.name
    audit = tuple(iter_audit_entries(session, AuditQuery(case_id=request.case_id)))
    decisions = case_hop_decisions(session, request.case_id)
    exported = set(request.track_ids)
    hops = tuple(d for d in decisions if {d.from_track_id, d.to_track_id} <= exported)
    return ExportMaterial(
        request, case, tracks, plates_by_track_ids(session, request.track_ids), names,
        segments, audit, hops, len(decisions) - len(hops),
    )  # fmt: skip


@dataclass(frozen=True)
class BundleSummary:
    """What was built: the manifest (files, hashes) and per clip what redaction blurred."""

    manifest: Manifest
    redaction: dict[int, dict[str, int]]
    originals_included: bool


def _fetch_segments(
    store: ObjectStore, segments: Iterable[Segment], work_dir: Path, cache: dict[str, Path]
) -> list[SegmentFile]:
    """The segments on local disk, each checked against the SHA-256 the catalog recorded."""
    files = []
    for segment in segments:
        path = cache.get(segment.object_key)
        if path is None:
            path = work_dir / "segments" / f"{len(cache)}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.write_bytes(store.get(segment.object_key))
            except ObjectNotFoundError as error:
                raise ExportError(f"segment {segment.object_key} is gone from storage") from error
            sha256, _ = sha256_of_file(path)
            if sha256 != segment.sha256:
                raise ExportError(
                    f"segment {segment.object_key} was altered: SHA-256 {sha256}, recorded"
                    f" {segment.sha256}"
                )
            cache[segment.object_key] = path
        files.append(SegmentFile(path, segment.start_at, segment.end_at))
    return files


def _subject_paths(material: ExportMaterial, camera_id: str, size: VideoInfo) -> list[SubjectPath]:
    """Every selected track on `camera_id` (all stay sharp in each other's clips)."""
    paths = []
    for track in material.tracks:
        if track.camera_id != camera_id:
            continue
        frame_w, frame_h = track.frame_size_px or (size.width_px, size.height_px)
        scale = (size.width_px / frame_w, size.height_px / frame_h)
        paths.append(
            SubjectPath.from_trajectory(
                track.id, track.class_name, track.start_at, track.trajectory, scale
            )
        )
    return paths


class _FrameCounter:
    """Progress over every clip's frames (estimated from durations × frame rate)."""

    def __init__(self, total_frames: float, progress: Progress) -> None:
        self._total = max(1.0, total_frames)
        self._done = 0
        self._progress = progress

    def step(self) -> None:
        self._done += 1
        if self._done % PROGRESS_EVERY_FRAMES == 0:
            self._progress(min(0.95, 0.95 * self._done / self._total))


def _redact_clip(
    redactor: Redactor,
    segments: list[SegmentFile],
    span: tuple[datetime, datetime],
    subjects: list[SubjectPath],
    out_path: Path,
    counter: _FrameCounter,
) -> dict[str, int]:
    """Each frame is written one frame late, blurred with its own regions and its neighbours'
    (evidence/redact.py: a person the detector misses in one frame is covered by the next)."""
    size = probe_video(segments[0].path)
    encoder = ClipEncoder(out_path, size)
    totals = {"frames": 0, "persons": 0, "faces": 0, "vehicles": 0, "subject_frames": 0}
    before: list[Region] = []
    pending: tuple[np.ndarray, list[Region]] | None = None
    try:
        for at, frame in redacted_frames(segments, span[0], span[1], size):
            present = [(s.kind, box) for s in subjects if (box := s.box_at(at)) is not None]
            regions, done = redactor.regions(frame, present)
            if pending is not None:
                encoder.write(blurred(pending[0], before + pending[1] + regions))
                before = pending[1]
            pending = (frame, regions)
            _add(totals, done)
            counter.step()
        if pending is not None:
            encoder.write(blurred(pending[0], before + pending[1]))
    finally:
        encoder.close()
    return totals


def _add(totals: dict[str, int], done: FrameRedaction) -> None:
    totals["frames"] += 1
    totals["persons"] += done.persons
    totals["faces"] += done.faces
    totals["vehicles"] += done.vehicles
    totals["subject_frames"] += int(done.subjects_kept > 0)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=_json_default))


def _track_json(track: StoredTrack) -> dict[str, Any]:
    document = dataclasses.asdict(track)
    document.pop("embedding", None)  # a biometric template: not evidence, never exported
    return document


def build_bundle(
    material: ExportMaterial,
    store: ObjectStore,
    redactor: Redactor,
    signer: Signer,
    out_path: Path,
    export_id: str,
    progress: Progress = lambda _fraction: None,
) -> BundleSummary:
    """Cut, redact and sign the bundle of `material` into `out_path` (a .zip)."""
    request = material.request
    with tempfile.TemporaryDirectory(prefix="skynet-export-") as tmp:
        work = Path(tmp)
        members: dict[str, Path] = {}
        cache: dict[str, Path] = {}
        sources = {
            track.id: _fetch_segments(store, material.segments[track.id], work, cache)
            for track in material.tracks
        }
        sizes = {t.id: probe_video(sources[t.id][0].path) for t in material.tracks}
        total_frames = sum(
            (material.span(t)[1] - material.span(t)[0]).total_seconds() * sizes[t.id].fps
            for t in material.tracks
        )
        counter = _FrameCounter(total_frames, progress)
        redaction: dict[int, dict[str, int]] = {}
        for track in material.tracks:
            span = material.span(track)
            subjects = _subject_paths(material, track.camera_id, sizes[track.id])
            name = f"clips/track-{track.id}.mp4"
            members[name] = work / name
            members[name].parent.mkdir(parents=True, exist_ok=True)
            redaction[track.id] = _redact_clip(
                redactor, sources[track.id], span, subjects, members[name], counter
            )
            if request.include_originals:
                original = f"originals/track-{track.id}.mp4"
                members[original] = work / original
                members[original].parent.mkdir(parents=True, exist_ok=True)
                cut_original(sources[track.id], span[0], span[1], members[original])
            if track.thumbnail_key:
                shot = f"shots/track-{track.id}.jpg"
                members[shot] = work / shot
                members[shot].parent.mkdir(parents=True, exist_ok=True)
                members[shot].write_bytes(store.get(track.thumbnail_key))
        built_at = datetime.now(UTC)
        _write_json(work / "metadata.json", _metadata(material, redaction))
        members["metadata.json"] = work / "metadata.json"
        _write_json(work / "hops.json", _hops(material))
        members["hops.json"] = work / "hops.json"
        audit_path = work / "audit.jsonl"
        audit_path.write_text(
            "".join(
                json.dumps(dataclasses.asdict(e), ensure_ascii=False, default=_json_default) + "\n"
                for e in material.audit
            )
        )
        members["audit.jsonl"] = audit_path
        _write_json(work / "custody.json", _custody(material, export_id, built_at, signer))
        members["custody.json"] = work / "custody.json"
        manifest = write_bundle(
            out_path, members, signer, export_id=export_id, case_id=request.case_id,
            created_at=built_at.isoformat(),
        )  # fmt: skip
    progress(1.0)
    return BundleSummary(manifest, redaction, request.include_originals)


def _metadata(material: ExportMaterial, redaction: dict[int, dict[str, int]]) -> dict[str, Any]:
    return {
        "case": {"id": material.case.id, "title": material.case.title},
        "cameras": [{"id": c, "name": n} for c, n in sorted(material.camera_names.items())],
        "tracks": [
            {
                **_track_json(track),
                "kind": kind_of(track.class_name),
                "clip": f"clips/track-{track.id}.mp4",
                "clip_span": [t.isoformat() for t in material.span(track)],
                "redaction": redaction[track.id],
                "source_segments": [
                    {
                        "object_key": s.object_key,
                        "sha256": s.sha256,
                        "size_bytes": s.size_bytes,
                        "start_at": s.start_at,
                        "end_at": s.end_at,
                    }
                    for s in material.segments[track.id]
                ],
            }
            for track in material.tracks
        ],
        "plates": [dataclasses.asdict(p) for _, p in sorted(material.plates.items())],
    }


def _hops(material: ExportMaterial) -> dict[str, Any]:
    decisions = [dataclasses.asdict(d) for d in material.hops]
    return {
        "case_id": material.case.id,
        "decisions": [
            {k: v for k, v in d.items() if k not in ("id", "case_id")} for d in decisions
        ],
        "decisions_not_exported": material.hops_not_exported,
    }


def _custody(
    material: ExportMaterial, export_id: str, built_at: datetime, signer: Signer
) -> dict[str, Any]:
    request = material.request
    return {
        "export_id": export_id,
        "case": {"id": material.case.id, "title": material.case.title,
                 "opened_by": material.case.created_by},
        "requested_by": request.requested_by,
        "role": request.role,
        "purpose": request.purpose,
        "requested_at": request.requested_at,
        "built_at": built_at,
        "track_ids": list(request.track_ids),
        "originals": "stream-copied in originals/" if request.include_originals
        else "not included: source segments listed by SHA-256 in metadata.json",
        "source_segments_checked": "every source segment matched the SHA-256 recorded at ingest",
        "redaction": "every person, face and plate except the selected subjects blurred",
        "signing_key_fingerprint": signer.public_key.fingerprint,
    }  # fmt: skip
