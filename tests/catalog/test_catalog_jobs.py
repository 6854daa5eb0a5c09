"""Job leases in the catalog, on SQLite and a real PostgreSQL: holders, heartbeats, take-over,
conditional writes, release, and the 0005 migration's owner back-fill."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from tests.migration_support import upgraded_from

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def state_of(sessions: sessionmaker[Session], job_id: str) -> tuple[str, float]:
    with sessions() as session:
        job = catalog.get_job(session, job_id)
        assert job is not None
        return job.state, job.progress


def test_only_the_holder_writes_and_cancel_wins(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        job_id = catalog.create_held_job(session, "search:track", "ana", {"top_k": 5}, "r1")
        assert catalog.job_owner(session, job_id) == "ana"
        assert catalog.job_owner(session, "nope") is None
    with sessions.begin() as session:
        assert not catalog.start_held_job(session, job_id, "r2")  # not its holder
        assert catalog.start_held_job(session, job_id, "r1")
        assert not catalog.start_held_job(session, job_id, "r1")  # already running
        assert catalog.record_progress(session, job_id, "r1", 0.25)
        assert not catalog.record_progress(session, job_id, "r2", 0.5)
    assert state_of(sessions, job_id) == ("running", 0.25)
    with sessions.begin() as session:
        assert catalog.cancel_live_job(session, job_id)
        assert not catalog.cancel_live_job(session, job_id)
    with sessions.begin() as session:
        assert not catalog.record_progress(session, job_id, "r1", 0.5)
        assert not catalog.finish_held_job(session, job_id, "r1", "succeeded", {"total": 0})
    assert state_of(sessions, job_id) == ("cancelled", 0.25)
    with sessions() as session, pytest.raises(ValueError, match="progress"):
        catalog.record_progress(session, job_id, "r1", 1.5)
    with sessions() as session, pytest.raises(ValueError, match="state"):
        catalog.finish_held_job(session, job_id, "r1", "running")


def test_finish_records_the_result_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        job_id = catalog.create_held_job(session, "search:attributes", "ana", {}, "r1")
        catalog.start_held_job(session, job_id, "r1")
        result = {"total": 1, "hits": [{"track_id": 7, "score": 0.9}]}
        assert catalog.finish_held_job(session, job_id, "r1", "succeeded", result)
        assert not catalog.cancel_live_job(session, job_id)  # finished jobs stay as they are
        never_started = catalog.create_held_job(session, "search:track", "ana", {}, "r1")
        assert catalog.finish_held_job(session, never_started, "r1", "failed", error="no seed")
    with sessions() as session:
        job = catalog.get_job(session, job_id)
        assert job is not None
        assert (job.state, job.progress, job.result) == ("succeeded", 1.0, result)


def test_stale_jobs_are_taken_over_once(sessions: sessionmaker[Session]) -> None:
    stale_before = T0 - LEASE
    with sessions.begin() as session:
        dead = catalog.create_held_job(session, "search:track", "ana", {}, "dead")
        catalog.start_held_job(session, dead, "dead")
        catalog.record_progress(session, dead, "dead", 0.5)
        live = catalog.create_held_job(session, "search:track", "ana", {}, "live")
        other_kind = catalog.create_held_job(session, "export", "ana", {}, "dead")
        catalog.beat(session, "dead", now=T0 - 2 * LEASE)
        assert catalog.beat(session, "live", now=T0) == 1
    with sessions() as session:
        assert catalog.orphaned_job_ids(session, "search:", stale_before) == [dead]
        assert catalog.orphaned_job_ids(session, "", stale_before) == [dead, other_kind]
        assert catalog.orphaned_job_ids(session, "search%", stale_before) == []  # literal prefix
    with sessions.begin() as session:
        assert not catalog.take_over_job(session, live, "new", stale_before, T0)
        assert catalog.take_over_job(session, dead, "new", stale_before, T0)
        assert not catalog.take_over_job(session, dead, "other", stale_before, T0)
    assert state_of(sessions, dead) == ("queued", 0.0)  # run again from the start
    with sessions.begin() as session:
        assert not catalog.record_progress(session, dead, "dead", 0.75)  # the dead one lost it
        assert catalog.start_held_job(session, dead, "new")


def test_two_runners_racing_for_an_orphan_get_it_once(sessions: sessionmaker[Session]) -> None:
    stale_before = T0 - LEASE
    with sessions.begin() as session:
        job_id = catalog.create_held_job(session, "search:track", "ana", {}, "dead")
        catalog.beat(session, "dead", now=T0 - 2 * LEASE)
    outcome: dict[str, bool] = {}
    first = sessions()
    assert catalog.take_over_job(first, job_id, "first", stale_before, T0)

    def second() -> None:  # waits for the first transaction's lock, then finds it taken
        with sessions.begin() as session:
            outcome["second"] = catalog.take_over_job(session, job_id, "second", stale_before, T0)

    racer = threading.Thread(target=second)
    racer.start()
    first.commit()
    first.close()
    racer.join(30)
    assert outcome == {"second": False}
    with sessions.begin() as session:
        assert catalog.start_held_job(session, job_id, "first")


def test_release_hands_unfinished_jobs_to_the_next_runner(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        running = catalog.create_held_job(session, "search:track", "ana", {}, "r1")
        catalog.start_held_job(session, running, "r1")
        catalog.record_progress(session, running, "r1", 0.4)
        queued = catalog.create_held_job(session, "search:track", "ana", {}, "r1")
        done = catalog.create_held_job(session, "search:track", "ana", {}, "r1")
        catalog.start_held_job(session, done, "r1")
        catalog.finish_held_job(session, done, "r1", "failed", error="boom")
        assert catalog.release_jobs(session, "r1") == 2
    with sessions() as session:  # a released job is orphaned at once, whatever the time
        assert catalog.orphaned_job_ids(session, "search:", T0 - timedelta(days=365)) == [
            running,
            queued,
        ]
    assert state_of(sessions, running) == ("queued", 0.0)
    assert state_of(sessions, done) == ("failed", 0.0)


def test_migration_0005_fills_owner_from_params(catalog_url: str) -> None:
    insert = (
        "INSERT INTO jobs (id, kind, state, progress, params, created_at, updated_at)"
        " VALUES ('j1', 'search:track', 'succeeded', 1.0, :params, :at, :at),"
        " ('j2', 'reindex', 'queued', 0.0, :empty, :at, :at)"
    )
    params = {"params": '{"owner": "ana", "top_k": 5}', "empty": "{}", "at": T0}
    with upgraded_from(catalog_url, "0004_zones", insert, params) as session:
        assert catalog.job_owner(session, "j1") == "ana"
        assert catalog.job_owner(session, "j2") is None
        job = catalog.get_job(session, "j1")
        assert job is not None and job.params == {"owner": "ana", "top_k": 5}
