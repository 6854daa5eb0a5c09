"""Site plans on the camera map and the start-a-re-index form in a real browser (issue #18)
against the UI suite's running instance: a file that is not an image is refused with a message
next to the file field and nothing stored; a real plan uploaded in the page is kept by the
server, so after a reload the map still draws it with each camera's marker where its latitude
and longitude fall (checked on the canvas pixels), a viewer sees it read-only, and renaming,
moving an edge and deleting it in the page reach the server; a re-index job started from the
jobs form (refusals shown next to their fields first) is paused, resumed and cancelled in the
page, and each state is checked in the page and over the API."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import POSITIONS, UiInstance

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PageAs = Callable[..., Page]
Shot = Callable[[Page, str], Path]
# the plan covers both sample cameras (40 m apart) with room around them
EDGES = {"north": 31.2310, "south": 31.2290, "west": 121.4690, "east": 121.4715}
GROUND_RGB = (200, 230, 200)
# camera_map.js STATE_COLOURS and the unknown-state grey
MARKER_RGB = {
    (0x1E, 0x7A, 0x3C), (0xC9, 0x8A, 0x00), (0xB3, 0x26, 0x1E), (0x7A, 0x7F, 0x8C),
    (0x1F, 0x5F, 0xBF), (0x44, 0x44, 0x44),
}  # fmt: skip
CANVAS_WIDTH_PX = 560
PIXEL_AT = "(canvas, [x, y]) => Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data)"


@pytest.fixture(scope="module")
def api(ui_instance: UiInstance) -> Iterator[httpx.Client]:
    headers = {"X-API-Key": ui_instance.admin_key}
    with httpx.Client(base_url=f"{ui_instance.base_url}/api/v1", headers=headers, timeout=60) as c:
        yield c


def plan_picture(path: Path) -> Path:
    """A 400×300 plan: pale ground, a grid every 40 px, a dark block in the top left."""
    image = np.full((300, 400, 3), GROUND_RGB[::-1], np.uint8)
    image[:, ::40] = (150, 150, 150)
    image[::40, :] = (150, 150, 150)
    image[50:100, 50:110] = (60, 60, 60)
    assert cv2.imwrite(str(path), image)
    return path


def fill_plan_form(page: Page, name: str) -> None:
    page.locator("#plan-name").fill(name)
    for side, value in EDGES.items():
        page.locator(f"#plan-{side}").fill(str(value))


def pixel(page: Page, x: int, y: int) -> tuple[int, ...]:
    rgba = page.locator("#camera-map").evaluate(PIXEL_AT, [x, y])
    return tuple(rgba[:3])


def test_a_site_plan_kept_by_the_server_draws_the_cameras_after_a_reload(
    ui_instance: UiInstance, api: httpx.Client, page_as: PageAs, shot: Shot, tmp_path: Path
) -> None:
    page = page_as("operator", "/ui/cameras")
    page.wait_for_selector("html[data-ready=cameras]", state="attached")
    before = api.get("/site-plans").json()
    fill_plan_form(page, "UI plaza")

    # not an image, though named like one: the server refuses it, the message is by the field
    notes = tmp_path / "plaza.png"
    notes.write_text("minutes of the site meeting, not a plan\n" * 40)
    page.locator("#plan-file").set_input_files(str(notes))
    page.locator("#plan-upload").click()
    error = page.get_by_test_id("plan-image-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not a PNG or JPEG")
    # a file the browser already knows is no image: refused before anything is sent
    text = tmp_path / "plaza.txt"
    text.write_text("not a plan")
    page.locator("#plan-file").set_input_files(str(text))
    page.locator("#plan-upload").click()
    expect(error).to_contain_text("plaza.txt")
    assert api.get("/site-plans").json() == before  # nothing stored
    expect(page.locator("#plan-name")).to_have_value("UI plaza")  # nothing typed is lost
    shot(page, "cameras-plan-refused")

    page.locator("#plan-file").set_input_files(str(plan_picture(tmp_path / "plan.png")))
    page.locator("#plan-upload").click()
    expect(error).to_be_hidden()
    expect(page.locator("#camera-map")).to_have_attribute("data-plan", re.compile(r"^\d+$"))
    (plan,) = [p for p in api.get("/site-plans").json() if p["name"] == "UI plaza"]
    assert (plan["width_px"], plan["height_px"], plan["created_by"]) == (400, 300, "ui-operator")

    page.reload()  # the plan comes from the server, not from this page's memory
    page.wait_for_selector("html[data-ready=cameras]", state="attached")
    canvas = page.locator("#camera-map")
    expect(canvas).to_have_attribute("data-plan", str(plan["id"]))
    expect(page.get_by_test_id("plan-select")).to_have_value(str(plan["id"]))
    height_px = CANVAS_WIDTH_PX * 300 // 400  # the canvas takes the plan's aspect
    assert canvas.evaluate("c => [c.width, c.height]") == [CANVAS_WIDTH_PX, height_px]
    ground = pixel(page, 300, 30)  # between grid lines: the plan image itself is drawn
    assert max(abs(a - b) for a, b in zip(ground, GROUND_RGB, strict=True)) <= 2, ground
    markers = page.get_by_test_id("map-markers")
    for camera_id in ui_instance.camera_ids:
        lat, lon = POSITIONS[camera_id]
        marker = markers.locator(f'li[data-camera="{camera_id}"]')
        expect(marker).to_have_attribute("data-inside", "true")
        x, y = int(marker.get_attribute("data-x") or -1), int(marker.get_attribute("data-y") or -1)
        expected_x = (lon - EDGES["west"]) / (EDGES["east"] - EDGES["west"]) * CANVAS_WIDTH_PX
        expected_y = (EDGES["north"] - lat) / (EDGES["north"] - EDGES["south"]) * height_px
        assert abs(x - expected_x) <= 1 and abs(y - expected_y) <= 1, (camera_id, x, y)
        assert pixel(page, x, y) in MARKER_RGB, camera_id  # a marker drawn there
    shot(page, "cameras-site-plan")

    viewer = page_as("viewer", "/ui/cameras")  # whoever sees the map sees the plan, read-only
    expect(viewer.locator("#camera-map")).to_have_attribute("data-plan", str(plan["id"]))
    expect(viewer.locator("#plan-form")).to_have_count(0)

    page.locator("#plan-name").fill("UI plaza north")  # rename and move an edge
    page.locator("#plan-north").fill("31.2312")
    page.locator("#plan-save").click()
    expect(page.get_by_test_id("plan-select").locator("option:checked")).to_have_text(
        "UI plaza north"
    )
    changed = api.get("/site-plans").json()
    assert [(p["name"], p["north"]) for p in changed if p["id"] == plan["id"]] == [
        ("UI plaza north", 31.2312)
    ]
    page.locator("#plan-delete").click()  # and gone for every browser
    expect(canvas).not_to_have_attribute("data-plan", str(plan["id"]))
    assert [p["id"] for p in api.get("/site-plans").json()] == [p["id"] for p in before]


def local_minus(value: str, hours: float) -> str:
    """A datetime-local value `hours` earlier."""
    earlier = datetime.fromisoformat(value) - timedelta(hours=hours)
    return earlier.strftime("%Y-%m-%dT%H:%M:%S")


def test_start_a_reindex_from_the_form_then_pause_resume_and_cancel_it(
    ui_instance: UiInstance, api: httpx.Client, page_as: PageAs, shot: Shot
) -> None:
    page = page_as("operator", "/ui/jobs")
    page.wait_for_selector("html[data-ready=jobs]", state="attached")
    jobs_before = {j["id"] for j in api.get("/reindex").json()}
    live = {c["name"] for c in api.get("/reindex/models").json()["embedders"] if c["live"]}
    expect(page.locator("#r-embedder")).to_have_value(live.pop())  # the live models first

    page.locator("#r-submit").click()  # no camera chosen
    expect(page.locator("#r-cameras-error")).to_be_visible()
    for camera_id in ui_instance.camera_ids:
        page.get_by_test_id("reindex-cameras").locator(f'input[value="{camera_id}"]').check()
    # the API's refusals, each shown next to its field
    end = page.locator("#r-end").input_value()
    page.locator("#r-end").fill(local_minus(page.locator("#r-start").input_value(), 1))
    page.locator("#r-submit").click()
    expect(page.get_by_test_id("r-end-error")).to_contain_text("before it starts")
    page.locator("#r-end").fill(end)
    detector = page.locator("#r-detector").input_value()
    page.locator("#r-detector").fill("yolo-magic")
    page.locator("#r-submit").click()
    expect(page.get_by_test_id("r-detector-error")).to_contain_text("unknown detector")
    expect(page.get_by_test_id("r-end-error")).to_be_hidden()
    assert {j["id"] for j in api.get("/reindex").json()} == jobs_before  # nothing queued

    page.locator("#r-detector").fill(detector)
    page.locator("#r-switch").uncheck()  # other tests search the live index: keep it live
    page.locator("#r-submit").click()
    status = page.get_by_test_id("reindex-status")
    expect(status).to_have_attribute("data-job", re.compile(r"^[0-9a-f]{32}$"))
    job_id = status.get_attribute("data-job")
    row = page.get_by_test_id("reindex-rows").locator(f'tr[data-job="{job_id}"]')
    row.locator('button[data-action="pause"]').click()  # at once, before its segments are done
    expect(row).to_have_attribute("data-state", "paused")
    job = api.get(f"/reindex/{job_id}").json()
    assert job["state"] == "paused"
    request = job["request"]
    assert request["camera_ids"] == sorted(ui_instance.camera_ids)
    assert (request["detector"], request["switch"]) == (detector, False)
    started, ended = ui_instance.ingested
    assert datetime.fromisoformat(request["start"]) <= started
    assert datetime.fromisoformat(request["end"]) >= ended
    shot(page, "jobs-reindex-paused")

    row.locator('button[data-action="resume"]').click()
    expect(row).to_have_attribute("data-state", re.compile("^(queued|running)$"))
    assert api.get(f"/reindex/{job_id}").json()["state"] in ("queued", "running")
    row.locator('button[data-action="cancel"]').click()
    expect(row).to_have_attribute("data-state", "cancelled")
    expect(row.locator(".pill.cancelled")).to_be_visible()
    assert api.get(f"/reindex/{job_id}").json()["state"] == "cancelled"
    shot(page, "jobs-reindex")
