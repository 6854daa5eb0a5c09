"""The operations pages in a real browser (issue #18 parts 4-7) against the UI suite's running
instance (sample cameras really ingested): the camera wall, drawing a zone (a two-corner polygon
refused with a message and kept), reviewing a violation event with a note, uploading a short
real video and following its analysis job to the end (a file that is not video refused before
a byte is sent), building an evidence export that the server verifies, and the audit view for
auditors only. Each test leaves a screenshot of its page under var/ui-screenshots/."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from detect.zone_rules import Snapshot, ViolationUpdate
from index.camera_frames import camera_frame
from index.catalog import TrackQuery, create_zone, matching_track_ids, tracks_by_ids
from index.catalog.accounts import get_user
from index.catalog.grants import add_grant
from index.event_recorder import EventRecorder
from index.picture_spool import PictureSpool
from sample_streams.footage import VTEST_PATH
from tests.ui.conftest import UiInstance

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PageAs = Callable[..., Page]
Shot = Callable[[Page, str], Path]


@pytest.fixture(scope="module")
def ops(ui_instance: UiInstance) -> Iterator[httpx.Client]:
    """The instance with every role's user granted all cameras (users see no camera without a
    grant), and an admin API client for setting up and checking what the pages did."""
    with ui_instance.runtime.sessions() as session:
        for name, _ in ui_instance.users.values():
            user = get_user(session, name)
            assert user is not None
            add_grant(session, "ui-test", user_id=user.id)  # stored once if already granted
        session.commit()
    headers = {"X-API-Key": ui_instance.admin_key}
    with httpx.Client(base_url=f"{ui_instance.base_url}/api/v1", headers=headers, timeout=60) as c:
        yield c


def canvas_click(page: Page, selector: str, x: float, y: float) -> None:
    """Click at fractions (x, y) of the element's box."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_camera_wall_shows_each_cameras_status(
    ui_instance: UiInstance, ops: httpx.Client, page_as: PageAs, shot: Shot
) -> None:
    page = page_as("operator", "/ui/cameras")
    wall = page.get_by_test_id("camera-wall")
    for camera_id in ui_instance.camera_ids:
        expect(wall.locator(f'[data-camera="{camera_id}"]')).to_be_visible()
    states = {s["camera_id"]: s["state"] for s in ops.get("/cameras/status").json()}
    for camera_id in ui_instance.camera_ids:
        card = wall.locator(f'[data-camera="{camera_id}"]')
        expect(card).to_have_attribute("data-state", states.get(camera_id, "paused"))
        expect(card.locator("dl.facts dd")).to_have_count(4)  # fps, lag, stride, dropped
    expect(page.locator("#camera-form")).to_be_visible()  # operators manage cameras
    shot(page, "cameras")


def test_draw_a_zone_two_corners_refused_then_saved_with_a_rule(
    ui_instance: UiInstance, ops: httpx.Client, page_as: PageAs, shot: Shot
) -> None:
    camera_id = ui_instance.camera_ids[0]
    page = page_as("operator", f"/ui/cameras/{camera_id}/zones")
    expect(page.locator("#frame-time")).not_to_be_empty()  # the recorded frame is loaded
    page.locator("#zone-name").fill("ui kerb")
    canvas_click(page, "#zone-canvas", 0.1, 0.6)
    canvas_click(page, "#zone-canvas", 0.5, 0.6)
    page.locator("#zone-save").click()
    error = page.get_by_test_id("zone-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("3")  # needs at least 3 corners; says how many were drawn
    assert not [z for z in ops.get(f"/cameras/{camera_id}/zones").json() if z["name"] == "ui kerb"]
    expect(page.locator("#zone-name")).to_have_value("ui kerb")  # nothing typed is lost
    canvas_click(page, "#zone-canvas", 0.5, 0.95)
    canvas_click(page, "#zone-canvas", 0.1, 0.95)
    page.locator("#zone-save").click()
    expect(page.locator("#zone-list [data-zone]", has_text="ui kerb")).to_be_visible()
    (zone,) = [z for z in ops.get(f"/cameras/{camera_id}/zones").json() if z["name"] == "ui kerb"]
    assert len(zone["polygon"]) == 4
    assert zone["polygon"][0] == pytest.approx([0.1, 0.6], abs=0.01)
    assert zone["polygon"][2] == pytest.approx([0.5, 0.95], abs=0.01)
    # its rule: no vending, weekdays 07:00-22:00
    page.locator("#rule-kind").select_option("no_vending")
    page.locator("#rule-always").uncheck()
    page.locator("#rule-days input[value='5']").uncheck()
    page.locator("#rule-days input[value='6']").uncheck()
    page.locator("#rule-windows").fill("07:00-22:00")
    page.locator("#rule-save").click()
    expect(page.locator("#rule-summary")).to_contain_text("07:00-22:00")
    rule = ops.get(f"/cameras/{camera_id}/zones/{zone['id']}/rule").json()
    assert rule["kind"] == "no_vending"
    assert rule["schedule"] == {"days": [0, 1, 2, 3, 4], "windows": ["07:00-22:00"],
                                "text": rule["schedule"]["text"]}  # fmt: skip
    shot(page, "zones")


def recorded_event(ui_instance: UiInstance, tmp_path: Path) -> int:
    """A street-vending event on the first camera as the detector records one: a zone, and
    the update with a real recorded frame as its evidence picture."""
    runtime, camera_id = ui_instance.runtime, ui_instance.camera_ids[0]
    start = ui_instance.ingested[0] + timedelta(seconds=6)
    with runtime.sessions() as session:
        zone = create_zone(session, camera_id, "ui review stall", [(0, 0.5), (1, 0.5), (1, 1)])
        frame = camera_frame(session, runtime.store, camera_id, start)
        session.commit()
    recorder = EventRecorder(runtime.sessions, PictureSpool(runtime.store, tmp_path), "UTC", 900)
    update = ViolationUpdate(
        camera_id=camera_id, zone_id=zone.id, kind="street_vending", phase="opened",
        started_at=frame.at, last_seen_at=frame.at + timedelta(seconds=6), severity="medium",
        local_track_ids=(1,), snapshots=(Snapshot(frame.at, frame.jpeg),),
    )  # fmt: skip
    return recorder.record(update).event.id


def test_review_an_event_confirm_with_a_note_and_see_the_charts(
    ui_instance: UiInstance, ops: httpx.Client, page_as: PageAs, shot: Shot, tmp_path: Path
) -> None:
    event_id = recorded_event(ui_instance, tmp_path)
    page = page_as("city_manager", "/ui/events")
    expect(page.locator("#casebar")).to_be_hidden()  # city managers hold no cases
    row = page.get_by_test_id("event-rows").locator(f'tr[data-event="{event_id}"]')
    row.click()
    snapshot = page.locator("#event-detail .snaps img").first
    expect(snapshot).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=snapshot.element_handle()
    )
    page.locator("#review-note").fill("stall on the kerb, confirmed on the clip")
    shot(page, "events")
    page.locator('[data-review="confirmed"]').click()
    expect(page.get_by_test_id("event-state")).to_have_text("已确认")  # the page is in Chinese
    event = ops.get(f"/events/{event_id}").json()
    assert (
        event["state"] == "confirmed" and event["reviewer"] == ui_instance.users["city_manager"][0]
    )
    assert event["review_note"] == "stall on the kerb, confirmed on the clip"
    page.locator("#tab-stats").click()
    expect(page.get_by_test_id("chart-zone").locator("rect[fill='#b3261e']")).not_to_have_count(0)
    expect(page.get_by_test_id("chart-day").locator("g[data-bar]")).not_to_have_count(0)
    with page.expect_download() as download:
        page.locator("#csv-zone").click()
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("group,camera_id,zone_id,day,events,open,confirmed")
    assert any(",1,0,1,0,0," in row for row in rows[1:])  # this zone: 1 event, confirmed
    shot(page, "events-stats")


def short_video(path: Path) -> Path:
    """Three seconds of vtest as H.264 MP4 stamped with its recording time."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(VTEST_PATH), "-t", "3", "-an",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-metadata", "creation_time=2026-12-05T08:00:00Z", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def test_upload_a_video_and_watch_its_job_finish_a_non_video_is_refused(
    ops: httpx.Client, page_as: PageAs, shot: Shot, tmp_path: Path
) -> None:
    page = page_as("operator", "/ui/jobs")
    before = len(ops.get("/footage/uploads").json())
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 50)
    page.locator("#u-label").fill("ui shop door")
    page.locator("#u-file").set_input_files(str(notes))
    page.locator("#u-send").click()
    error = page.get_by_test_id("upload-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("notes.mp4")
    assert len(ops.get("/footage/uploads").json()) == before  # nothing sent
    expect(page.locator("#u-label")).to_have_value("ui shop door")  # nothing typed is lost

    page.locator("#u-file").set_input_files(str(short_video(tmp_path / "door.mp4")))
    page.locator("#u-send").click()
    expect(page.locator("#u-progress")).to_be_visible()
    uploads = page.get_by_test_id("upload-rows")
    expect(uploads.locator("tr", has_text="door.mp4").locator(".pill.stored")).to_be_visible(
        timeout=60_000
    )
    (upload,) = [u for u in ops.get("/footage/uploads").json() if u["filename"] == "door.mp4"]
    assert upload["state"] == "stored" and upload["report"]["segments"] >= 1
    job_id = upload["report"]["analysis_job"]
    job_row = page.get_by_test_id("reindex-rows").locator(f'tr[data-job="{job_id}"]')
    expect(job_row.locator(".pill.succeeded")).to_be_visible(timeout=90_000)
    job = ops.get(f"/reindex/{job_id}").json()
    assert job["state"] == "succeeded" and job["segments_done"] == job["segments_total"] >= 1
    shot(page, "jobs")
    # the upload's offline camera is shown as uploaded footage on the wall, not "connecting"
    page.goto(page.url.split("/ui/")[0] + "/ui/cameras")
    card = page.get_by_test_id("camera-wall").locator(f'[data-camera="{upload["camera_id"]}"]')
    expect(card).to_have_attribute("data-state", "footage")


def shortest_person_track(ui_instance: UiInstance) -> int:
    """A person track of about a second: an export redacts every frame it covers, and the
    UI suite has a time budget."""
    with ui_instance.runtime.sessions() as session:
        query = TrackQuery(ui_instance.camera_ids, class_names=("person",))
        tracks = tracks_by_ids(session, matching_track_ids(session, query))
    usable = [t for t in tracks if (t.end_at - t.start_at).total_seconds() >= 1.0]
    return min(usable, key=lambda t: t.end_at - t.start_at).id


def test_build_an_export_and_see_it_verified(
    ui_instance: UiInstance, ops: httpx.Client, page_as: PageAs, shot: Shot
) -> None:
    page = page_as("investigator", "/ui/cases")
    page.locator("#new-title").fill("UI export case")
    page.locator("#case-new-form button[type=submit]").click()
    page.wait_for_url("**/ui/cases/*")
    page.locator("#x-tracks").fill(str(shortest_person_track(ui_instance)))
    page.locator("#x-purpose").fill("court file UI-1")
    page.locator("#x-pad").fill("0")
    page.locator("#x-build").click()
    verdict = page.get_by_test_id("export-rows").locator(".verified")
    expect(verdict).to_be_visible(timeout=150_000)
    case_id = page.url.rsplit("/", 1)[-1]
    activity = ops.get(f"/cases/{case_id}/activity").json()["activity"]
    assert [a["action"] for a in activity if a["action"].startswith("export")] == [
        "export_requested", "export_built", "export_verified",
    ]  # fmt: skip
    with page.expect_download() as download:
        page.get_by_test_id("export-rows").locator('[data-action="download"]').click()
    bundle = Path(download.value.path())
    assert bundle.read_bytes()[:2] == b"PK"  # the signed zip itself
    shot(page, "case-export")


def test_audit_view_for_auditors_not_investigators(
    ui_instance: UiInstance, ops: httpx.Client, page_as: PageAs, shot: Shot
) -> None:
    page = page_as("auditor", "/ui/audit")
    expect(page.get_by_test_id("audit-rows").locator("tr[data-seq]")).not_to_have_count(0)
    page.locator("#a-verify").click()
    expect(page.get_by_test_id("audit-verify")).to_have_class("verified")
    expect(page.locator('nav a[href="/ui/audit"]')).to_be_visible()
    shot(page, "audit")
    investigator = page_as("investigator", "/ui/search")
    reply = investigator.goto(f"{ui_instance.base_url}/ui/audit")
    assert reply is not None and reply.status == 403
    expect(investigator.locator('nav a[href="/ui/audit"]')).to_have_count(0)
    expect(investigator.get_by_test_id("audit-rows")).to_have_count(0)
    viewer = page_as("viewer", "/ui/cameras")  # sees the wall, may not change cameras
    expect(viewer.get_by_test_id("camera-wall").locator("[data-camera]")).not_to_have_count(0)
    expect(viewer.locator("#camera-form")).to_have_count(0)
