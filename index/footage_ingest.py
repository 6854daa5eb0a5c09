"""Offline footage (issue #15): resumable uploads become recorded segments of an offline camera.

One service for the API and the CLI. An upload is declared (name, size, sha256, the operator's
camera label, optional position and start time), its parts are stored as objects
(`footage/uploads/<id>/parts/<n>`: any API process can take any part, and a part survives a
restart), then `complete` assembles the parts into a local file (checking size and sha256),
probes it, cuts it into segments (ingest/footage_remux.py) and stores them.

Write order of the final step, and what a failure leaves: the original file and every segment
go to the object store first, then the parts are deleted, then ONE catalog transaction creates
the offline camera, adds the segments, queues their analysis (a re-index job, `analysis`) and
marks the upload `stored`. Any failure before that commit deletes the objects written so far
and the parts, and marks the upload `failed` with the reason: no camera, no segment row, no
job. A worker killed mid-way leaves the upload `processing` without a heartbeat; the next
`complete` takes it over (its objects are rewritten under the same keys).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from index.catalog import (
    add_segment,
    append_audit,
    get_camera,
    segments_between,
    upsert_camera,
)
from index.catalog.footage import (
    FootageUpload,
    NewFootageUpload,
    UnknownUploadError,
    camera_kind,
    create_footage_upload,
    get_footage_upload,
    live_camera_named,
    move_footage_upload,
    record_footage_part,
    take_over_footage_upload,
    touch_footage_upload,
)
from index.catalog.rows import utc_now
from index.catalog.values import CameraSpec
from index.footage_values import (
    EARLIEST_FOOTAGE,
    SHA256_PATTERN,
    Actor,
    AnalysisHook,
    FootageConflictError,
    FootageError,
    FootagePolicy,
    FootageRequest,
    offline_camera_id,
)
from index.reindex_jobs import ReindexRequest, start_reindex
from ingest.footage_probe import FootageFileError, FootageProbe, probe_footage
from ingest.footage_remux import CutFootage, cut_footage
from storage.objectstore import ObjectStore, StorageUnavailableError

log = logging.getLogger(__name__)

# Parts sent in parallel update one row's list: serialised here within a process (SQLite would
# refuse a second writer's stale snapshot), across processes by the row lock (PostgreSQL).
_PART_LOCK = threading.Lock()
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,8})$")


def reindex_analysis(detector: str, embedder: str, priority: int = 0) -> AnalysisHook:
    """The hook that queues a re-index job (index/reindex_jobs.py) over the new segments with
    the given models: one code path analyses recorded and uploaded footage alike."""

    def queue(session: Session, camera_id: str, start: datetime, end: datetime, owner: str) -> str:
        request = ReindexRequest((camera_id,), start, end, detector, embedder, priority=priority)
        return start_reindex(session, request, owner)

    return queue


def part_key(upload_id: str, number: int) -> str:
    return f"footage/uploads/{upload_id}/parts/{number:06d}"


def original_key(upload: FootageUpload) -> str:
    match = _EXTENSION.search(upload.filename)
    extension = f".{match[1].lower()}" if match else ""
    return f"footage/{upload.camera_id}/{upload.id}/original{extension}"


@dataclass
class FootageService:
    """Uploads → offline camera segments; `analysis` queues the new segments' analysis."""

    sessions: sessionmaker[Session]
    store: ObjectStore
    policy: FootagePolicy
    analysis: AnalysisHook | None = None
    clock: Callable[[], datetime] = field(default=utc_now)

    # ---- receiving ------------------------------------------------------------------------

    def start_upload(self, request: FootageRequest, actor: Actor) -> FootageUpload:
        """Check what can be checked before a byte arrives, then record the upload."""
        filename = request.filename.strip().replace("\\", "/").rsplit("/", 1)[-1]
        if not filename or len(filename) > 255:
            raise FootageError("filename: give the file's name (1-255 characters)")
        if request.size_bytes <= 0:
            raise FootageError("size: the file is empty (0 bytes): it holds no video")
        if request.size_bytes > self.policy.max_bytes:
            raise FootageError(
                f"size: {request.size_bytes} bytes is over the {self.policy.max_bytes} byte "
                "limit (SKYNET_FOOTAGE_MAX_BYTES)"
            )
        if request.sha256 is not None and not SHA256_PATTERN.match(request.sha256):
            raise FootageError("sha256: give 64 hex characters")
        if request.start_time is not None:
            self.check_start(request.start_time, 0.0, "start_time")
        camera_id = offline_camera_id(request.camera_label)
        new = NewFootageUpload(
            camera_id, request.camera_label.strip(), filename, request.size_bytes,
            request.sha256, self.policy.part_bytes, actor.owner, request.lat, request.lon,
            request.heading_deg, request.start_time,
        )  # fmt: skip
        with self.sessions() as session:
            self.check_label(session, new.camera_label, camera_id)
            try:
                CameraSpec(camera_id, new.camera_label, "", lat=new.lat, lon=new.lon,
                           heading_deg=new.heading_deg, kind="offline")  # fmt: skip
            except ValueError as error:
                raise FootageError(str(error)) from error
            upload = create_footage_upload(session, new)
            append_audit(
                session, principal=actor.name, role=actor.role, action="footage_upload",
                target=f"upload:{upload.id}", filters={"filename": filename,
                "size_bytes": request.size_bytes, "camera": camera_id},
            )  # fmt: skip
            session.commit()
        return upload

    def upload(self, upload_id: str) -> FootageUpload:
        with self.sessions() as session:
            upload = get_footage_upload(session, upload_id)
        if upload is None:
            raise UnknownUploadError(f"upload {upload_id!r} not found")
        return upload

    def put_part(self, upload_id: str, number: int, data: bytes) -> FootageUpload:
        """Store part `number` (0-based); it must be exactly as long as the upload's plan says
        (`part_bytes`, the last one the rest), so a resumed upload cannot shift bytes."""
        upload = self.upload(upload_id)
        if upload.state != "receiving":
            raise FootageConflictError(f"upload {upload_id} is {upload.state}: no more parts")
        try:
            expected = upload.part_size(number)
        except ValueError as error:
            raise FootageError(f"part: {error}") from error
        if len(data) != expected:
            raise FootageError(f"part {number} holds {len(data)} bytes; it must hold {expected}")
        self.store.put_bytes(part_key(upload_id, number), data)
        with _PART_LOCK, self.sessions() as session:
            try:
                upload = record_footage_part(session, upload_id, number)
            except ValueError as error:
                raise FootageConflictError(str(error)) from error
            session.commit()
        return upload

    # ---- completing -----------------------------------------------------------------------

    def begin_processing(self, upload_id: str) -> FootageUpload:
        """receiving → processing once every part is stored; FootageError naming the missing
        parts otherwise, FootageConflictError when the upload was already completed. An upload
        whose worker died mid-way (no heartbeat for stale_processing_s) is taken over."""
        upload = self.upload(upload_id)
        if upload.state == "processing":
            stale_before = self.clock() - timedelta(seconds=self.policy.stale_processing_s)
            with self.sessions() as session:
                taken = take_over_footage_upload(session, upload_id, stale_before)
                session.commit()
            if taken:
                log.warning("upload %s: its worker stopped; processing it again", upload_id)
                return self.upload(upload_id)
        if upload.state != "receiving":
            raise FootageConflictError(f"upload {upload_id} is already {upload.state}")
        if upload.missing_parts:
            missing = list(upload.missing_parts)
            shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
            raise FootageError(f"upload {upload_id} misses {len(missing)} part(s): {shown}")
        with self.sessions() as session:
            if not move_footage_upload(session, upload_id, "receiving", "processing"):
                raise FootageConflictError(f"upload {upload_id} is already being completed")
            session.commit()
        return self.upload(upload_id)

    def complete(self, upload_id: str, actor: Actor) -> FootageUpload:
        """begin_processing, then process (both here; the API runs `process` on a thread)."""
        self.begin_processing(upload_id)
        return self.process(upload_id, actor)

    def process(self, upload_id: str, actor: Actor) -> FootageUpload:
        """Assemble, check, probe, cut and store an upload in `processing`; the upload ends
        `stored`, or `failed` with the reason and nothing of it left in store or catalog."""
        upload = self.upload(upload_id)
        work = self.policy.work_dir / upload_id
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        written: list[str] = []
        parts_kept = True
        alive = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(upload_id, alive), name="footage-heartbeat", daemon=True
        )
        heartbeat.start()
        try:
            source = self._assemble(upload, work / "original")
            probe = self._probe(source)
            start_at = self._start_of(upload, probe)
            cut = self._cut(upload, source, probe, start_at, work / "segments")
            written.append(original_key(upload))
            self.store.put_file(original_key(upload), source, "video/octet-stream")
            for path, segment in cut.segments:
                written.append(segment.object_key)
                self.store.put_file(segment.object_key, path, "video/mp4")
            parts_kept = False  # from here on a failure means uploading again anyway
            self._delete_parts(upload)
            self._record(upload, probe, start_at, cut, actor)
        except Exception as error:
            self._delete_objects(upload, written)
            if parts_kept and isinstance(error, StorageUnavailableError):
                self._retry_later(upload, error)
            else:
                self._delete_parts(upload)
                self._fail(upload, error, actor)
        finally:
            alive.set()
            heartbeat.join()
            shutil.rmtree(work, ignore_errors=True)
        return self.upload(upload_id)

    def _heartbeat(self, upload_id: str, done: threading.Event) -> None:
        while not done.wait(self.policy.stale_processing_s / 10):
            try:
                with self.sessions() as session:
                    touch_footage_upload(session, upload_id)
                    session.commit()
            except Exception:  # the catalog is briefly unavailable: beat again later
                log.exception("heartbeat of upload %s failed", upload_id)

    def _assemble(self, upload: FootageUpload, target: Path) -> Path:
        digest, size_bytes = hashlib.sha256(), 0
        with target.open("wb") as stream:
            for number in range(upload.part_count):
                data = self.store.get(part_key(upload.id, number))
                digest.update(data)
                size_bytes += len(data)
                stream.write(data)
        sha256 = digest.hexdigest()
        if size_bytes != upload.size_bytes:
            raise FootageError(
                f"the parts add up to {size_bytes} bytes, not the {upload.size_bytes} declared"
            )
        if upload.sha256 is not None and sha256 != upload.sha256:
            raise FootageError(
                f"sha256 mismatch: the parts hash to {sha256}, the upload declared "
                f"{upload.sha256} (a part was corrupted on the way: upload again)"
            )
        return target

    def _probe(self, source: Path) -> FootageProbe:
        try:
            probe = probe_footage(source)
        except FootageFileError as error:
            raise FootageError(str(error)) from error
        limit_s = self.policy.max_duration_s
        if probe.duration_s is not None and probe.duration_s > limit_s:
            raise FootageError(
                f"the footage lasts {probe.duration_s / 3600:.1f} h, over the "
                f"{limit_s / 3600:g} h limit (SKYNET_FOOTAGE_MAX_DURATION_S): split it first"
            )
        return probe

    def _start_of(self, upload: FootageUpload, probe: FootageProbe) -> datetime:
        """The operator's start time, else the file's creation_time; checked either way."""
        if upload.start_time_given is not None:
            start, what = upload.start_time_given, "start_time"
        elif probe.creation_time is not None:
            start, what = probe.creation_time, "the file's creation_time"
        else:
            raise FootageError(
                "start_time: the file states no recording time (creation_time): give one"
            )
        self.check_start(start, probe.duration_s or 0.0, what)
        return start

    def check_start(self, start: datetime, duration_s: float, what: str) -> None:
        """FootageError unless footage starting at `start` lies between 2000 and now."""
        if start.tzinfo is None:
            raise FootageError(f"{what} {start.isoformat()} needs a UTC offset")
        if start < EARLIEST_FOOTAGE:
            raise FootageError(
                f"{what} {start.isoformat()} is before 2000: a camera clock that was never "
                "set? give the real start time"
            )
        latest = self.clock() + timedelta(seconds=self.policy.future_slack_s)
        if start + timedelta(seconds=duration_s) > latest:
            raise FootageError(
                f"{what} {start.isoformat()} puts the footage (or its end, "
                f"{duration_s:.0f} s later) in the future"
            )

    def check_label(self, session: Session, label: str, camera_id: str) -> None:
        """FootageConflictError when the label (or the id it gives) names a live camera."""
        live = live_camera_named(session, label)
        if live is None and camera_kind(session, camera_id) == "live":
            live = camera_id
        if live is not None:
            raise FootageConflictError(
                f"camera_label {label!r} names the live camera {live!r}: footage goes to an "
                "offline source of its own; choose another label"
            )

    def _cut(
        self, upload: FootageUpload, source: Path, probe: FootageProbe, start_at: datetime,
        out_dir: Path,
    ) -> CutFootage:  # fmt: skip
        try:
            return cut_footage(
                source, probe, out_dir, upload.camera_id, upload.id, start_at,
                self.policy.segment_duration_s, self.policy.process_timeout_s,
            )  # fmt: skip
        except FootageFileError as error:
            raise FootageError(str(error)) from error
        except subprocess.TimeoutExpired as error:
            raise FootageError(f"cutting took over {error.timeout:.0f} s: stopped") from error

    def _record(
        self, upload: FootageUpload, probe: FootageProbe, start_at: datetime, cut: CutFootage,
        actor: Actor,
    ) -> None:  # fmt: skip
        """The one catalog transaction that makes the footage visible."""
        first, last = cut.segments[0][1], cut.segments[-1][1]
        with self.sessions() as session:
            self.check_label(session, upload.camera_label, upload.camera_id)
            overlapping = segments_between(session, upload.camera_id, first.start_at, last.end_at)
            if overlapping:
                raise FootageConflictError(
                    f"camera {upload.camera_id!r} already holds footage from "
                    f"{overlapping[0].start_at.isoformat()}: this file "
                    f"({first.start_at.isoformat()} to {last.end_at.isoformat()}) overlaps "
                    "it; give another start_time or label"
                )
            if get_camera(session, upload.camera_id) is None:
                upsert_camera(session, CameraSpec(
                    upload.camera_id, upload.camera_label, "", lat=upload.lat, lon=upload.lon,
                    heading_deg=upload.heading_deg, kind="offline",
                ))  # fmt: skip
            for _path, segment in cut.segments:
                add_segment(session, segment)
            job_id = None
            if self.analysis is not None:  # queued with the segments: none is left behind
                job_id = self.analysis(
                    session, upload.camera_id, first.start_at, last.end_at, upload.created_by
                )
            report = {
                "analysis_job": job_id,
                "original_key": original_key(upload),
                "segments": len(cut.segments),
                "footage_s": round(cut.covered_s, 3),
                "start_at": first.start_at.isoformat(),
                "end_at": last.end_at.isoformat(),
                "transcoded": cut.transcoded,
                "damage": list(cut.damage),
            }
            if not move_footage_upload(
                session, upload.id, "processing", "stored", start_at=start_at,
                probe=probe.to_json(), report=report, error=None,
            ):  # fmt: skip
                raise FootageConflictError(f"upload {upload.id} left processing meanwhile")
            append_audit(
                session, principal=actor.name, role=actor.role, action="footage_stored",
                target=f"camera:{upload.camera_id}",
                filters={"upload": upload.id, "segments": len(cut.segments)},
            )  # fmt: skip
            session.commit()

    def _delete_objects(self, upload: FootageUpload, written: list[str]) -> None:
        for key in written:
            try:
                self.store.delete(key)
            except Exception:  # keep cleaning; the upload ends anyway
                log.exception("could not delete %s of upload %s", key, upload.id)

    def _retry_later(self, upload: FootageUpload, error: StorageUnavailableError) -> None:
        """Object storage is down (a passing fault): the upload goes back to `receiving` with
        its parts, and completing it again later starts over."""
        log.warning("upload %s: object storage unavailable, parts kept: %s", upload.id, error)
        message = f"object storage unavailable ({error}); the parts are kept: complete again"
        with self.sessions() as session:
            move_footage_upload(session, upload.id, "processing", "receiving", error=message)
            session.commit()

    def _fail(self, upload: FootageUpload, error: Exception, actor: Actor) -> None:
        if not isinstance(error, FootageError):
            log.exception("footage upload %s failed", upload.id, exc_info=error)
        message = str(error) if isinstance(error, FootageError) else f"internal error: {error}"
        with self.sessions() as session:
            move_footage_upload(session, upload.id, "processing", "failed", error=message)
            append_audit(
                session, principal=actor.name, role=actor.role, action="footage_refused",
                target=f"upload:{upload.id}", filters={"error": message[:500]},
            )  # fmt: skip
            session.commit()

    def _delete_parts(self, upload: FootageUpload) -> None:
        for number in range(upload.part_count):
            try:
                self.store.delete(part_key(upload.id, number))
            except Exception:  # a leftover part costs space only
                log.warning("could not delete part %d of upload %s", number, upload.id)
