"""Camera analysis settings in the API: `tiles` (detector tiling) and `heading_deg` on create,
patch and read, with 422 naming the field; a real SQLite catalog behind a real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.catalog import audit_entries, create_api_key, get_camera
from search_api.app import create_app
from search_api.context import ApiContext
from tests.api_support import empty_context

CAMERAS = "/api/v1/cameras"
GATE = {"id": "gate", "name": "Gate", "main_url": "rtsp://admin:pw@10.0.0.5/main"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, ApiContext]]:
    context = empty_context(tmp_path)
    with context.sessions() as session:
        key = create_api_key(session, "ops", "operator")
        session.commit()
    with TestClient(create_app(context)) as client:
        client.headers["X-API-Key"] = key
        yield client, context


def error_fields(response: Any) -> set[str]:
    """The fields a 422 names ("body.tile_grid: …; body.lat: …")."""
    errors = response.json()["detail"].split("; ")
    return {part for error in errors for part in error.partition(": ")[0].split(".")}


def test_tiles_default_to_the_full_frame(api) -> None:
    client, _context = api
    created = client.post(CAMERAS, json=GATE)
    assert created.status_code == 201, created.text
    assert created.json()["tiles"] == "1x1" and created.json()["heading_deg"] is None


def test_tiles_and_heading_are_stored_read_and_changed(api) -> None:
    client, context = api
    created = client.post(CAMERAS, json=GATE | {"tiles": "2x2", "heading_deg": 135.0})
    assert created.status_code == 201, created.text
    assert created.json()["tiles"] == "2x2"
    read = client.get(f"{CAMERAS}/gate").json()
    assert (read["tiles"], read["heading_deg"]) == ("2x2", 135.0)
    assert [c["tiles"] for c in client.get(CAMERAS).json()] == ["2x2"]

    changed = client.patch(f"{CAMERAS}/gate", json={"tiles": "3x1"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["tiles"], changed.json()["heading_deg"]) == ("3x1", 135.0)
    cleared = client.patch(f"{CAMERAS}/gate", json={"heading_deg": None})
    assert (cleared.json()["tiles"], cleared.json()["heading_deg"]) == ("3x1", None)
    with context.sessions() as session:
        spec = get_camera(session, "gate")
        assert spec is not None and spec.tiles == "3x1" and spec.tile_grid == (3, 1)
        assert [e.action for e in audit_entries(session)][-2:] == ["camera_update"] * 2


@pytest.mark.parametrize("tiles", ["4x4", "0x1", "2×2", "2x", "22", "2x2 ", 2])
def test_invalid_tiles_are_refused_naming_the_field(api, tiles: object) -> None:
    client, _context = api
    created = client.post(CAMERAS, json=GATE | {"tiles": tiles})
    assert created.status_code == 422 and "tiles" in error_fields(created), created.text
    assert client.post(CAMERAS, json=GATE).status_code == 201
    patched = client.patch(f"{CAMERAS}/gate", json={"tiles": tiles})
    assert patched.status_code == 422 and "tiles" in error_fields(patched), patched.text
    assert client.get(f"{CAMERAS}/gate").json()["tiles"] == "1x1"


def test_tiles_may_not_be_null(api) -> None:
    client, _context = api
    assert client.post(CAMERAS, json=GATE).status_code == 201
    response = client.patch(f"{CAMERAS}/gate", json={"tiles": None})
    assert response.status_code == 422 and "tiles" in response.json()["detail"]
