"""A legal hold placed while a retention run deletes (issue #17), on SQLite and a real
PostgreSQL: a hold committed after a batch was planned, or while its transaction waits for the
lock, keeps that batch's held material (rows and objects); a batch that stopped between its
commit and its object deletes is finished by the next run; nothing is left orphaned."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog.retention import (
    file_case_material,
    place_legal_hold,
)
from index.catalog.retention_batches import delete_batch, pending_objects
from index.catalog.retention_plan import DeletedRows, RetentionPlan
from index.catalog.rows import SegmentRow, TrackRow
from index.retention import (
    JOB_KIND,
    delete_batch_and_objects,
    make_plan,
    object_keys,
    run_retention_job,
)
from index.retention_check import check_consistency
from index.vectors import VectorIndex
from storage.local import LocalObjectStore
from tests.retention_support import CONFIG, NOW, Material, populate, set_up_cameras


def _material(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> Material:
    set_up_cameras(sessions)
    return populate(sessions, store, vectors, NOW, days_back=(40, 35, 5))


def _job(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        job_id = catalog.create_job(session, JOB_KIND, {"as_of": NOW.isoformat()})
        session.commit()
    return job_id


def _hold(session: Session, track_id: int) -> str:
    """File the track under a new case and hold the case, audited, as the API does (not
    committed: the caller commits)."""
    case_id = catalog.create_case(session, "late hold", "inv")
    file_case_material(session, case_id, "inv", [track_id])
    place_legal_hold(session, case_id, "preservation letter", "admin")
    catalog.append_audit(
        session, principal="admin", role="admin", action="legal_hold", case_id=case_id,
        target=f"case:{case_id}",
    )  # fmt: skip
    return case_id


def _exists(sessions: sessionmaker[Session], row: type, row_id: int) -> bool:
    with sessions() as session:
        return session.get(row, row_id) is not None


def _assert_kept(
    sessions: sessionmaker[Session], store: LocalObjectStore, material: Material, track: int
) -> None:
    """The held track, its pictures and the segment it was seen in are all still there."""
    assert _exists(sessions, TrackRow, track)
    assert store.exists(material.thumbnails[track])
    assert _exists(sessions, SegmentRow, material.segments[("cam-a", 40)])
    assert store.exists(material.segment_keys[("cam-a", 40)])


def test_a_hold_placed_after_a_batch_was_planned_keeps_its_material(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material = _material(sessions, store, vectors)
    target, other = material.tracks[("cam-a", 40)]
    plan = make_plan(sessions, CONFIG, NOW, CONFIG.batch_rows)  # the run plans its batch
    assert {target, other} <= {t.id for t in plan.tracks}
    with sessions() as session:  # ... and the hold lands before the batch deletes
        case_id = _hold(session, target)
        session.commit()
    freed, rows, objects = delete_batch_and_objects(sessions, store, _job(sessions), plan)
    assert target not in rows.track_ids and other in rows.track_ids
    assert ("track", target, (case_id,)) in {(h.kind, h.id, h.case_ids) for h in freed.held}
    assert objects == len(object_keys(freed)) and objects < len(object_keys(plan))
    _assert_kept(sessions, store, material, target)
    assert not store.exists(material.thumbnails[other])
    report = run_retention_job(sessions, store, vectors, CONFIG, "test", now=NOW)[1]
    assert report.as_json()["held_back"] == [
        {"case_id": case_id, "reason": "legal hold", "segments": 1, "tracks": 1}
    ]
    _assert_kept(sessions, store, material, target)
    assert check_consistency(sessions, store, vectors).total == 0


def test_a_hold_committed_while_the_batch_waits_for_the_lock_is_seen(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material = _material(sessions, store, vectors)
    target = material.tracks[("cam-a", 40)][0]
    plan = make_plan(sessions, CONFIG, NOW, CONFIG.batch_rows)
    job_id = _job(sessions)
    holder = sessions()
    _hold(holder, target)  # the hold's transaction holds the audit chain's lock
    done: list[tuple[RetentionPlan, DeletedRows, int]] = []
    batch = threading.Thread(
        target=lambda: done.append(delete_batch_and_objects(sessions, store, job_id, plan))
    )
    batch.start()
    batch.join(1.0)
    assert batch.is_alive() and not done  # waiting for the hold's transaction
    assert store.exists(material.thumbnails[target])
    holder.commit()
    holder.close()
    batch.join(30)
    assert done, "the batch did not finish"
    _freed, rows, _objects = done[0]
    assert target not in rows.track_ids and rows.track_ids  # it deleted the rest
    _assert_kept(sessions, store, material, target)


def test_a_batch_that_stopped_before_its_object_deletes_is_finished_by_the_next_run(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material = _material(sessions, store, vectors)
    plan = make_plan(sessions, CONFIG, NOW, CONFIG.batch_rows)
    job_id = _job(sessions)
    with sessions() as session:  # the rows go and their objects are noted, then it stops
        batch = delete_batch(session, job_id, plan, object_keys)
        session.commit()
    noted = object_keys(batch.plan)
    with sessions() as session:
        assert pending_objects(session, JOB_KIND) == {job_id: noted}
    broken = check_consistency(sessions, store, vectors)
    assert broken.objects_without_row == len(noted) and len(noted) > 0
    assert all(store.exists(key) for key in noted)
    report = run_retention_job(sessions, store, vectors, CONFIG, "test", now=NOW)[1]
    assert not any(store.exists(key) for key in noted)
    assert report.objects >= len(noted)
    with sessions() as session:
        assert pending_objects(session, JOB_KIND) == {}
    assert not store.exists(material.segment_keys[("cam-a", 40)])
    assert check_consistency(sessions, store, vectors).total == 0
