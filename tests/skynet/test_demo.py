"""The demo for real: sample camera → its own RTSP server → ingest → API → a person-crop search."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from rich.console import Console

from skynet.demo import DemoOptions, free_port, run_demo
from skynet.settings import Settings
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# rank, track, camera, class, from, to, score (the rank and the score are captured)
HIT_ROW = re.compile(r"^│ (\d+) +│ \d+ +│ cam1 +│ person +│ [\d:]{8} +│ [\d:]{8} +│ (0\.\d+)", re.M)
HIT_LINK = re.compile(r"^#(\d+) (thumbnail|clip) +(\S+)$", re.MULTILINE)


def test_demo_searches_with_a_person_crop_and_serves_the_hit_links(tmp_path: Path) -> None:
    # 4 s segments: every sighting of a 12 s run lies in a stored recording
    settings = Settings(data_dir=tmp_path / "demo", api_port=free_port(), segment_duration_s=4.0)
    output = io.StringIO()
    stop_serving = threading.Event()
    exit_codes: list[int] = []

    def demo() -> None:
        options = DemoOptions(cameras=1, ingest_s=12.0, serve=True)
        console = Console(file=output, width=160)
        exit_codes.append(run_demo(settings, options, console, stop_serving))

    thread = threading.Thread(target=demo, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: "API at" in output.getvalue() or not thread.is_alive(), 150)
        text = output.getvalue()
        assert thread.is_alive(), text

        query_path = settings.data_dir / "query.jpg"
        assert f"query crop: {query_path}" in text
        query = cv2.imread(str(query_path))
        assert query is not None
        height_px, width_px = query.shape[:2]
        assert width_px < height_px < 360  # one standing person, not the 640×360 frame

        table = text[text.index("Ranked hits") : text.index("#1 thumbnail")]
        rows = HIT_ROW.findall(table)
        assert rows and [int(rank) for rank, _ in rows] == list(range(1, len(rows) + 1)), text
        scores = [float(score) for _, score in rows]
        assert scores == sorted(scores, reverse=True)

        links = HIT_LINK.findall(text)
        assert len(links) == 2 * len(rows)
        for _rank, kind, url in links:
            response = httpx.get(url, timeout=10)
            if kind == "thumbnail":
                assert response.status_code == 200
                assert response.headers["content-type"] == "image/jpeg"
                picture = np.frombuffer(response.content, np.uint8)
                assert cv2.imdecode(picture, cv2.IMREAD_COLOR) is not None
            else:
                assert response.status_code == 307, response.text
                recording_url, _, seek = response.headers["location"].partition("#t=")
                assert float(seek) >= 0
                recording = httpx.get(recording_url, timeout=10)
                assert recording.status_code == 200
                assert recording.headers["content-type"] == "video/mp4"
    finally:
        stop_serving.set()
        thread.join(30)
    assert exit_codes == [0]
    with pytest.raises(httpx.ConnectError):  # told to stop, the demo took its API down
        httpx.get(f"{settings.api_base_url}/api/v1/healthz", timeout=5)
