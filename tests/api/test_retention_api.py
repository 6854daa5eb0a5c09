"""Retention and legal hold over the API (issue #17): admin only, a setting below the legal
floor is a 422 that changes nothing, holds are placed, audited and released, a dry run changes
nothing, a run is a job, and a track outliving its recording says so in its replies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.catalog import (
    audit_entries,
    create_api_key,
    create_case,
    get_job,
    init_catalog,
    session_factory,
)
from index.catalog.retention import DEFAULT_TIER, RetentionFloors, RetentionPolicy, RetentionTier
from index.catalog.rows import utc_now
from index.retention import RetentionConfig
from index.retention_check import check_consistency
from index.vectors import VectorIndex
from search_api.app import create_app
from search_api.context import ApiContext
from storage.local import LocalObjectStore
from tests.api_support import query_models
from tests.retention_support import DIM, GROUP, VERSION, Material, populate, set_up_cameras

B = "/api/v1"
CONFIG = RetentionConfig(
    RetentionPolicy((RetentionTier(DEFAULT_TIER, 10, 30, 30),), 365),
    RetentionFloors(segments_days=2, audit_days=365),
)


@dataclass
class Env:
    client: TestClient
    context: ApiContext
    material: Material
    case_id: str
    keys: dict[str, str]

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    store = LocalObjectStore(tmp_path / "objects", "http://test/api/v1/objects", b"k" * 32)
    vectors = VectorIndex(DIM, VERSION)
    set_up_cameras(sessions)
    material = populate(sessions, store, vectors, utc_now())
    with sessions() as session:
        keys = {role: create_api_key(session, role, role) for role in ("admin", "investigator")}
        case_id = create_case(session, "robbery", "investigator")
        session.commit()
    detector, embedder = query_models()
    context = ApiContext(
        sessions, store, vectors, detector, embedder, 600, b"k" * 32, "http://test",
        retention=CONFIG,
    )  # fmt: skip
    with TestClient(create_app(context)) as client:
        yield Env(client, context, material, case_id, keys)


def _audited(env: Env, action: str) -> int:
    with env.context.sessions() as session:
        return sum(1 for e in audit_entries(session) if e.action == action)


def test_only_admins_manage_retention(env: Env) -> None:
    inv = env.headers("investigator")
    assert env.client.get(f"{B}/retention", headers=inv).status_code == 403
    assert env.client.put(f"{B}/retention", json={}, headers=inv).status_code == 403
    assert env.client.post(f"{B}/retention/run", headers=inv).status_code == 403
    hold = {"reason": "x"}
    assert (
        env.client.post(f"{B}/cases/{env.case_id}/hold", json=hold, headers=inv).status_code == 403
    )
    assert env.client.get(f"{B}/retention").status_code == 401


def test_below_the_floor_is_refused_and_changes_nothing(env: Env) -> None:
    before = env.client.get(f"{B}/retention", headers=env.headers()).json()
    assert before["tiers"] == [
        {"group": "*", "segments_days": 10, "tracks_days": 30, "events_days": 30}
    ]
    assert before["floors"]["audit_days"] == 365 and before["audit_deleted"] is False
    good = {"group": GROUP, "segments_days": 3, "tracks_days": 3, "events_days": 3}
    for body, word in (
        ({"tiers": [good, {**good, "group": "*", "segments_days": 1}]}, "floor of 2 days"),
        ({"tiers": [good], "audit_days": 30}, "audit_days: 30 days is below"),
        ({"tiers": [{**good, "tracks_days": -5}]}, "tracks_days"),
    ):
        response = env.client.put(f"{B}/retention", json=body, headers=env.headers())
        assert response.status_code == 422, response.text
        assert word in response.json()["detail"]
    missing = env.client.put(
        f"{B}/retention", json={"tiers": [{**good, "group": "nope"}]}, headers=env.headers()
    )
    assert missing.status_code == 404
    assert env.client.get(f"{B}/retention", headers=env.headers()).json() == before
    assert _audited(env, "set_retention") == 0
    done = env.client.put(
        f"{B}/retention", json={"tiers": [good], "audit_days": 400}, headers=env.headers()
    )
    assert done.status_code == 200, done.text
    assert done.json()["audit_days"] == 400
    assert {t["group"] for t in done.json()["tiers"]} == {"*", GROUP}
    assert _audited(env, "set_retention") == 1


def test_hold_dry_run_run_and_clip_flags(env: Env) -> None:
    admin = env.headers()
    good = {"group": GROUP, "segments_days": 3, "tracks_days": 3, "events_days": 3}
    assert env.client.put(f"{B}/retention", json={"tiers": [good]}, headers=admin).is_success
    held = env.material.tracks[("cam-a", 20)][0]
    body = {"reason": "court order", "track_ids": [held]}
    for bad_id in (0, 2**63):  # not a catalog id: a 422 naming the field, nothing held
        bad = {"reason": "x", "track_ids": [bad_id]}
        refused = env.client.post(f"{B}/cases/{env.case_id}/hold", json=bad, headers=admin)
        assert refused.status_code == 422 and "track_ids" in refused.text
    hold = env.client.post(f"{B}/cases/{env.case_id}/hold", json=body, headers=admin)
    assert hold.status_code == 200, hold.text
    assert hold.json()["active"] is True
    bad = env.client.post(
        f"{B}/cases/{env.case_id}/hold", json={"reason": "x", "track_ids": [99999]}, headers=admin
    )
    assert bad.status_code == 422 and "track 99999" in bad.json()["detail"]
    assert env.client.post(f"{B}/cases/nope/hold", json=body, headers=admin).status_code == 404
    assert _audited(env, "legal_hold") == 1

    objects = len(env.context.store.list())
    dry = env.client.post(f"{B}/retention/run?dry_run=true", headers=admin)
    assert dry.status_code == 200, dry.text
    report = dry.json()["report"]
    assert report["would_delete"]["tracks"] == 7
    assert report["held_back"][0]["case_id"] == env.case_id
    assert len(env.context.store.list()) == objects
    assert len(env.context.vectors) == 16

    run = env.client.post(f"{B}/retention/run?dry_run=false", headers=admin)
    assert run.status_code == 200, run.text
    assert run.json()["report"]["deleted"]["tracks"] == 7
    assert len(env.context.vectors) == 9
    orphans = check_consistency(env.context.sessions, env.context.store, env.context.vectors)
    assert orphans.total == 0, orphans.examples
    with env.context.sessions() as session:
        job = get_job(session, run.json()["job_id"])
    assert job is not None and job.kind == "retention" and job.state == "succeeded"

    lost = env.material.tracks[("cam-b", 20)][0]  # kept 30 days, its segment only 10
    kept = env.material.tracks[("cam-b", 5)][0]
    lost_view = env.client.get(f"{B}/tracks/{lost}", headers=admin).json()
    kept_view = env.client.get(f"{B}/tracks/{kept}", headers=admin).json()
    assert lost_view["clip_available"] is False and lost_view["clip_url"] is None
    assert kept_view["clip_available"] is True and kept_view["clip_url"]
    found = env.client.post(
        f"{B}/search/track/{kept}", json={"classes": ["car"], "top_k": 50}, headers=admin
    )
    assert found.status_code == 200, found.text
    hits = {h["track_id"]: h for h in found.json()["hits"]}
    assert hits[lost]["clip_available"] is False and hits[lost]["clip_url"] is None
    sibling = env.material.tracks[("cam-b", 5)][1]
    assert hits[sibling]["clip_available"] is True and hits[sibling]["clip_url"]

    released = env.client.delete(f"{B}/cases/{env.case_id}/hold", headers=admin)
    assert released.status_code == 200 and released.json()["active"] is False
    assert env.client.delete(f"{B}/cases/{env.case_id}/hold", headers=admin).status_code == 404
    assert _audited(env, "release_legal_hold") == 1


def test_holding_a_held_case_again_replaces_its_reason_and_says_so(env: Env) -> None:
    """First-user check: a second hold with a new reason answered 200 with the old reason and
    kept it. The hold now takes the new reason, names the one it replaced and audits both;
    it still counts from when it was first placed."""
    admin, url = env.headers(), f"{B}/cases/{env.case_id}/hold"
    first = env.client.post(url, json={"reason": "preservation letter"}, headers=admin).json()
    assert first["replaced_reason"] is None
    again = env.client.post(url, json={"reason": "court order 17/2026"}, headers=admin)
    assert again.status_code == 200, again.text
    assert again.json()["reason"] == "court order 17/2026"
    assert again.json()["replaced_reason"] == "preservation letter"
    assert again.json()["held_at"] == first["held_at"] and again.json()["active"] is True
    shown = env.client.get(f"{B}/retention", headers=admin).json()["holds"]
    assert [h["reason"] for h in shown] == ["court order 17/2026"]
    same = env.client.post(url, json={"reason": "court order 17/2026"}, headers=admin).json()
    assert same["replaced_reason"] is None
    with env.context.sessions() as session:
        holds = [e for e in audit_entries(session) if e.action == "legal_hold"]
    assert [(e.purpose, e.filters["replaced_reason"]) for e in holds] == [
        ("preservation letter", None),
        ("court order 17/2026", "preservation letter"),
        ("court order 17/2026", None),
    ]


def test_a_blank_hold_reason_is_refused_not_a_server_error(env: Env) -> None:
    """A reason of spaces passes the schema's min_length; the catalog refuses it (ValueError),
    which answered 500 and left nothing said but "Internal Server Error"."""
    admin, url = env.headers(), f"{B}/cases/{env.case_id}/hold"
    blank = env.client.post(url, json={"reason": "   "}, headers=admin)
    assert blank.status_code == 422, blank.text
    assert "reason" in blank.json()["detail"]
    assert env.client.get(f"{B}/retention", headers=admin).json()["holds"] == []
