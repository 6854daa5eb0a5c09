"""Keys and job ownership (#12 items 6, 8): unique active names, revoke hits exactly one key,
only the four roles, known cameras, expiry; an admin key API; jobs belong to a key id and
their results are cut to the reader's cameras."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from index.catalog import (
    create_api_key,
    list_api_keys,
    principal_for_key,
    revoke_api_key,
)
from index.catalog.rows import ApiKeyRow, utc_now
from tests.api_support import ApiEnv, api_env

JOBS = "/api/v1/jobs"
KEYS = "/api/v1/keys"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("keys")) as built:
        with built.context.sessions() as session:
            built.keys["admin"] = create_api_key(session, "root", "admin")
            built.keys["cam1 admin"] = create_api_key(session, "cam1 root", "admin", ["cam1"])
            session.commit()
        yield built


def test_key_names_are_unique_roles_fixed_cameras_known_and_revoke_hits_one(
    env: ApiEnv,
) -> None:
    with env.context.sessions() as session:
        with pytest.raises(ValueError, match="already named 'ana'"):
            create_api_key(session, "ana", "viewer", ["cam2"])
        with pytest.raises(ValueError, match="role 'superuser' is invalid"):
            create_api_key(session, "eve", "superuser")
        with pytest.raises(ValueError, match="no camera \\['nowhere'\\]"):
            create_api_key(session, "eve", "viewer", ["nowhere"])
        with pytest.raises(ValueError, match="not in the future"):
            create_api_key(session, "eve", "viewer", None, utc_now() - timedelta(days=1))
        first = create_api_key(session, "temp", "viewer")
        assert revoke_api_key(session, "temp") == 1
        second = create_api_key(session, "temp", "viewer")  # the name is free again
        assert revoke_api_key(session, "temp") == 1  # exactly the active one
        assert [k.revoked_at is not None for k in list_api_keys(session) if k.name == "temp"] == [
            True, True,
        ]  # fmt: skip
        expiring = create_api_key(session, "soon", "viewer", None, utc_now() + timedelta(days=1))
        assert principal_for_key(session, expiring) is not None
        row = session.query(ApiKeyRow).filter_by(name="soon").one()
        row.expires_at = utc_now() - timedelta(seconds=1)
        session.flush()
        assert principal_for_key(session, expiring) is None
        assert (
            principal_for_key(session, first) is None and principal_for_key(session, second) is None
        )
        session.rollback()


def test_admins_list_issue_and_revoke_keys_over_the_api(env: ApiEnv) -> None:
    client = env.client
    admin = env.headers("admin")
    assert client.get(KEYS, headers=env.headers("investigator")).status_code == 403
    issued = client.post(KEYS, json={"name": "kiosk", "role": "viewer", "camera_ids": ["cam2"]},
                         headers=admin)  # fmt: skip
    assert issued.status_code == 201, issued.text
    kiosk = issued.json()
    assert kiosk["key"].startswith("skn_") and kiosk["camera_ids"] == ["cam2"]
    kiosk_headers = {"X-API-Key": kiosk["key"]}
    assert client.get("/api/v1/healthz", headers=kiosk_headers).status_code == 200
    listed = client.get(KEYS, headers=admin).json()
    assert [k["name"] for k in listed if k["id"] == kiosk["id"]] == ["kiosk"]
    assert all("key" not in k for k in listed)
    again = client.post(KEYS, json={"name": "kiosk", "role": "viewer"}, headers=admin)
    assert again.status_code == 409
    for bad in ({"name": "x", "role": "superuser"}, {"name": "x", "role": "viewer",
                                                     "camera_ids": ["nowhere"]}):  # fmt: skip
        refused = client.post(KEYS, json=bad, headers=admin)
        assert refused.status_code == 422, refused.text
    assert client.delete(f"{KEYS}/{kiosk['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/healthz", headers=kiosk_headers).status_code == 401
    assert client.delete(f"{KEYS}/{kiosk['id']}", headers=admin).status_code == 404


def wait_done(env: ApiEnv, job_id: str, key: str) -> dict:
    for _ in range(600):
        job = env.client.get(f"{JOBS}/{job_id}?limit=500", headers=env.headers(key)).json()
        if job["state"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_belongs_to_its_key_not_to_a_name(env: ApiEnv) -> None:
    with env.context.sessions() as session:
        owner_key = create_api_key(session, "shared", "investigator")
        session.commit()
    body = {"kind": "attributes", "classes": ["car"], "top_k": 10}
    started = env.client.post(f"{JOBS}/search", json=body, headers={"X-API-Key": owner_key})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    with env.context.sessions() as session:
        revoke_api_key(session, "shared")
        successor = create_api_key(session, "shared", "investigator", ["cam2"])
        session.commit()
    other = {"X-API-Key": successor}
    assert env.client.get(f"{JOBS}/{job_id}", headers=other).status_code == 404
    assert env.client.post(f"{JOBS}/{job_id}/cancel", headers=other).status_code == 404


def test_job_results_are_cut_to_the_readers_cameras(env: ApiEnv) -> None:
    body = {"kind": "attributes", "top_k": 200, **env.access()}
    started = env.client.post(f"{JOBS}/search", json=body, headers=env.headers("admin"))
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    every = wait_done(env, job_id, "admin")
    cameras = {h["camera_id"] for h in every["hits"]}
    assert "cam1" in cameras and len(cameras) > 1, cameras
    limited = env.client.get(f"{JOBS}/{job_id}?limit=500", headers=env.headers("cam1 admin"))
    assert limited.status_code == 200
    assert {h["camera_id"] for h in limited.json()["hits"]} == {"cam1"}
    assert limited.json()["total_hits"] == sum(h["camera_id"] == "cam1" for h in every["hits"])
