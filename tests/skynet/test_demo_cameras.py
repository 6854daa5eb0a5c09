"""The demo's sample cameras in a catalog it shares with `skynet serve`: a later run takes this
run's RTSP URLs but keeps what was configured (a position for hop search, heading, tiles, time
zone), and pausing at the end changes nothing but `enabled`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from index.catalog import get_camera, init_catalog, remove_camera, session_factory, upsert_camera
from index.catalog.values import CameraSpec
from sample_streams.server import StreamUrls
from skynet.demo import sample_camera, stage_sample_cameras, with_enabled

FIRST = StreamUrls("rtsp://127.0.0.1:41001/cam1/main", "rtsp://127.0.0.1:41001/cam1/sub")
SECOND = StreamUrls("rtsp://127.0.0.1:42002/cam1/main", "rtsp://127.0.0.1:42002/cam1/sub")


def test_a_new_sample_camera_gets_the_demo_defaults(tmp_path: Path) -> None:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions() as session:
        spec = sample_camera(session, "cam1", FIRST)
    assert (spec.id, spec.name, spec.main_url, spec.sub_url) == (
        "cam1", "Sample cam1", FIRST.main, FIRST.sub,
    )  # fmt: skip
    assert spec.enabled and spec.lat is None and spec.tiles == "1x1"


def test_a_stored_sample_camera_keeps_its_configuration_across_runs_and_pauses(
    tmp_path: Path,
) -> None:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    configured = CameraSpec(
        "cam1", "Gate", FIRST.main, FIRST.sub, detect_fps=4.0, lat=31.2302, lon=121.4703,
        heading_deg=180.0, enabled=False, tiles="2x2", timezone="Europe/Berlin",
    )  # fmt: skip
    with sessions() as session:
        upsert_camera(session, configured)
        session.commit()
        started = sample_camera(session, "cam1", SECOND)
    assert (started.main_url, started.sub_url, started.enabled) == (SECOND.main, SECOND.sub, True)
    kept = ("name", "detect_fps", "lat", "lon", "heading_deg", "tiles", "timezone")
    assert all(getattr(started, field) == getattr(configured, field) for field in kept)

    with sessions() as session:
        upsert_camera(session, started)
        # while the demo runs, someone sets another position (`skynet camera set`)
        upsert_camera(session, dataclasses.replace(started, lat=31.5, lon=121.5))
        session.commit()
        paused = with_enabled(session, started, enabled=False)
    assert paused is not None and not paused.enabled
    assert (paused.lat, paused.lon, paused.tiles) == (31.5, 121.5, "2x2")
    assert paused.main_url == SECOND.main

    with sessions() as session:
        assert remove_camera(session, "cam1")
        session.commit()
        assert with_enabled(session, started, enabled=False) is None  # not brought back
        assert get_camera(session, "cam1") is None


def test_a_camera_left_enabled_on_old_urls_is_staged_paused_on_this_runs(tmp_path: Path) -> None:
    # `skynet camera add cam1 --main …:8554…` for the sample server, stopped since: the runtime
    # must not open those URLs when the demo starts it
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "cam1", FIRST.main, FIRST.sub, lat=31.23))
        session.commit()
        (staged,) = stage_sample_cameras(session, {"cam1": SECOND})
    assert (staged.main_url, staged.sub_url, staged.enabled, staged.lat) == (
        SECOND.main, SECOND.sub, True, 31.23,
    )  # fmt: skip
    with sessions() as session:
        stored = get_camera(session, "cam1")
    assert stored is not None and not stored.enabled
    assert (stored.main_url, stored.sub_url) == (SECOND.main, SECOND.sub)
