"""Calibrated match confidence and "no good match" in appearance search replies (issue #16), on
the real embedder with its shipped calibration (models/reid_calibration.json)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from detect.embedder import AppearanceEmbedder
from detect.reid_calibration import Calibration
from models.registry import default_cache_dir
from tests.api_support import ApiEnv, api_env, jpeg, vtest_pairs

API = "/api/v1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("confidence")) as built:
        yield built


def calibration(env: ApiEnv) -> Calibration:
    embedder = env.context.embedder
    assert isinstance(embedder, AppearanceEmbedder) and embedder.calibration is not None
    return embedder.calibration


def image_search(env: ApiEnv, picture: np.ndarray, **form: str) -> dict:
    response = env.client.post(
        f"{API}/search/image",
        headers=env.headers(),
        files={"image": ("q.jpg", jpeg(picture), "image/jpeg")},
        data={**env.access(), "whole_image": "true", "top_k": "5", **form},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_person_hits_carry_the_calibrated_confidence_of_their_score(env: ApiEnv) -> None:
    fitted = calibration(env)
    body = image_search(env, env.later_crops[0])
    assert body["hits"]
    for hit in body["hits"]:
        expected = float(fitted.confidence(np.array([hit["score"]]))[0])
        assert hit["confidence"] == pytest.approx(expected, abs=1e-4)
        assert 0.0 <= hit["confidence"] <= 1.0
    confidences = [h["confidence"] for h in body["hits"]]
    assert confidences == sorted(confidences, reverse=True)  # ranked by score, confidence rises
    assert body["no_good_match"] == (max(confidences) < fitted.threshold)


def test_a_stranger_gets_no_good_match(env: ApiEnv) -> None:
    """A man never filmed here (zidane.jpg, a football stadium) still returns five persons, but
    none at a confidence worth acting on."""
    zidane = cv2.imread(str(default_cache_dir().resolve() / "assets" / "zidane.jpg"))
    assert zidane is not None
    body = image_search(env, zidane[40:720, 60:700], classes="person")
    assert len(body["hits"]) == 5
    assert all(h["confidence"] < calibration(env).threshold for h in body["hits"])
    assert body["no_good_match"] is True


def test_the_same_person_clears_the_threshold(env: ApiEnv) -> None:
    """Searching with the crop a stored track was embedded from: its track is a good match."""
    first, _later = vtest_pairs(12)[0]
    body = image_search(env, first)
    assert body["hits"][0]["score"] > 0.9  # its own track (or a hop test copy of that crop)
    assert body["hits"][0]["confidence"] >= calibration(env).threshold
    assert body["no_good_match"] is False


def test_vehicle_and_track_searches(env: ApiEnv) -> None:
    """Vehicles have their own calibration (bench/vehicle_reid.py): every vehicle hit carries a
    confidence and the reply a verdict. Track search replies carry them too."""
    bus = cv2.imread(str(default_cache_dir().resolve() / "assets" / "bus.jpg"))
    assert bus is not None
    body = image_search(env, bus[230:750, 20:800], classes="car,truck,bus")
    assert body["hits"] and all(0.0 <= h["confidence"] <= 1.0 for h in body["hits"])
    assert isinstance(body["no_good_match"], bool)
    response = env.client.post(
        f"{API}/search/track/{env.persons[0]}",
        json={"top_k": 3, **env.access()},
        headers=env.headers(),
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert all(h["confidence"] is not None for h in page["hits"])
    assert isinstance(page["no_good_match"], bool)
