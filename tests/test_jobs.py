"""Async search jobs: start, progress, paged results, cancel, ownership and audit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from index.catalog import audit_entries, create_job, get_track
from index.catalog_values import embedding_from_bytes
from search_api import search_jobs
from search_api.search_jobs import SearchJobSpec
from search_api.search_service import SearchFilters
from tests.api_support import ApiEnv, api_env

API = "/api/v1/jobs"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("jobs")) as built:
        yield built


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
    assert page["hits"][0]["thumbnail_url"].startswith("http://testserver/api/v1/objects/")
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


def test_cancel_a_running_job(env: ApiEnv) -> None:
    """A job is cancelled between slices: it stops early and says so."""
    runner = env.client.app.state.search_jobs  # type: ignore[attr-defined]
    with env.context.sessions() as session:
        job_id = create_job(session, "search:track", {"owner": "ana"})
        session.commit()

    gate_open = threading.Event()
    original = runner._set

    def slow_set(job: str, **changes: object) -> None:
        original(job, **changes)
        if "progress" in changes:
            gate_open.wait(5)  # hold the worker after its first slice until cancel arrives

    runner._set = slow_set
    try:
        with env.context.sessions() as session:
            track = get_track(session, env.persons[0])
            assert track is not None and track.embedding is not None
        spec = SearchJobSpec(
            job_id, "track", "ana", "investigator", SearchFilters(), 5,
            np.asarray(embedding_from_bytes(track.embedding)),
        )  # fmt: skip
        search_jobs.SLICE_TRACKS, saved = 2, search_jobs.SLICE_TRACKS
        runner.submit(spec)
        deadline = time.monotonic() + 10
        while env.client.get(f"{API}/{job_id}", headers=env.headers()).json()["progress"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cancelled = env.client.delete(f"{API}/{job_id}", headers=env.headers())
        assert cancelled.status_code == 200
        gate_open.set()
        runner.wait(job_id, 10)
    finally:
        runner._set = original
        search_jobs.SLICE_TRACKS = saved
    job = env.client.get(f"{API}/{job_id}", headers=env.headers()).json()
    assert job["state"] == "cancelled" and 0 < job["progress"] < 1 and job["hits"] == []


def test_jobs_are_private_and_checked(env: ApiEnv) -> None:
    started = env.client.post(
        f"{API}/search", json={"kind": "attributes", "classes": ["bus"]}, headers=env.headers()
    )
    job_id = started.json()["id"]
    assert env.client.get(f"{API}/{job_id}", headers=env.headers("other")).status_code == 404
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
