"""Cross-camera hop search: travel-time prior, appearance, feedback and the trail it builds."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from search_api.hop import PERSON_TRAVEL, VEHICLE_TRAVEL, distance_m, rocchio_query
from tests.api_support import ApiEnv, api_env

API = "/api/v1/search/hop"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("hop")) as built:
        yield built


def hop(env: ApiEnv, **body: object):
    return env.client.post(
        API, json={"track_id": env.hop["seed"], **env.access(), **body}, headers=env.headers()
    )


def test_travel_prior_peaks_at_the_typical_transit_and_refuses_the_impossible() -> None:
    assert distance_m(31.23, 121.47, 31.23, 121.47) == 0.0
    assert abs(distance_m(31.0, 121.0, 32.0, 121.0) - 111_195) < 50  # one degree of latitude
    expected = PERSON_TRAVEL.expected_s(100.0)
    assert PERSON_TRAVEL.plausibility(100.0, expected) == pytest.approx(1.0)
    assert PERSON_TRAVEL.plausibility(100.0, 5.0) == 0.0  # faster than anyone runs
    assert PERSON_TRAVEL.plausibility(100.0, 2 * expected) < 0.6
    assert PERSON_TRAVEL.plausibility(100.0, 2 * expected) > PERSON_TRAVEL.plausibility(
        100.0, 4 * expected
    )
    assert VEHICLE_TRAVEL.expected_s(1000.0) < PERSON_TRAVEL.expected_s(1000.0) / 4


def test_rocchio_moves_towards_confirmed_and_away_from_rejected() -> None:
    rng = np.random.default_rng(0)
    seed, confirmed, rejected = (v / np.linalg.norm(v) for v in rng.normal(size=(3, 16)))
    query = rocchio_query([seed, confirmed], [rejected])
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    plain = rocchio_query([seed], [])
    assert query @ confirmed > plain @ confirmed
    assert query @ rejected < rocchio_query([seed, confirmed], []) @ rejected


def test_hop_ranks_the_same_person_at_a_plausible_time_first(env: ApiEnv) -> None:
    response = hop(env)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["track_id"] for s in body["trail"]] == [env.hop["seed"]]
    ranked = [c["track_id"] for c in body["candidates"]]
    assert ranked[0] == env.hop["true"]
    # too early to have walked 100 m, and the far camera is no neighbour: never offered
    assert env.hop["too_early"] not in ranked and env.hop["far"] not in ranked
    assert set(ranked) == {env.hop[k] for k in ("true", "lookalike1", "lookalike2", "lookalike3")}
    best = body["candidates"][0]
    assert best["camera_id"] == "hopB" and best["direction"] == "forward"
    assert best["distance_m"] == pytest.approx(100.0, abs=1.0)
    assert best["transit_s"] == 83.0 and 0.9 < best["why"]["plausibility"] <= 1.0
    assert best["score"] == pytest.approx(
        best["why"]["similarity"] * best["why"]["plausibility"], abs=2e-3
    )
    scores = [c["score"] for c in body["candidates"]]
    assert scores == sorted(scores, reverse=True)


def test_confirming_extends_the_trail_and_looks_further(env: ApiEnv) -> None:
    response = hop(env, confirmed=[env.hop["true"]])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["track_id"] for s in body["trail"]] == [env.hop["seed"], env.hop["true"]]
    ranked = [c["track_id"] for c in body["candidates"]]
    # from hopB the person walks back to hopA: the return sighting is the next forward hop
    assert ranked[0] == env.hop["return"]
    assert body["candidates"][0]["from_track_id"] == env.hop["true"]
    assert env.hop["true"] not in ranked


def test_rejecting_removes_a_candidate_and_changes_the_query(env: ApiEnv) -> None:
    first = hop(env).json()
    rejected = hop(env, rejected=[env.hop["lookalike2"]]).json()
    ranked = [c["track_id"] for c in rejected["candidates"]]
    assert env.hop["lookalike2"] not in ranked and ranked[0] == env.hop["true"]
    before = {c["track_id"]: c["why"]["similarity"] for c in first["candidates"]}
    after = {c["track_id"]: c["why"]["similarity"] for c in rejected["candidates"]}
    assert after[env.hop["true"]] != before[env.hop["true"]]


def test_hop_bad_input_and_access(env: ApiEnv) -> None:
    unknown = env.client.post(API, json={"track_id": 999999, **env.access()}, headers=env.headers())
    assert unknown.status_code == 404
    bad_feedback = hop(env, confirmed=[999998])
    assert bad_feedback.status_code == 404 and "confirmed" in bad_feedback.json()["detail"]
    no_case = env.client.post(API, json={"track_id": env.hop["seed"]}, headers=env.headers())
    assert no_case.status_code == 403 and "case_id" in no_case.json()["detail"]
    unplaced = env.client.post(
        API, json={"track_id": env.persons[0], **env.access()}, headers=env.headers()
    )
    assert unplaced.status_code == 422 and "no position" in unplaced.json()["detail"]
