"""Re-index API (#15) on real recorded segments: start, progress, pause / resume / cancel, who
may; searches during a job use the live version only, and follow the switch when it ends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from index.catalog import create_api_key, create_case, tracks_by_ids, upsert_camera
from index.catalog.rows import TrackRow
from index.catalog.values import CameraSpec
from ingest.segment import Segment
from models.registry import default_cache_dir
from sample_streams.footage import CameraFiles
from search_api.app import API_PREFIX, create_app
from skynet.reindex_service import ReindexService, api_follows_live
from skynet.settings import Settings
from tests.api_support import BASE_URL, empty_context
from tests.index.reindex_support import FOOTAGE_START, CountingExecutor, archive_in, record_segments

REINDEX = f"{API_PREFIX}/reindex"
pytestmark = pytest.mark.slow  # real 1080p decode + detection


@pytest.fixture(scope="module")
def footage(
    sample_cameras: list[CameraFiles], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Path, Segment]]]:
    spool = tmp_path_factory.mktemp("footage")
    return {"cam1": record_segments(sample_cameras[0].main_path, spool, "cam1", 8.0, 4.0)}


@dataclass
class ReindexApi:
    client: TestClient
    app: FastAPI
    service: ReindexService
    keys: dict[str, str]
    case_id: str

    def as_(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


@pytest.fixture
def api(tmp_path: Path, footage: dict[str, list[tuple[Path, Segment]]]) -> Iterator[ReindexApi]:
    context = empty_context(tmp_path)
    archive_in(context.sessions, context.store, tmp_path, footage)
    settings = Settings(data_dir=tmp_path, models_dir=default_cache_dir().resolve())
    service = ReindexService(
        settings,
        context.sessions,
        context.store,
        on_vectors=lambda version, ids, vectors: app.state.context.vectors.add(list(ids), vectors),
    )
    keys = {}
    with context.sessions() as session:
        upsert_camera(session, CameraSpec("cam2", "cam2", "rtsp://10.0.0.9/2"))
        for role in ("operator", "investigator", "viewer"):
            keys[role] = create_api_key(session, role, role)
        keys["cam2-operator"] = create_api_key(session, "op2", "operator", camera_ids=["cam2"])
        case_id = create_case(session, "re-index check", "investigator")
        session.commit()
    service.record_live(context.vectors.embedding_version, context.vectors.dim)
    app = create_app(context)
    api_follows_live(service, app, context.vectors.embedding_version)
    with TestClient(app, base_url=BASE_URL) as client:
        client.headers["X-API-Key"] = keys["operator"]
        yield ReindexApi(client, app, service, keys, case_id)


def body(embedder: str, switch: bool = True) -> dict[str, Any]:
    return {
        "camera_ids": ["cam1"],
        "start": FOOTAGE_START.isoformat(),
        "end": (FOOTAGE_START + timedelta(minutes=5)).isoformat(),
        "detector": "nanodet-int8",
        "embedder": embedder,
        "switch": switch,
    }


def search_versions(api: ReindexApi, track_id: int | None) -> set[str | None]:
    """The embedding versions of the hits an investigator's search by `track_id` (None: by
    attributes, every person) returns."""
    access = {"top_k": 200, "case_id": api.case_id, "purpose": "re-index check"}
    found = api.client.post(
        f"{API_PREFIX}/search/track/{track_id}"
        if track_id is not None
        else f"{API_PREFIX}/search/attributes",
        json=access if track_id is not None else {**access, "classes": ["person"]},
        headers=api.as_("investigator"),
    )
    assert found.status_code == 200, found.text
    ids = [hit["track_id"] for hit in found.json()["hits"]]
    assert ids, "the search found nothing"
    with api.app.state.context.sessions() as session:
        return {t.embedding_version for t in tracks_by_ids(session, ids)}


def job_versions(api: ReindexApi, track_id: int) -> set[str | None]:
    """The embedding versions of the hits of a search job by `track_id`."""
    access = {"top_k": 200, "case_id": api.case_id, "purpose": "re-index check"}
    started = api.client.post(
        f"{API_PREFIX}/jobs/search",
        json={"kind": "track", "track_id": track_id, **access},
        headers=api.as_("investigator"),
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    api.app.state.search_jobs.wait(job_id, 60)
    job = api.client.get(f"{API_PREFIX}/jobs/{job_id}", headers=api.as_("investigator")).json()
    assert job["state"] == "succeeded", job
    ids = [hit["track_id"] for hit in job["hits"]]
    assert ids, "the search job found nothing"
    with api.app.state.context.sessions() as session:
        return {t.embedding_version for t in tracks_by_ids(session, ids)}


def test_reindex_jobs_through_the_api_and_searches_on_the_live_version_only(api: ReindexApi):
    live = api.app.state.context.vectors.embedding_version
    # 1. the live models over the archive: into the live index at once, no switch
    started = api.client.post(REINDEX, json=body("mobilenetv2-embedder"))
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "queued"
    assert api.service.runner.run_next()
    first = api.client.get(f"{REINDEX}/{started.json()['id']}").json()
    assert first["state"] == "succeeded" and first["segments_done"] == 2
    assert first["result"]["version"] == live and first["result"]["switched"] is False
    with api.app.state.context.sessions() as session:
        seed = session.scalars(select(TrackRow.id).where(TrackRow.class_name == "person")).first()
    assert seed is not None
    assert search_versions(api, seed) == {live}
    assert search_versions(api, None) == {live}

    # 2. a new embedder: a shadow version; while it runs searches stay on the live one
    during: list[set[str | None]] = []
    context = api.service.context
    api.service.runner.executor = CountingExecutor(
        context, lambda n: during.append(search_versions(api, seed) | search_versions(api, None))
    )
    second = api.client.post(REINDEX, json=body("mobilenetv2-embedder-int8"))
    assert second.status_code == 202, second.text
    assert api.service.runner.run_next()
    assert during == [{live}, {live}]
    done = api.client.get(f"{REINDEX}/{second.json()['id']}").json()
    new = done["result"]["version"]
    assert done["state"] == "succeeded" and done["result"]["switched"] is True and new != live
    assert done["result"]["tracks_replaced"] == 0  # nothing of the new version to replace
    assert done["result"]["live_segments_left_out"] == 0  # footage of March: long settled
    versions = {v["version"]: v["state"] for v in api.client.get(f"{REINDEX}/versions").json()}
    assert versions == {live: "kept", new: "live"}

    # 3. after the switch the API searches the new version (a seed of the old one is refused)
    assert api.app.state.context.vectors.embedding_version == new
    with api.app.state.context.sessions() as session:
        new_seed = session.scalars(
            select(TrackRow.id).where(
                TrackRow.class_name == "person", TrackRow.embedding_version == new
            )
        ).first()
    assert new_seed is not None
    assert search_versions(api, new_seed) == {new}
    assert search_versions(api, None) == {new}  # the kept version's tracks are left out
    # a search job started after the switch ranks on the new version too (its runner began
    # with the app, before the switch)
    assert job_versions(api, new_seed) == {new}
    refused = api.client.post(
        f"{API_PREFIX}/search/track/{seed}",
        json={"top_k": 5, "case_id": api.case_id, "purpose": "re-index check"},
        headers=api.as_("investigator"),
    )
    assert refused.status_code in (400, 422), refused.text
    listed = api.client.get(REINDEX, params={"state": "succeeded"}).json()
    assert {j["id"] for j in listed} == {started.json()["id"], second.json()["id"]}


def test_pause_resume_cancel_and_who_may(api: ReindexApi):
    job = api.client.post(REINDEX, json=body("mobilenetv2-embedder", switch=False)).json()
    paused = api.client.post(f"{REINDEX}/{job['id']}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert api.client.post(f"{REINDEX}/{job['id']}/pause").status_code == 409
    assert not api.service.runner.run_next()  # nobody runs a paused job
    resumed = api.client.post(f"{REINDEX}/{job['id']}/resume")
    assert resumed.json()["state"] == "queued"
    cancelled = api.client.post(f"{REINDEX}/{job['id']}/cancel")
    assert cancelled.json()["state"] == "cancelled"
    refused = api.client.post(f"{REINDEX}/{job['id']}/resume")
    assert refused.status_code == 409 and "was cancelled: cannot resume it" in refused.text

    assert api.client.post(REINDEX, json=body("x"), headers=api.as_("viewer")).status_code == 403
    assert (
        api.client.post(REINDEX, json=body("x"), headers=api.as_("investigator")).status_code == 403
    )
    other = api.as_("cam2-operator")  # an operator of cam2 only: cam1's job does not exist
    assert api.client.get(f"{REINDEX}/{job['id']}", headers=other).status_code == 404
    assert (
        api.client.post(REINDEX, json=body("mobilenetv2-embedder"), headers=other).status_code
        == 404
    )
    bad = api.client.post(REINDEX, json=body("no-such-embedder"))
    assert bad.status_code == 422 and "mobilenetv2-embedder" in bad.text
    reversed_range = {**body("mobilenetv2-embedder"), "end": "2026-03-01T00:00:00Z"}
    assert api.client.post(REINDEX, json=reversed_range).status_code == 422
    unknown = {**body("mobilenetv2-embedder"), "camera_ids": ["cam9"]}
    assert api.client.post(REINDEX, json=unknown).status_code == 404
