"""Retention runs (issue #17): delete material past its camera group's tier from object
storage, the catalog and the vector index, keeping what legal holds name.

One run, in this order (each step idempotent, so a run cut short is completed by the next):

1. plan: the catalog's rows past their tier and not held (index/catalog/retention_plan.py),
   uploaded footage originals past their offline camera's segment tier included;
2. catalog: in one transaction per batch, read the legal holds again under the lock every
   hold change takes, delete the rows still free, flag the kept tracks whose recording went,
   and note the objects those rows named on the run's job row
   (index/catalog/retention_batches.py: a hold placed while a run deletes loses nothing);
3. objects: delete the noted segments, thumbnails, context frames, plate crops, event
   pictures and footage originals, then clear the note (a run that stopped before has its
   note finished by the next run first; deleting a missing object is not an error);
4. vectors: remove the deleted tracks from the live index, then drop any vector whose track
   the catalog no longer has (a run that stopped after step 2 leaves such vectors);
5. bookkeeping (#13): old dead letters, outbox rows every webhook has passed and the SSE replay
   window no longer covers, and old finished jobs (index/catalog/housekeeping.py), audited as
   one `retention_prune` entry in the same transaction.

The audit log is never deleted (its table refuses DELETE and is hash-chained); audit days are
only checked against their floor. A dry run does step 1 and reports what the others would do.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from index.catalog import (
    SessionFactory,
    append_audit,
    create_job,
    finish_held_job,
    start_held_job,
)
from index.catalog.housekeeping import HousekeepingPolicy, PrunedBookkeeping, prune_bookkeeping
from index.catalog.retention import (
    DEFAULT_TIER,
    RetentionFloors,
    RetentionPolicy,
    RetentionTier,
    retention_policy,
)
from index.catalog.retention_batches import (
    clear_pending_objects,
    delete_batch,
    pending_objects,
)
from index.catalog.retention_plan import (
    DeletedRows,
    RetentionPlan,
    delete_planned,
    last_retention_run_at,
    plan_retention,
)
from index.catalog.rows import utc_now
from index.track_indexer import context_key, remove_trackless_vectors
from index.vectors import VectorIndex
from index.vectors.files import read_manifest
from storage.objectstore import ObjectStore

log = logging.getLogger(__name__)

JOB_KIND = "retention"
BATCH_ROWS = 2000  # rows of each kind per camera per round: bounds one transaction


@dataclass(frozen=True)
class RetentionConfig:
    """The settings a run needs: the default policy (until an admin sets tiers) and floors."""

    defaults: RetentionPolicy
    floors: RetentionFloors = field(default_factory=RetentionFloors)
    batch_rows: int = BATCH_ROWS
    housekeeping: HousekeepingPolicy = field(default_factory=HousekeepingPolicy)


@dataclass
class RetentionReport:
    """What a run deleted (or, dry, would delete), what holds kept back and why."""

    dry_run: bool
    now: datetime
    policy: RetentionPolicy
    segments: int = 0
    segment_bytes: int = 0
    tracks: int = 0
    events: int = 0
    recording_gaps: int = 0
    footage_originals: int = 0
    objects: int = 0
    tracks_flagged_clip_deleted: int = 0
    vectors_removed: int = 0
    bookkeeping: PrunedBookkeeping = field(default_factory=PrunedBookkeeping)
    per_group: dict[str, Counter[str]] = field(default_factory=dict)
    held_back: dict[str, Counter[str]] = field(default_factory=dict)

    def add_plan(self, plan: RetentionPlan, objects: int) -> None:
        self.segments += len(plan.segments)
        self.segment_bytes += sum(s.size_bytes for s in plan.segments)
        self.tracks += len(plan.tracks)
        self.events += len(plan.events)
        self.recording_gaps += len(plan.gaps)
        self.footage_originals += len(plan.originals)
        self.objects += objects
        for kind, items in (
            ("segments", plan.segments),
            ("tracks", plan.tracks),
            ("events", plan.events),
            ("footage_originals", plan.originals),
        ):
            for item in items:
                group = plan.camera_groups.get(item.camera_id) or "*"
                self.per_group.setdefault(group, Counter())[kind] += 1
        self.held_back = {}  # the latest plan's view: holds do not add up over rounds
        for held in plan.held:
            for case_id in held.case_ids:
                self.held_back.setdefault(case_id, Counter())[held.kind + "s"] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "as_of": self.now.isoformat(),
            "deleted" if not self.dry_run else "would_delete": {
                "segments": self.segments,
                "segment_bytes": self.segment_bytes,
                "tracks": self.tracks,
                "events": self.events,
                "recording_gaps": self.recording_gaps,
                "footage_originals": self.footage_originals,
                "objects": self.objects,
            },
            "tracks_flagged_clip_deleted": self.tracks_flagged_clip_deleted,
            "vectors_removed": self.vectors_removed,
            "bookkeeping_deleted": {
                "outbox_rows": self.bookkeeping.outbox,
                "webhook_dead_letters": self.bookkeeping.dead_letters,
                "finished_jobs": self.bookkeeping.jobs,
            },
            "per_group": {g: dict(c) for g, c in sorted(self.per_group.items())},
            "held_back": [
                {"case_id": case_id, "reason": "legal hold", **dict(counts)}
                for case_id, counts in sorted(self.held_back.items())
            ],
            "audit": {
                "kept_at_least_days": self.policy.audit_days,
                "deleted": 0,
                "why": "the audit log is append-only and hash-chained: never deleted",
            },
            "tiers": [
                {
                    "group": tier.group_name,
                    "segments_days": tier.segments_days,
                    "tracks_days": tier.tracks_days,
                    "events_days": tier.events_days,
                }
                for tier in self.policy.tiers
            ],
        }


def default_config() -> RetentionConfig:
    """Settings' defaults (skynet/settings.py): 30 days of segments, 90 of tracks, 365 of
    events and audit; floors of 1 day, 365 for audit."""
    return RetentionConfig(
        RetentionPolicy((RetentionTier(DEFAULT_TIER, 30, 90, 365),), audit_days=365)
    )


def object_keys(plan: RetentionPlan) -> list[str]:
    """Every object the plan's rows name: segments, track pictures, event pictures, footage
    originals."""
    keys = [s.object_key for s in plan.segments]
    for track in plan.tracks:
        if track.thumbnail_key:
            keys += [track.thumbnail_key, context_key(track.thumbnail_key)]
        if track.plate_crop_key:
            keys.append(track.plate_crop_key)
    for event in plan.events:
        keys.extend(event.evidence_keys)
    keys.extend(o.object_key for o in plan.originals)
    return keys


def current_policy(sessions: SessionFactory, config: RetentionConfig) -> RetentionPolicy:
    with sessions() as session:
        return retention_policy(session, config.defaults)


def make_plan(
    sessions: SessionFactory, config: RetentionConfig, now: datetime, limit: int | None
) -> RetentionPlan:
    """Step 1: what is past its tier as of `now` and not held."""
    with sessions() as session:
        policy = retention_policy(session, config.defaults)
        return plan_retention(session, policy, now, limit)


def delete_objects(store: ObjectStore, plan: RetentionPlan) -> int:
    """Delete the objects the plan names; returns how many keys were deleted."""
    keys = object_keys(plan)
    for key in keys:
        store.delete(key)
    return len(keys)


def delete_rows(sessions: SessionFactory, plan: RetentionPlan) -> DeletedRows:
    """Delete the plan's rows in one transaction, as planned (no hold read again, no objects
    noted: `delete_batch_and_objects` is the run's step)."""
    with sessions() as session:
        deleted = delete_planned(session, plan)
        session.commit()
    return deleted


def delete_batch_and_objects(
    sessions: SessionFactory, store: ObjectStore, job_id: str, plan: RetentionPlan
) -> tuple[RetentionPlan, DeletedRows, int]:
    """Steps 2 and 3 for one batch: its rows (the holds read again) in one transaction that
    notes their objects on job `job_id`, then those objects, then the note cleared. Returns the
    plan as the holds left it, the rows deleted and how many objects went."""
    with sessions() as session:
        batch = delete_batch(session, job_id, plan, object_keys)
        session.commit()
    keys = object_keys(batch.plan)
    for key in keys:
        store.delete(key)
    with sessions() as session:
        clear_pending_objects(session, job_id, keys)
        session.commit()
    return batch.plan, batch.rows, len(keys)


def finish_pending_deletions(sessions: SessionFactory, store: ObjectStore) -> int:
    """Delete the objects earlier runs noted but did not get to (they stopped between a
    batch's commit and its object deletes); returns how many keys were deleted."""
    with sessions() as session:
        pending = pending_objects(session, JOB_KIND)
    for job_id, keys in pending.items():
        for key in keys:
            store.delete(key)
        with sessions() as session:
            clear_pending_objects(session, job_id, keys)
            session.commit()
        log.info("retention: deleted %d objects run %s had noted", len(keys), job_id)
    return sum(len(keys) for keys in pending.values())


def drop_vectors(sessions: SessionFactory, vectors: VectorIndex, track_ids: tuple[int, ...]) -> int:
    """Step 4: remove the deleted tracks' vectors, then any vector whose track is gone (a run
    that stopped after step 2); returns how many vectors went."""
    removed = vectors.remove(track_ids) if track_ids else 0
    return removed + remove_trackless_vectors(sessions, vectors)


def prune_saved_indexes(sessions: SessionFactory, directory: Path) -> int:
    """Step 4 for the saved vector indexes under `directory` (a run outside the server, e.g.
    `skynet retention run`): load each, drop the vectors whose track is gone, save it back;
    returns how many vectors went. (A running server's own index is swept by its next run.)"""
    removed = 0
    for path in sorted(directory.glob("*.faiss")):
        if ".faiss." in path.name:
            continue  # a data file beside its manifest (index/vectors/files.py)
        try:
            manifest = read_manifest(path)
        except ValueError:
            continue
        if manifest is None or "embedding_version" not in manifest:
            continue  # a data file, or the first format: rebuilt from the catalog at start
        saved = VectorIndex.load(path, str(manifest["embedding_version"]))
        dropped = drop_vectors(sessions, saved, ())
        if dropped:
            saved.save(path)
        removed += dropped
    return removed


def dry_run(sessions: SessionFactory, config: RetentionConfig, now: datetime) -> RetentionReport:
    """What a run as of `now` would delete, and what holds keep; nothing is changed."""
    plan = make_plan(sessions, config, now, None)
    report = RetentionReport(True, now, current_policy(sessions, config))
    report.add_plan(plan, len(object_keys(plan)))
    return report


def run_retention(
    sessions: SessionFactory,
    store: ObjectStore,
    vectors: VectorIndex | None,
    config: RetentionConfig,
    now: datetime,
    job_id: str,
) -> RetentionReport:
    """Delete everything past its tier as of `now` (see the module docstring), in rounds of
    `config.batch_rows` per kind and camera, noting each round's objects on job `job_id` (the
    run's `retention` job row); returns what went."""
    report = RetentionReport(False, now, current_policy(sessions, config))
    report.objects += finish_pending_deletions(sessions, store)
    flagged: set[int] = set()
    gone: set[int] = set()
    while True:
        plan = make_plan(sessions, config, now, config.batch_rows)
        if plan.is_empty():
            report.add_plan(plan, 0)
            break
        plan, deleted, objects = delete_batch_and_objects(sessions, store, job_id, plan)
        report.add_plan(plan, objects)
        flagged.update(deleted.flagged_track_ids)
        gone.update(deleted.track_ids)  # a flagged track a later round deleted is not kept
        report.tracks_flagged_clip_deleted = len(flagged - gone)
        if vectors is not None:
            report.vectors_removed += vectors.remove(deleted.track_ids) if deleted.track_ids else 0
    if vectors is not None:
        report.vectors_removed += drop_vectors(sessions, vectors, ())
    report.bookkeeping = prune_delivery_and_jobs(sessions, config.housekeeping, now)
    return report


def prune_delivery_and_jobs(
    sessions: SessionFactory, policy: HousekeepingPolicy, now: datetime
) -> PrunedBookkeeping:
    """Step 5: prune the outbox, dead letters and finished jobs; audited when anything went."""
    with sessions() as session:
        pruned = prune_bookkeeping(session, policy, now)
        if pruned.outbox or pruned.dead_letters or pruned.jobs:
            append_audit(
                session, principal="system:retention", role="system", action="retention_prune",
                filters={
                    "outbox_rows": pruned.outbox, "webhook_dead_letters": pruned.dead_letters,
                    "finished_jobs": pruned.jobs, "outbox_replay_s": policy.outbox_replay_s,
                    "dead_letter_days": policy.dead_letter_days,
                    "finished_job_days": policy.finished_job_days,
                },
            )  # fmt: skip
        session.commit()
    return pruned


def run_retention_job(
    sessions: SessionFactory,
    store: ObjectStore,
    vectors: VectorIndex | None,
    config: RetentionConfig,
    owner: str,
    dry: bool = False,
    now: datetime | None = None,
) -> tuple[str, RetentionReport]:
    """A run (or dry run) recorded as a catalog job of kind "retention" (visible with the other
    jobs); returns the job id and the report. A failed run is recorded with its error and
    raised; the next run completes it."""
    runner_id = uuid.uuid4().hex
    at = utc_now() if now is None else now
    with sessions() as session:
        job_id = create_job(
            session, JOB_KIND, {"dry_run": dry, "as_of": at.isoformat()},
            owner=owner, runner_id=runner_id,
        )  # fmt: skip
        start_held_job(session, job_id, runner_id)
        session.commit()
    try:
        if dry:
            report = dry_run(sessions, config, at)
        else:
            report = run_retention(sessions, store, vectors, config, at, job_id)
    except Exception as error:
        with sessions() as session:
            finish_held_job(session, job_id, runner_id, "failed", error=str(error)[:2000])
            session.commit()
        raise
    with sessions() as session:
        finish_held_job(session, job_id, runner_id, "succeeded", report.as_json())
        session.commit()
    return job_id, report


class RetentionScheduler:
    """Runs a retention job when the last real run is older than `interval_s` (checked every
    `poll_s`), so a restarted server neither skips a day nor runs twice in one."""

    def __init__(
        self,
        sessions: SessionFactory,
        store: ObjectStore,
        vectors: Callable[[], VectorIndex | None],
        config: RetentionConfig,
        interval_s: float,
        poll_s: float = 300.0,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._vectors = vectors
        self._config = config
        self._interval = timedelta(seconds=interval_s)
        self._poll_s = min(poll_s, interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    def due(self, now: datetime) -> bool:
        with self._sessions() as session:
            last = last_retention_run_at(session, JOB_KIND)
        return last is None or now - last >= self._interval

    def run_if_due(self) -> str | None:
        """Run now if due; the job id, or None when not due."""
        if not self.due(utc_now()):
            return None
        job_id, report = run_retention_job(
            self._sessions, self._store, self._vectors(), self._config, "system:retention"
        )
        log.info("retention job %s: %s", job_id, report.as_json()["deleted"])
        return job_id

    def _run(self) -> None:
        while True:
            try:
                self.run_if_due()
            except Exception:  # storage or database down: try again next poll
                log.exception("retention run failed")
            if self._stop.wait(self._poll_s):
                return
