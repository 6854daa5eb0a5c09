"""Cases guard every look-up of a person (#12 items 1, 9, 10): searches decided on what they can
return, case ownership, person track views, and the audit of refusals, job reads and pictures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from index.catalog import AuditEntry, audit_entries
from tests.api_support import ApiEnv, api_env

B = "/api/v1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("cases")) as built:
        yield built


def audit(env: ApiEnv, action: str) -> list[AuditEntry]:
    with env.context.sessions() as session:
        return [e for e in audit_entries(session) if e.action == action]


# ---- item 1: decided on what a search can return, not on its seed ----------------------------


def test_a_car_seed_cannot_find_people_without_a_case(env: ApiEnv) -> None:
    car = env.vehicles["red_car"]
    url = f"{B}/search/track/{car}"
    response = env.client.post(url, json={"classes": ["person"]}, headers=env.headers())
    assert response.status_code == 403, response.text
    assert "case_id" in response.json()["detail"]
    for body in ({"classes": ["car", "truck", "bus"]}, {"top_k": 50}):  # no classes: its kind
        vehicles_only = env.client.post(url, json=body, headers=env.headers())
        assert vehicles_only.status_code == 200, vehicles_only.text
        assert {h["class_name"] for h in vehicles_only.json()["hits"]} <= {"car", "truck", "bus"}

    found = env.client.post(
        url, json={"classes": ["person"], "top_k": 50, **env.access()}, headers=env.headers()
    )
    assert found.status_code == 200, found.text
    assert {h["class_name"] for h in found.json()["hits"]} == {"person"}
    last = [e for e in audit(env, "search") if e.target == f"track:{car}"][-1]
    assert last.case_id == env.case_id and last.purpose == "test investigation"


def test_a_car_seed_job_cannot_find_people_without_a_case(env: ApiEnv) -> None:
    seed = {"kind": "track", "track_id": env.vehicles["red_car"], "top_k": 50}
    response = env.client.post(
        f"{B}/jobs/search", json={**seed, "classes": ["person"]}, headers=env.headers()
    )
    assert response.status_code == 403, response.text
    vehicles = env.client.post(f"{B}/jobs/search", json=seed, headers=env.headers())
    assert vehicles.status_code == 202, vehicles.text  # no classes: the seed's kind, no case
    cars = env.client.post(
        f"{B}/jobs/search", json={**seed, "classes": ["car"]}, headers=env.headers()
    )
    assert cars.status_code == 202, cars.text


def test_a_hop_from_a_car_returning_confirmed_people_needs_a_case(env: ApiEnv) -> None:
    body = {"track_id": env.vehicles["red_car"], "confirmed": [env.persons[0]]}
    response = env.client.post(f"{B}/search/hop", json=body, headers=env.headers())
    assert response.status_code == 403, response.text


# ---- item 9: purpose, ownership, person track views ------------------------------------------


def test_a_blank_purpose_is_refused_naming_the_field(env: ApiEnv) -> None:
    body = {"classes": ["person"], "case_id": env.case_id, "purpose": "   "}
    response = env.client.post(f"{B}/search/attributes", json=body, headers=env.headers())
    assert response.status_code == 422, response.text
    assert "purpose" in response.json()["detail"]


def test_only_the_cases_creator_may_use_or_close_it(env: ApiEnv) -> None:
    body = {"classes": ["person"], **env.access()}  # ana's case
    as_bob = env.client.post(f"{B}/search/attributes", json=body, headers=env.headers("other"))
    assert as_bob.status_code == 403, as_bob.text
    assert "case_id" in as_bob.json()["detail"]
    as_ana = env.client.post(f"{B}/search/attributes", json=body, headers=env.headers())
    assert as_ana.status_code == 200, as_ana.text

    opened = env.client.post(f"{B}/cases", json={"title": "Ana's"}, headers=env.headers())
    case_id = opened.json()["id"]
    refused = env.client.post(f"{B}/cases/{case_id}/close", headers=env.headers("other"))
    assert refused.status_code == 403, refused.text
    assert env.client.get(f"{B}/cases/{case_id}", headers=env.headers()).json()["is_open"]
    closed = env.client.post(f"{B}/cases/{case_id}/close", headers=env.headers())
    assert closed.status_code == 200 and not closed.json()["is_open"]


def test_person_tracks_need_a_case_and_purpose_to_view(env: ApiEnv) -> None:
    person, car = env.persons[0], env.vehicles["red_car"]
    for key in ("viewer", "investigator"):
        refused = env.client.get(f"{B}/tracks/{person}", headers=env.headers(key))
        assert refused.status_code == 403, refused.text
        assert "thumbnail_url" not in refused.text
    assert env.client.get(f"{B}/tracks/{car}", headers=env.headers("viewer")).status_code == 200
    seen = env.client.get(f"{B}/tracks/{person}", params=env.access(), headers=env.headers())
    assert seen.status_code == 200, seen.text
    assert seen.json()["thumbnail_url"]
    view = [e for e in audit(env, "view_track") if e.target == f"track:{person}"][-1]
    assert view.case_id == env.case_id and view.purpose == "test investigation"
    denied = [e for e in audit(env, "view_track_denied") if e.target == f"track:{person}"]
    assert {e.principal for e in denied} == {"vic", "ana"}


# ---- item 10: refusals, job-result reads and picture fetches are audited ----------------------


def test_denied_searches_are_audited(env: ApiEnv) -> None:
    before = len(audit(env, "search_denied")), len(audit(env, "access_denied"))
    body = {"classes": ["person"]}
    viewer = env.client.post(f"{B}/search/attributes", json=body, headers=env.headers("viewer"))
    no_case = env.client.post(f"{B}/search/attributes", json=body, headers=env.headers())
    assert viewer.status_code == no_case.status_code == 403
    # a role without the capability is refused (and audited) before the route runs
    refused = audit(env, "access_denied")[before[1] :]
    assert [(e.principal, e.target) for e in refused] == [("vic", f"POST {B}/search/attributes")]
    assert "object_search" in refused[0].filters["denied"]
    denied = audit(env, "search_denied")[before[0] :]
    assert [(e.principal, e.query_type) for e in denied] == [("ana", "attributes")]
    assert "case_id" in denied[0].filters["denied"]


def test_job_result_reads_are_audited(env: ApiEnv) -> None:
    body = {"kind": "attributes", "classes": ["person"], "top_k": 5, **env.access()}
    started = env.client.post(f"{B}/jobs/search", json=body, headers=env.headers())
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 30
    while (job := env.client.get(f"{B}/jobs/{job_id}", headers=env.headers()).json())[
        "state"
    ] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["state"] == "succeeded" and job["hits"]
    reads = [e for e in audit(env, "read_job_results") if e.target == f"job:{job_id}"]
    assert reads and reads[-1].principal == "ana"
    assert reads[-1].case_id == env.case_id and reads[-1].hit_count == len(job["hits"])


def test_thumbnail_fetches_are_audited(env: ApiEnv) -> None:
    car = env.client.get(f"{B}/tracks/{env.vehicles['red_car']}", headers=env.headers("viewer"))
    link = urlsplit(car.json()["thumbnail_url"])
    fetched = env.client.get(f"{link.path}?{link.query}")
    assert fetched.status_code == 200 and fetched.content[:2] == b"\xff\xd8"
    key = link.path.removeprefix(f"{B}/pictures/")
    fetch = audit(env, "object_access")[-1]
    assert (fetch.target, fetch.principal) == (f"object:{key}", "vic")
