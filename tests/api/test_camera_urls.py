"""Camera URLs (#12 item 2): rtsp:// and rtsps:// only unless the admin's allow-list admits more;
refused with 422 naming the field at the API and the CLI, and never opened by the runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from index.catalog import create_api_key, upsert_camera
from index.catalog.values import CameraSpec
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from skynet.cli import app as cli
from skynet.runtime import openable_cameras
from tests.api_support import BASE_URL, empty_context

CAMERAS = f"{API_PREFIX}/cameras"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, ApiContext]]:
    context = empty_context(tmp_path)
    with context.sessions() as session:
        key = create_api_key(session, "ops", "operator")
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        client.headers["X-API-Key"] = key
        yield client, context


def camera(camera_id: str, main_url: str, sub_url: str | None = None) -> dict[str, object]:
    return {"id": camera_id, "name": camera_id, "main_url": main_url, "sub_url": sub_url}


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("main_url", "http://127.0.0.1:9/internal-admin/delete?all=1"),
        ("main_url", "file:///etc/passwd"),
        ("main_url", "HTTP://169.254.169.254/latest/meta-data"),
        ("sub_url", "file:///var/secret.mp4"),
        ("sub_url", "udp://127.0.0.1:5000"),
    ],
)
def test_a_camera_url_outside_rtsp_is_refused_naming_the_field(
    api: tuple[TestClient, ApiContext], field: str, url: str
) -> None:
    client, _context = api
    body = camera("cam9", "rtsp://10.0.0.9/main", "rtsp://10.0.0.9/sub")
    body[field] = url
    refused = client.post(CAMERAS, json=body)
    assert refused.status_code == 422, refused.text
    assert field in refused.text
    assert client.get(CAMERAS).json() == []  # nothing was written

    assert client.post(CAMERAS, json=camera("cam9", "rtsps://10.0.0.9/main")).status_code == 201
    patched = client.patch(f"{CAMERAS}/cam9", json={field: url})
    assert patched.status_code == 422 and field in patched.text
    assert client.get(f"{CAMERAS}/cam9").json()["main_url"] == "rtsps://10.0.0.9/main"


def test_the_admin_allow_list_admits_exactly_its_schemes_and_hosts(
    api: tuple[TestClient, ApiContext],
) -> None:
    client, context = api
    context.camera_url_allow = ("http://cam7.lan:8080", "file", "udp")
    assert client.post(CAMERAS, json=camera("a", "http://cam7.lan:8080/video")).status_code == 201
    # a file is footage, never a live camera, whatever the list says (issue #15)
    as_file = client.post(CAMERAS, json=camera("b", "file:///srv/clip.mp4"))
    assert as_file.status_code == 422 and "skynet footage add" in as_file.json()["detail"]
    # any scheme the list names, not only those the request schema once knew
    assert client.post(CAMERAS, json=camera("u", "udp://239.0.0.1:5000")).status_code == 201
    for i, url in enumerate(
        (
            "http://cam7.lan.evil.example:8080/video",  # a host prefix is not the host
            "http://cam7.lan:9090/video",  # another port
            "http://cam7.lan@127.0.0.1:8080/",  # user info, then the real host
            "https://cam7.lan:8080/video",  # another scheme
        )
    ):
        refused = client.post(CAMERAS, json=camera(f"c{i}", url))
        assert refused.status_code == 422, url


def test_the_runtime_never_opens_a_refused_url_already_in_the_catalog() -> None:
    good = CameraSpec("good", "good", "rtsp://10.0.0.1/main", "rtsps://10.0.0.1/sub")
    bad_main = CameraSpec("bad1", "bad1", "http://127.0.0.1/internal-admin/delete")
    bad_sub = CameraSpec("bad2", "bad2", "rtsp://10.0.0.2/main", "file:///etc/shadow")
    assert openable_cameras([good, bad_main, bad_sub], ()) == [good]
    assert openable_cameras([good, bad_main, bad_sub], ("http", "file")) == [good, bad_main]


def test_the_cli_refuses_a_camera_url_outside_rtsp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    refused = runner.invoke(cli, ["camera", "add", "cam1", "--main", "file:///etc/passwd"])
    assert refused.exit_code == 2 and "main_url" in refused.output
    added = runner.invoke(cli, ["camera", "add", "cam1", "--main", "rtsp://10.0.0.1/main"])
    assert added.exit_code == 0, added.output
    monkeypatch.setenv("SKYNET_CAMERA_URL_ALLOW", "http,file")
    allowed = runner.invoke(cli, ["camera", "add", "cam2", "--main", "http://cam2.lan/video"])
    assert allowed.exit_code == 0, allowed.output
    for url in ("file:///srv/clip.mp4", "/srv/clip.mp4"):  # footage, not a live camera
        as_file = runner.invoke(cli, ["camera", "add", "cam3", "--main", url])
        assert as_file.exit_code == 2 and "footage" in as_file.output, as_file.output


def test_a_paused_camera_with_a_refused_url_may_stay_paused(
    api: tuple[TestClient, ApiContext],
) -> None:
    client, context = api
    with context.sessions() as session:  # written before the check existed
        upsert_camera(session, CameraSpec("old", "old", "file:///srv/a.mp4", enabled=False))
        session.commit()
    assert client.post(f"{CAMERAS}/old/resume").status_code == 422
    assert client.post(f"{CAMERAS}/old/pause").status_code == 200
