"""What the jobs page's re-index form offers (issue #18): GET /reindex/models lists the
registry's detectors and the embedders, then the models of the catalog's index versions (a
learned re-ID metric's embedder among them), marking the live version's; re-index roles only."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from index.catalog import create_api_key
from index.catalog.reindex import add_index_version
from index.reindex_jobs import EMBEDDER_MODELS, MAX_PRIORITY
from search_api.app import API_PREFIX, create_app
from tests.api_support import BASE_URL, empty_context

MODELS = f"{API_PREFIX}/reindex/models"
METRIC_EMBEDDER = "mobilenetv2-embedder+reid:0a1b2c3d"
DETECTORS = ["nanodet", "nanodet-int8", "ultralytics"]


def test_the_form_is_offered_the_registry_and_the_index_versions(tmp_path: Path) -> None:
    context = empty_context(tmp_path)
    with context.sessions() as session:
        keys = {role: create_api_key(session, role, role) for role in ("operator", "viewer")}
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        client.headers["X-API-Key"] = keys["operator"]
        before = client.get(MODELS).json()
        assert [d["name"] for d in before["detectors"]] == DETECTORS
        assert [d["argument"] for d in before["detectors"]] == [None, None, "PATH"]
        assert [e["name"] for e in before["embedders"]] == list(EMBEDDER_MODELS)
        assert not any(c["live"] for c in before["detectors"] + before["embedders"])
        assert before["max_priority"] == MAX_PRIORITY

        with context.sessions() as session:
            add_index_version(
                session, "v-live", "nanodet-int8@448x256", "mobilenetv2-embedder-int8", 8, "live"
            )
            add_index_version(session, "v-metric", "nanodet@448x256", METRIC_EMBEDDER, 8)
            session.commit()
        after = client.get(MODELS).json()
        live = {c["name"] for c in after["detectors"] + after["embedders"] if c["live"]}
        assert live == {"nanodet-int8", "mobilenetv2-embedder-int8"}
        assert [d["name"] for d in after["detectors"]] == DETECTORS
        assert [e["name"] for e in after["embedders"]] == [*EMBEDDER_MODELS, METRIC_EMBEDDER]
        # what the form offers is what a job accepts
        job = {
            "camera_ids": ["nope"], "start": "2026-12-01T08:00:00Z",
            "end": "2026-12-01T09:00:00Z", "detector": "nanodet", "embedder": METRIC_EMBEDDER,
        }  # fmt: skip
        assert client.post(f"{API_PREFIX}/reindex", json=job).status_code == 404  # the camera
        assert client.get(MODELS, headers={"X-API-Key": keys["viewer"]}).status_code == 403
