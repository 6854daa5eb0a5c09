"""Async search jobs: start, progress, paged results, cancel, ownership, audit, and restarts:
jobs live in the catalog, so a new API process on the same catalog serves or finishes them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from index.catalog import (
    AttributeFilter,
    TrackQuery,
    audit_entries,
    beat,
    create_api_key,
    create_held_job,
    get_job,
    init_catalog,
    job_owner,
    principal_for_key,
    record_progress,
    session_factory,
    start_held_job,
)
from index.catalog.rows import utc_now
from index.job_runner import LEASE_S
from search_api import search_jobs
from search_api.app import create_app
from search_api.search_jobs import SearchJobRunner, job_request
from tests.api_support import BASE_URL, T0, ApiEnv, api_env

API = "/api/v1/jobs"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("jobs")) as built:
        yield built


def owner_id(env: ApiEnv, key: str = "investigator") -> str:
    """The job owner id of a test key (jobs belong to a key id, not a name)."""
    with env.context.sessions() as session:
        principal = principal_for_key(session, env.keys[key])
    assert principal is not None
    return principal.principal_id


def wait_done(env: ApiEnv, job_id: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = env.client.get(f"{API}/{job_id}?limit=500", headers=env.headers()).json()
        if job["state"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_track_job_gives_the_same_ranking_as_the_synchronous_search(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_jobs, "SLICE_TRACKS", 3)  # many slices: merge across them
    seed = env.persons[0]
    started = env.client.post(
        f"{API}/search",
        json={"kind": "track", "track_id": seed, "top_k": 10, **env.access()},
        headers=env.headers(),
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert started.json()["state"] in {"queued", "running", "succeeded"}
    job = wait_done(env, job_id)
    assert job["state"] == "succeeded" and job["progress"] == 1.0 and job["total_hits"] == 10
    sync = env.client.post(
        f"/api/v1/search/track/{seed}", json={"top_k": 10, **env.access()}, headers=env.headers()
    ).json()
    assert [h["track_id"] for h in job["hits"]] == [h["track_id"] for h in sync["hits"]]
    page = env.client.get(f"{API}/{job_id}?offset=3&limit=4", headers=env.headers()).json()
    assert [h["track_id"] for h in page["hits"]] == [h["track_id"] for h in job["hits"][3:7]]
    assert page["hits"][0]["thumbnail_url"].startswith("http://testserver/api/v1/pictures/")
    with env.context.sessions() as session:
        actions = [(e.action, e.target) for e in audit_entries(session, principal="ana")]
    assert ("search", f"job:{job_id}") in actions
    assert ("search_job_finished", f"job:{job_id}") in actions


def test_attribute_and_text_jobs(env: ApiEnv) -> None:
    started = env.client.post(
        f"{API}/search", json={"kind": "attributes", "classes": ["car"], "colour": "red"},
        headers=env.headers(),
    )  # fmt: skip
    assert started.status_code == 202, started.text
    job = wait_done(env, started.json()["id"])
    assert [h["track_id"] for h in job["hits"]] == [env.vehicles["red_car"]]
    text = env.client.post(
        f"{API}/search", json={"kind": "text", "text": "白色轿车"}, headers=env.headers()
    )
    assert text.status_code == 202, text.text
    assert [h["track_id"] for h in wait_done(env, text.json()["id"])["hits"]] == [
        env.vehicles["white_car"]
    ]


def hold_first_progress(
    monkeypatch: pytest.MonkeyPatch, until: Callable[[], bool]
) -> threading.Event:
    """After the first progress a worker writes, hold it until `until()` holds; the event
    returned is set once a worker is held."""
    reached = threading.Event()
    original = search_jobs.record_progress

    def held(session: Session, job_id: str, runner_id: str, progress: float) -> bool:
        changed = original(session, job_id, runner_id, progress)
        if not reached.is_set():
            session.commit()  # visible to readers while the worker is held
            reached.set()
            deadline = time.monotonic() + 20
            while not until():
                assert time.monotonic() < deadline, "the test never released the worker"
                time.sleep(0.01)
        return changed

    monkeypatch.setattr(search_jobs, "SLICE_TRACKS", 2)  # many slices
    monkeypatch.setattr(search_jobs, "record_progress", held)
    return reached


def test_cancel_a_running_job(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job is cancelled at once; its worker stops after the slice it is in."""
    release = threading.Event()
    reached = hold_first_progress(monkeypatch, release.is_set)
    started = env.client.post(
        f"{API}/search",
        json={"kind": "track", "track_id": env.persons[0], "top_k": 5, **env.access()},
        headers=env.headers(),
    )
    job_id = started.json()["id"]
    assert reached.wait(20)
    running = env.client.get(f"{API}/{job_id}", headers=env.headers()).json()
    assert running["state"] == "running" and 0 < running["progress"] < 1
    cancelled = env.client.delete(f"{API}/{job_id}", headers=env.headers())
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    release.set()
    env.client.app.state.search_jobs.wait(job_id, 20)  # type: ignore[attr-defined]
    job = env.client.get(f"{API}/{job_id}", headers=env.headers()).json()
    assert job["state"] == "cancelled" and job["progress"] == running["progress"]
    assert job["hits"] == [] and job["total_hits"] is None


def test_progress_counts_the_rows_in_the_time_window(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    fractions: list[float] = []
    original = search_jobs.record_progress

    def recorded(session: Session, job_id: str, runner_id: str, progress: float) -> bool:
        fractions.append(progress)
        return original(session, job_id, runner_id, progress)

    monkeypatch.setattr(search_jobs, "ATTRIBUTE_PROGRESS_ROWS", 1)
    monkeypatch.setattr(search_jobs, "record_progress", recorded)
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(seconds=35)).isoformat()}
    started = env.client.post(
        f"{API}/search",
        json={"kind": "attributes", "classes": ["person"], **window, **env.access()},
        headers=env.headers(),
    )
    job = wait_done(env, started.json()["id"])
    assert sorted(h["track_id"] for h in job["hits"]) == sorted(env.persons[:4])
    assert fractions == [0.25, 0.5, 0.75, 1.0]  # 4 persons start in the window, of 20


def test_jobs_are_private_and_checked(env: ApiEnv) -> None:
    started = env.client.post(
        f"{API}/search", json={"kind": "attributes", "classes": ["bus"]}, headers=env.headers()
    )
    job_id = started.json()["id"]
    assert env.client.get(f"{API}/{job_id}", headers=env.headers("other")).status_code == 404
    assert env.client.delete(f"{API}/{job_id}", headers=env.headers("other")).status_code == 404
    with env.context.sessions() as session:
        admin = {"X-API-Key": create_api_key(session, "adam", "admin")}
        session.commit()
    assert env.client.get(f"{API}/{job_id}", headers=admin).json()["id"] == job_id
    assert env.client.get(f"{API}/nope", headers=env.headers()).status_code == 404
    no_case = env.client.post(
        f"{API}/search", json={"kind": "attributes", "classes": ["person"]}, headers=env.headers()
    )
    assert no_case.status_code == 403
    missing = env.client.post(f"{API}/search", json={"kind": "track"}, headers=env.headers())
    assert missing.status_code == 422 and "track_id" in missing.text
    unknown = env.client.post(
        f"{API}/search", json={"kind": "track", "track_id": 999999, **env.access()},
        headers=env.headers(),
    )  # fmt: skip
    assert unknown.status_code == 404
    wait_done(env, job_id)
    done = env.client.post(f"{API}/{job_id}/cancel", headers=env.headers()).json()
    assert done["state"] == "succeeded"  # cancelling a finished job changes nothing


def test_stored_filters_read_back_the_same() -> None:
    filters = TrackQuery(
        camera_ids=("cam1", "cam2"),
        start=T0,
        end=T0 + timedelta(hours=2),
        class_names=("person",),
        attributes=AttributeFilter(upper_colour="white", direction="W", min_confidence=0.4),
        zone_ids=(3, 7),
    )
    assert TrackQuery.from_json(filters.as_json()) == filters
    assert TrackQuery.from_json(TrackQuery().as_json()) == TrackQuery()


# ---- restarts --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    """A catalog whose own API runs no jobs: each test starts and stops its API processes."""
    with api_env(tmp_path_factory.mktemp("restarts")) as built:
        built.client.app.state.search_jobs.shutdown()  # type: ignore[attr-defined]
        yield built


@contextmanager
def api_process(env: ApiEnv) -> Iterator[TestClient]:
    """Another API process on the same SQLite catalog file: its own engine and job runner."""
    engine = init_catalog(env.context.sessions.kw["bind"].url.render_as_string(False))
    context = replace(env.context, sessions=session_factory(engine))
    try:
        with TestClient(create_app(context), base_url=BASE_URL) as client:
            yield client
    finally:
        engine.dispose()


def runner_of(client: TestClient) -> SearchJobRunner:
    runner: SearchJobRunner = client.app.state.search_jobs  # type: ignore[attr-defined]
    return runner


def ranking(job: dict) -> list[tuple[int, float, dict]]:
    return [(h["track_id"], h["score"], h["why"]) for h in job["hits"]]


def test_a_finished_job_is_served_after_a_restart(quiet: ApiEnv) -> None:
    body = {"kind": "track", "track_id": quiet.persons[0], "top_k": 8, **quiet.access()}
    with api_process(quiet) as first:
        job_id = first.post(f"{API}/search", json=body, headers=quiet.headers()).json()["id"]
        runner_of(first).wait(job_id, 30)
        before = first.get(f"{API}/{job_id}?limit=500", headers=quiet.headers()).json()
    assert before["state"] == "succeeded" and before["total_hits"] == 8
    with api_process(quiet) as second:
        after = second.get(f"{API}/{job_id}?limit=500", headers=quiet.headers()).json()
        page = second.get(f"{API}/{job_id}?offset=2&limit=3", headers=quiet.headers()).json()
        assert second.get(f"{API}/{job_id}", headers=quiet.headers("other")).status_code == 404
    assert (after["state"], after["progress"], after["total_hits"]) == ("succeeded", 1.0, 8)
    assert ranking(after) == ranking(before)
    assert ranking(page) == ranking(before)[2:5]


def test_a_job_stopped_mid_way_finishes_after_a_restart(
    quiet: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean shutdown hands the job back, queued; the next process runs it from the start."""
    body = {"kind": "track", "track_id": quiet.persons[1], "top_k": 6, **quiet.access()}
    stopped: list[SearchJobRunner] = []
    reached = hold_first_progress(monkeypatch, lambda: stopped[0].stopping)
    with api_process(quiet) as first:
        stopped.append(runner_of(first))
        job_id = first.post(f"{API}/search", json=body, headers=quiet.headers()).json()["id"]
        assert reached.wait(20)
        mid_way = first.get(f"{API}/{job_id}", headers=quiet.headers()).json()
    # Leaving the block stopped the API: the worker saw it at its next slice.
    assert mid_way["state"] == "running" and 0 < mid_way["progress"] < 1
    with quiet.context.sessions() as session:
        handed_back = get_job(session, job_id)
        assert handed_back is not None and job_owner(session, job_id) == owner_id(quiet)
    assert (handed_back.state, handed_back.progress, handed_back.result) == ("queued", 0.0, None)
    with api_process(quiet) as second:
        runner_of(second).wait(job_id, 30)  # taken over at start-up
        job = second.get(f"{API}/{job_id}?limit=500", headers=quiet.headers()).json()
        sync = second.post(
            f"/api/v1/search/track/{quiet.persons[1]}", json={"top_k": 6, **quiet.access()},
            headers=quiet.headers(),
        ).json()  # fmt: skip
    assert (job["state"], job["progress"], job["error"]) == ("succeeded", 1.0, None)
    assert [h["track_id"] for h in job["hits"]] == [h["track_id"] for h in sync["hits"]]


def test_jobs_of_a_dead_process_are_taken_over_and_a_live_ones_are_not(quiet: ApiEnv) -> None:
    """A running job whose heartbeat is older than the lease is re-run by the next process;
    one another live process holds stays there, and cancelling it stops that process."""
    red_cars = TrackQuery(class_names=("car",), attributes=AttributeFilter(colour="red"))
    request = job_request("attributes", "investigator", red_cars, 10)
    long_ago = utc_now() - timedelta(seconds=2 * LEASE_S)
    ana = owner_id(quiet)
    with quiet.context.sessions() as session:
        dead = create_held_job(session, "search:attributes", ana, request, "dead-runner")
        assert start_held_job(session, dead, "dead-runner")
        assert record_progress(session, dead, "dead-runner", 0.5)
        gone_seed = job_request("track", "investigator", TrackQuery(), 5, track_id=999_999)
        lost = create_held_job(session, "search:track", ana, gone_seed, "dead-runner")
        old = create_held_job(session, "search:track", ana, {"owner": "ana"}, "dead-runner")
        assert beat(session, "dead-runner", now=long_ago) == 3
        alive = create_held_job(session, "search:attributes", ana, request, "live-runner")
        session.commit()
    with api_process(quiet) as client:
        runner = runner_of(client)
        runner.wait(dead, 30)
        with pytest.raises(KeyError):
            runner.wait(alive, 0)
        taken = client.get(f"{API}/{dead}", headers=quiet.headers()).json()
        assert taken["state"] == "succeeded"
        assert [h["track_id"] for h in taken["hits"]] == [quiet.vehicles["red_car"]]
        for job_id, error in (
            (lost, "LookupError: seed track 999999 no longer exists"),
            (old, "ValueError: the stored request lacks ['filters', 'kind', 'role', 'top_k']"),
        ):
            runner.wait(job_id, 30)
            failed = client.get(f"{API}/{job_id}", headers=quiet.headers()).json()
            assert failed["state"] == "failed" and failed["error"].startswith(error)
        held = client.get(f"{API}/{alive}", headers=quiet.headers()).json()
        assert held["state"] == "queued"
        cancelled = client.post(f"{API}/{alive}/cancel", headers=quiet.headers())
        assert cancelled.json()["state"] == "cancelled"
    with quiet.context.sessions() as session:
        assert not start_held_job(session, alive, "live-runner")  # the live process stops
