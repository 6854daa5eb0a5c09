"""The interface in a real browser against a real ingested instance (issue #18): sign in, open
a case, search by a crop, open a hit, play its clip across segments, follow and confirm a hop;
a picture that is not one, and a session that ends mid-search, lose nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from index.catalog import TrackQuery, matching_track_ids, tracks_by_ids
from tests.ui.conftest import UiInstance

pytestmark = [pytest.mark.slow, pytest.mark.integration]
PageAs = Callable[..., Page]
ALL_PICTURES_SHOWN = (
    "sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)"
)
Shot = Callable[[Page, str], Path]


def open_case(page: Page, title: str, purpose: str) -> None:
    """Through the case bar: a new case and the purpose."""
    page.locator("#case-choose").click()
    page.locator("#case-new-title").fill(title)
    page.locator("#case-open").click()
    expect(page.locator("#case-select")).to_contain_text(title)
    page.locator("#case-purpose-input").fill(purpose)
    page.locator("#case-save").click()
    expect(page.get_by_test_id("case-current")).to_contain_text(title)


def search_by_crop(page: Page, instance: UiInstance) -> None:
    page.locator("#query-file").set_input_files(str(instance.query_jpeg))
    expect(page.locator("#pick")).to_be_visible()
    box = page.locator("#query-canvas").bounding_box()  # the crop is the query: box all of it
    assert box is not None
    page.mouse.move(box["x"] + 1, box["y"] + 1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] - 1, steps=4)
    page.mouse.up()
    page.locator("#f-class").select_option("person")
    page.locator("#search-submit").click()
    expect(page.locator("#results .hit").first).to_be_visible(timeout=30_000)


def test_sign_in_open_a_case_and_switch_language(
    page_as: PageAs, ui_instance: UiInstance, shot: Shot
) -> None:
    page = page_as("investigator")
    expect(page.get_by_test_id("who")).to_contain_text("ui-investigator")
    open_case(page, "UI 案件 1", "寻找目击者描述的人员")
    expect(page.get_by_test_id("case-purpose")).to_have_text("寻找目击者描述的人员")
    shot(page, "search-zh")
    page.locator('a[data-lang="en"]').click()
    expect(page.locator("#search-submit")).to_have_text("Search")
    expect(page.get_by_test_id("case-current")).to_contain_text("UI 案件 1")  # kept
    page.locator("#sign-out").click()
    page.wait_for_url("**/ui/login")
    page.goto(f"{ui_instance.base_url}/ui/search")
    page.wait_for_url("**/ui/login?next=/ui/search")


def test_search_by_a_crop_open_the_hit_and_play_across_segments(
    page_as: PageAs, ui_instance: UiInstance, shot: Shot
) -> None:
    page = page_as("investigator")
    open_case(page, "UI case 2", "find the person in the witness photo")
    search_by_crop(page, ui_instance)
    hits = page.locator("#results .hit")
    ids = [int(h) for h in hits.evaluate_all("els => els.map(e => e.dataset.trackId)")]
    assert ui_instance.person_track_id in ids[:5]  # its own best shot finds it
    expect(page.get_by_test_id("search-status")).not_to_be_empty()
    page.wait_for_function(ALL_PICTURES_SHOWN, arg="#results img", timeout=30_000)
    shot(page, "search")
    page.locator(f'#results .hit[data-track-id="{ui_instance.person_track_id}"] a').click()
    page.wait_for_url(f"**/ui/tracks/{ui_instance.person_track_id}")
    expect(page.locator("#clip-status")).to_have_text(
        "从首次出现处开始播放；片段覆盖整条轨迹。", timeout=30_000
    )
    page.wait_for_function("() => document.getElementById('clip').readyState >= 2", timeout=15_000)
    video = page.locator("#clip")
    duration = video.evaluate("v => v.duration")
    with ui_instance.runtime.sessions() as session:
        (track,) = tracks_by_ids(session, [ui_instance.person_track_id])
    assert duration >= (track.end_at - track.start_at).total_seconds()  # the whole track
    seek = video.evaluate("v => v.currentTime")
    page.locator("#play").click()
    page.wait_for_function(
        "s => document.getElementById('clip').currentTime > s + 1.0", arg=seek, timeout=15_000
    )  # the video element advances
    page.locator("#play").click()
    before = video.evaluate("v => v.currentTime")
    page.locator("#frame-forward").click()
    page.wait_for_function(
        "b => Math.abs(document.getElementById('clip').currentTime - b) > 0.01", arg=before
    )
    shot(page, "track")
    page.locator("#more-like-this").click()
    expect(page.locator("#similar .hit").first).to_be_visible(timeout=30_000)


def hop_seed(ui_instance: UiInstance) -> int:
    """A person track the hop search links to a sighting on the other camera (which tracks the
    24 s of ingest give depends on the machine's load), found over the API as an admin."""
    url = f"{ui_instance.base_url}/api/v1"
    headers = {"X-API-Key": ui_instance.admin_key}
    case = httpx.post(f"{url}/cases", json={"title": "hop seed"}, headers=headers, timeout=60)
    access = {"case_id": case.json()["id"], "purpose": "choose the hop test's seed"}
    with ui_instance.runtime.sessions() as session:
        ids = matching_track_ids(
            session, TrackQuery(ui_instance.camera_ids, class_names=("person",))
        )
        people = sorted(tracks_by_ids(session, ids), key=lambda t: t.start_at - t.end_at)
    for track in people:
        reply = httpx.post(
            f"{url}/search/hop", json={"track_id": track.id, **access}, headers=headers, timeout=60
        )
        assert reply.status_code == 200, reply.text
        if reply.json()["candidates"]:
            return track.id
    raise AssertionError(f"no person track of {len(people)} has a hop candidate")


TRAIL_HAS = (
    "([ids, want]) => { const t = (document.querySelector('[data-testid=hop-map]').dataset.trail"
    " || '').split(','); return ids.every(i => t.includes(String(i)) === want); }"
)


def choose_case(page: Page, label: str, purpose: str) -> None:
    """Through the case bar: an existing case (its option reads "title (id)") and the purpose."""
    page.locator("#case-choose").click()
    page.locator("#case-select").select_option(label=label)
    page.locator("#case-purpose-input").fill(purpose)
    page.locator("#case-save").click()
    expect(page.get_by_test_id("case-current")).to_have_text(label)


def test_hop_confirm_updates_the_trail(
    page_as: PageAs, ui_instance: UiInstance, shot: Shot
) -> None:
    """Confirm / reject are kept under the case: a reload and another session of the same
    user show the same trail; rejecting a confirmed hop takes it off the trail."""
    seed = hop_seed(ui_instance)
    page = page_as("investigator")
    open_case(page, "UI case 3", "follow the person across cameras")
    case_label = page.get_by_test_id("case-current").inner_text()
    page.goto(f"{ui_instance.base_url}/ui/tracks/{seed}")
    page.locator("#hop-run").click()
    candidates = page.locator("#hop-candidates .cand")
    expect(candidates.first).to_be_visible(timeout=30_000)
    chosen = int(candidates.first.get_attribute("data-track-id") or 0)
    assert page.get_by_test_id("hop-map").get_attribute("data-trail") == str(seed)
    candidates.first.locator('button[data-action="confirm"]').click()
    page.wait_for_function(TRAIL_HAS, arg=[[seed, chosen], True], timeout=30_000)
    # the confirmed sighting joined the trail drawn on the map, and the case's trail lists it
    expect(page.locator(f'#hop-candidates .cand[data-track-id="{chosen}"]')).to_have_count(0)
    expect(page.locator("#hop-confirmed li")).to_have_count(1)
    shot(page, "hop")

    page.reload()  # kept by the server, not by this tab
    page.wait_for_function(TRAIL_HAS, arg=[[seed, chosen], True], timeout=30_000)
    expect(page.locator("#hop-confirmed li")).to_have_count(1)

    other = page_as("investigator")  # another browser session of the same user
    choose_case(other, case_label, "follow the person across cameras")
    other.goto(f"{ui_instance.base_url}/ui/tracks/{seed}")
    other.wait_for_function(TRAIL_HAS, arg=[[seed, chosen], True], timeout=30_000)
    other.locator('#hop-confirmed li button[data-action="reject"]').click()
    other.wait_for_function(TRAIL_HAS, arg=[[chosen], False], timeout=30_000)  # left the trail
    expect(other.locator("#hop-confirmed li")).to_have_count(0)
    expect(other.locator("#hop-rejected li")).to_have_count(1)
    undecided = other.locator(f'#hop-candidates .cand[data-track-id="{chosen}"][data-decision=""]')
    expect(undecided).to_have_count(0)  # offered again only marked as rejected, ranked last
    shot(other, "hop-case")


def test_a_file_that_is_not_a_picture_is_refused_and_the_form_kept(
    page_as: PageAs, tmp_path: Path
) -> None:
    page = page_as("investigator")
    page.locator("#f-text").fill("穿白衣服的男子")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    page.locator("#query-file").set_input_files(str(notes))
    expect(page.locator("#picture-error")).to_contain_text("不是图片")
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8 this is no jpeg")
    page.locator("#query-file").set_input_files(str(fake))
    expect(page.locator("#picture-error")).to_contain_text("无法读取")
    expect(page.locator("#f-text")).to_have_value("穿白衣服的男子")


def test_a_picture_with_no_person_found_says_to_box_it_whole(
    page_as: PageAs, tmp_path: Path
) -> None:
    # the API advises whole_image=true, a field no one sees in the page: the page says what to do
    page = page_as("investigator")
    open_case(page, "UI case 4", "a witness photo of just the person")
    plain = tmp_path / "plain.jpg"
    ok, jpeg = cv2.imencode(".jpg", np.full((160, 80, 3), 128, np.uint8))
    assert ok
    plain.write_bytes(jpeg.tobytes())
    page.locator("#query-file").set_input_files(str(plain))
    expect(page.locator("#pick")).to_be_visible()
    page.locator("#f-class").select_option("person")
    page.locator("#search-submit").click()
    expect(page.locator("#flash")).to_contain_text("请框选整张图片")  # the page is in Chinese
    expect(page.locator("#flash")).not_to_contain_text("whole_image")


def test_a_session_ending_mid_search_asks_to_sign_in_and_repeats_the_search(
    page_as: PageAs, ui_instance: UiInstance
) -> None:
    page = page_as("investigator")
    open_case(page, "UI case 4", "session expiry drill")
    page.locator("#f-class").select_option("car")
    page.locator("#f-text").fill("")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "skynet_session")
    gone = httpx.post(
        f"{ui_instance.base_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 204  # the session is over (revoked: as an expired one reads)
    page.locator("#search-submit").click()
    dialog = page.locator("#signin-dialog")
    expect(dialog).to_be_visible()
    page.locator("#signin-again-password").fill("wrong")
    page.locator("#signin-again-submit").click()
    expect(page.locator("#signin-again-error")).to_be_visible()
    page.locator("#signin-again-password").fill(ui_instance.users["investigator"][1])
    page.locator("#signin-again-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("search-status")).not_to_have_text("加载中…", timeout=30_000)
    expect(page.get_by_test_id("search-status")).not_to_be_empty()
    expect(page.locator("#f-class")).to_have_value("car")  # nothing entered was lost


def test_a_wide_search_runs_as_a_job_and_a_plate_search_answers(
    page_as: PageAs, ui_instance: UiInstance
) -> None:
    page = page_as("investigator")
    open_case(page, "UI case 5", "wide search drill")
    page.locator("#f-class").select_option("person")
    page.locator("#f-job").check()
    page.locator("#search-submit").click()
    expect(page.locator("#results .hit").first).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("search-status")).to_contain_text("找到")
    expect(page.locator("#job-box")).to_be_hidden()
    page.locator("#f-job").uncheck()
    page.locator("#f-plate").fill("吉A*23?5")
    page.locator("#search-submit").click()
    expect(page.get_by_test_id("search-status")).to_have_text("未找到结果。", timeout=30_000)
    expect(page.locator("#results .hit")).to_have_count(0)  # the sample footage has no plates


def test_a_box_drawn_on_a_recorded_frame_is_searched(
    page_as: PageAs, ui_instance: UiInstance
) -> None:
    page = page_as("investigator")
    open_case(page, "UI case 6", "a person seen on camera 1")
    page.locator("#frame-camera").select_option(ui_instance.camera_ids[0])
    page.locator("#frame-load").click()
    canvas = page.locator("#query-canvas")
    expect(canvas).to_be_visible(timeout=30_000)
    page.wait_for_function(  # the recorded frame drawn at its own size (a canvas starts at 300)
        "() => document.querySelector('#query-canvas').width >= 640", timeout=30_000
    )
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.30 * w, y + 0.30 * h)
    page.mouse.down()
    page.mouse.move(x + 0.45 * w, y + 0.70 * h, steps=5)
    page.mouse.up()
    drawn = canvas.evaluate("c => c.width")  # the frame at its own size, the box in its pixels
    assert drawn >= 640
    page.locator("#f-class").select_option("person")
    page.locator("#search-submit").click()
    expect(page.get_by_test_id("search-status")).not_to_have_text("加载中…", timeout=30_000)
    expect(page.locator("#flash")).to_be_hidden()  # the crop was searched, not refused
    expect(page.locator("#results .hit").first).to_be_visible()
