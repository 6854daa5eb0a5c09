"""End to end on real parts: RTSP server → ingest → detect → track → index → search API."""

from __future__ import annotations

import io
import itertools
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest

from detect.bytetrack import iou_matrix
from index.catalog import (
    TrackQuery,
    audit_entries,
    create_api_key,
    create_case,
    create_zone,
    list_zones,
    matching_track_ids,
    segments_between,
    tracks_by_ids,
)
from index.catalog.values import CameraSpec
from ingest.stream import open_input
from skynet.demo import free_port
from skynet.runtime import Runtime
from skynet.settings import Settings

INGEST_S = 20.0
QUERY_AT_S = 14.0
ZONES = {
    "right half": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]],
    "left bar": [[0.0, 0.0], [0.08, 0.0], [0.08, 1.0], [0.0, 1.0]],  # the pillarbox: no one
}

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class LaterFrame:
    """Grabs one frame of a live stream `at_s` after connecting, with its UTC arrival time."""

    def __init__(self, url: str, at_s: float) -> None:
        self.image: np.ndarray | None = None
        self.wall_time: datetime | None = None
        self._thread = threading.Thread(target=self._grab, args=(url, at_s), daemon=True)
        self._thread.start()

    def _grab(self, url: str, at_s: float) -> None:
        with open_input(url) as container:
            started = time.monotonic()
            for frame in container.decode(video=0):
                if time.monotonic() - started >= at_s:
                    self.image = frame.to_ndarray(format="bgr24")
                    self.wall_time = datetime.now(UTC)
                    return

    def join(self) -> None:
        self._thread.join(30)


@pytest.fixture(scope="module")
def ingested(rtsp_server, tmp_path_factory):
    urls = rtsp_server.urls
    camera_id = next(iter(urls))
    data_dir: Path = tmp_path_factory.mktemp("e2e")
    settings = Settings(data_dir=data_dir, api_port=free_port(), segment_duration_s=4.0)
    runtime = Runtime.build(settings)
    runtime.start()
    runtime.serve_api()
    with runtime.sessions() as session:
        api_key = create_api_key(session, "e2e", "investigator", None)
        case_id = create_case(session, "e2e walking skeleton", "e2e")
        session.commit()
    started_at = datetime.now(UTC)
    runtime.add_camera(CameraSpec(camera_id, "e2e", urls[camera_id].main, urls[camera_id].sub))
    with runtime.sessions() as session:  # before any track ends: tracks are linked as stored
        for name, polygon in ZONES.items():
            create_zone(session, camera_id, name, polygon)
        session.commit()
    later = LaterFrame(urls[camera_id].sub, QUERY_AT_S)
    time.sleep(INGEST_S)
    stopped_at = datetime.now(UTC)
    runtime.stop()
    later.join()
    yield runtime, settings, api_key, camera_id, later, (started_at, stopped_at), case_id
    runtime.stop_api()


def test_segments_cover_the_ingested_period_without_gaps(ingested) -> None:
    runtime, _settings, _key, camera_id, _later, (started_at, stopped_at), _case = ingested
    with runtime.sessions() as session:
        segments = segments_between(session, camera_id, started_at, stopped_at)
    assert len(segments) >= 3
    for earlier, later in itertools.pairwise(segments):
        assert abs((later.start_at - earlier.end_at).total_seconds()) < 0.05
    assert segments[0].start_at - started_at < timedelta(seconds=5)
    assert stopped_at - segments[-1].end_at < timedelta(seconds=2)
    for segment in segments:
        data = runtime.store.get(segment.object_key)
        assert len(data) == segment.size_bytes


def person_tracks_at(runtime: Runtime, camera_id: str, box: np.ndarray, at: datetime) -> set[int]:
    """Person tracks whose trajectory holds `box` at `at` and began at least 1 s earlier.

    These are the ground truth of a query: the same person, seen before the query moment.
    """
    with runtime.sessions() as session:
        window = TrackQuery((camera_id,), at - timedelta(seconds=1), at, ("person",))
        ids = matching_track_ids(session, window)
        tracks = tracks_by_ids(session, ids)
    matching = set()
    for track in tracks:
        if (at - track.start_at).total_seconds() < 1.0:
            continue
        points = np.array(track.trajectory, dtype=np.float32)
        offsets_s = np.array([(track.start_at - at).total_seconds() + t for t in points[:, 0]])
        nearest = int(np.argmin(np.abs(offsets_s)))
        if abs(offsets_s[nearest]) > 0.6:
            continue
        if float(iou_matrix(points[nearest : nearest + 1, 1:], box[None])[0, 0]) > 0.3:
            matching.add(track.id)
    return matching


def test_search_with_a_later_crop_finds_that_persons_track(ingested) -> None:
    runtime, settings, api_key, camera_id, later, _span, case_id = ingested
    assert later.image is not None and later.wall_time is not None
    persons = runtime.detector.detect([later.image])[0]
    persons = persons[np.array(persons.class_name) == "person"]
    assert len(persons) >= 2
    queried, found = 0, 0
    for box in persons.xyxy:
        truth = person_tracks_at(runtime, camera_id, box, later.wall_time)
        if not truth:
            continue
        x1, y1, x2, y2 = box.astype(int)
        ok, jpeg = cv2.imencode(".jpg", later.image[y1:y2, x1:x2])
        assert ok
        response = httpx.post(
            f"{settings.api_base_url}/api/v1/search/image",
            headers={"X-API-Key": api_key},
            files={"image": ("crop.jpg", jpeg.tobytes(), "image/jpeg")},
            data={
                "whole_image": "true",
                "classes": "person",
                "top_k": "5",
                "case_id": case_id,
                "purpose": "end-to-end test",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        queried += 1
        found += bool(truth & {hit["track_id"] for hit in response.json()["hits"]})
    assert queried >= 2
    assert found / queried >= 0.6, f"{found} of {queried} persons found in the top 5"


def test_thumbnails_and_clips_are_fetchable_through_returned_urls(ingested) -> None:
    runtime, settings, api_key, _camera_id, later, _span, case_id = ingested
    assert later.image is not None
    ok, jpeg = cv2.imencode(".jpg", later.image)
    assert ok
    response = httpx.post(
        f"{settings.api_base_url}/api/v1/search/image",
        headers={"X-API-Key": api_key},
        files={"image": ("scene.jpg", jpeg.tobytes(), "image/jpeg")},
        data={"classes": "person", "top_k": "3", "case_id": case_id, "purpose": "e2e"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits
    for hit in hits:
        thumbnail = httpx.get(hit["thumbnail_url"], timeout=10, follow_redirects=True)
        assert thumbnail.status_code == 200
        assert (
            cv2.imdecode(np.frombuffer(thumbnail.content, np.uint8), cv2.IMREAD_COLOR) is not None
        )
        link = httpx.get(hit["clip_url"], timeout=10)  # resolved and audited when fetched
        assert link.status_code == 307
        clip_url, _, fragment = link.headers["location"].partition("#t=")
        assert float(fragment) >= 0
        clip = httpx.get(clip_url, timeout=10)
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
        with av.open(io.BytesIO(clip.content), mode="r") as container:
            assert sum(1 for _ in container.decode(video=0)) > 10
        partial = httpx.get(clip_url, headers={"Range": "bytes=0-99"}, timeout=10)
        assert partial.status_code == 206 and len(partial.content) == 100
    with runtime.sessions() as session:
        accessed = [e for e in audit_entries(session, principal="e2e") if e.action == "clip_access"]
    assert len(accessed) == len(hits)
    forged = re.sub(r"holder=\d+", "holder=999999", hits[0]["clip_url"])
    assert httpx.get(forged, timeout=10).status_code == 403
    non_ascii = hits[0]["clip_url"].replace("sig=", "sig=%C3%A9")  # once a 500 (#12)
    assert httpx.get(non_ascii, timeout=10).status_code == 403
    expired = hits[0]["thumbnail_url"].replace("sig=", "sig=0")  # forged, in fact
    assert httpx.get(expired, timeout=10).status_code == 403


def test_live_tracks_are_placed_in_zones_and_filtered_by_them(ingested) -> None:
    runtime, settings, api_key, camera_id, _later, _span, case_id = ingested
    with runtime.sessions() as session:
        zones = {zone.name: zone.id for zone in list_zones(session, camera_id)}
        all_ids = matching_track_ids(session, TrackQuery((camera_id,), class_names=("person",)))
        tracks = tracks_by_ids(session, all_ids)
    in_right_half = {
        track.id
        for track in tracks
        if any((x1 + x2) / 2 >= 0.5 * 640 for _t, x1, _y1, x2, _y2 in track.trajectory)
    }  # some foot point in the right half of the 640-pixel-wide sub stream
    assert in_right_half and len(in_right_half) < len(tracks)

    def zone_search(zone_name: str) -> set[int]:
        response = httpx.post(
            f"{settings.api_base_url}/api/v1/search/attributes",
            headers={"X-API-Key": api_key},
            json={"classes": ["person"], "zone_ids": [zones[zone_name]], "top_k": 1000,
                  "case_id": case_id, "purpose": "e2e zones"},
            timeout=30,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return {hit["track_id"] for hit in response.json()["hits"]}

    assert zone_search("right half") == in_right_half
    assert zone_search("left bar") == set()
