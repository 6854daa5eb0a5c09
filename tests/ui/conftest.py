"""Browser fixtures (issue #18): one real instance for the whole UI suite — the sample cameras
on the real RTSP server, ingested for a while by a real Runtime (detector, tracker, index,
recordings), its API and interface served on a free port, a user per role — and Debian's
Chromium driven by Playwright. See /work/tools/UI.md."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from index.catalog import CameraSpec, TrackQuery, create_api_key, matching_track_ids, tracks_by_ids
from index.catalog.accounts import create_user
from index.catalog.grants import add_grant
from index.passwords import hash_password
from search_api.access import ROLES
from skynet.demo import free_port
from skynet.runtime import Runtime
from skynet.settings import Settings

INGEST_S = 24.0
SHOTS_DIR = Path(__file__).resolve().parents[2] / "var" / "ui-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
PASSWORD = "ui-test-password-1"
# two cameras 40 m apart: a hop from one to the other is a short walk
POSITIONS = {"cam1": (31.23000, 121.47000), "cam2": (31.23000, 121.47042)}


@dataclass(frozen=True)
class UiInstance:
    """What `ui_instance` yields."""

    base_url: str
    runtime: Runtime
    settings: Settings
    camera_ids: tuple[str, ...]
    users: dict[str, tuple[str, str]]  # role → (name, password)
    admin_key: str
    person_track_id: int  # the longest stored person track (it spans several segments)
    query_jpeg: Path  # a real crop of that person (its best shot), for "search by a crop"
    ingested: tuple[datetime, datetime]


def longest_person_track(runtime: Runtime, camera_ids: tuple[str, ...]) -> int:
    with runtime.sessions() as session:
        ids = matching_track_ids(session, TrackQuery(camera_ids, class_names=("person",)))
        tracks = [t for t in tracks_by_ids(session, ids) if t.thumbnail_key]
    assert tracks, "the sample footage gave no person track"
    return max(tracks, key=lambda t: t.end_at - t.start_at).id


@pytest.fixture(scope="session")
def ui_instance(rtsp_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiInstance]:
    data_dir = tmp_path_factory.mktemp("ui")
    # the suite signs the same users in dozens of times a minute from one address: above the
    # login rate limits meant for people (issue #17), which tests/api/test_login_throttle.py covers;
    # the re-index form test re-indexes what this instance recorded minutes ago: without the
    # live cut (SKYNET_REINDEX_LIVE_SETTLE_S, tested in tests/index) its job has segments to
    # pause — with it, a job planned within 10 min of the ingest had none and ended at once
    settings = Settings(
        data_dir=data_dir, api_port=free_port(), segment_duration_s=4.0,
        login_rate_per_client=1000, login_rate_per_name=1000, reindex_live_settle_s=0.0,
    )  # fmt: skip
    runtime = Runtime.build(settings)
    runtime.start()
    runtime.serve_api()
    users = {role: (f"ui-{role}", PASSWORD) for role in ROLES}
    with runtime.sessions() as session:
        for role, (name, password) in users.items():
            user = create_user(session, name, role, hash_password(password))
            add_grant(session, "ui-tests", user_id=user.id)  # every camera
        admin_key = create_api_key(session, "ui-admin", "admin", None)
        session.commit()
    specs = [
        CameraSpec(cid, f"Sample {cid}", urls.main, urls.sub, lat=POSITIONS[cid][0],
                   lon=POSITIONS[cid][1])
        for cid, urls in sorted(rtsp_server.urls.items())
        if cid in POSITIONS
    ]  # fmt: skip
    started = datetime.now(UTC)
    for spec in specs:
        runtime.add_camera(spec)
    time.sleep(INGEST_S)
    # pausing ends the open tracks and cuts the open segments (as the demo does); the runtime
    # keeps running for what the pages start (uploads, exports, re-index)
    for spec in specs:
        runtime.add_camera(dataclasses.replace(spec, enabled=False))
    deadline = time.monotonic() + 60
    while any(runtime.uploader.status(s.id).pending_segments for s in specs):
        assert time.monotonic() < deadline, "segments still uploading after 60 s"
        time.sleep(0.2)
    time.sleep(1.0)  # the indexer stores the tracks the pause ended
    camera_ids = tuple(s.id for s in specs)
    track_id = longest_person_track(runtime, camera_ids)
    with runtime.sessions() as session:
        (track,) = tracks_by_ids(session, [track_id])
    assert track.thumbnail_key is not None
    query = data_dir / "query.jpg"
    query.write_bytes(runtime.store.get(track.thumbnail_key))
    try:
        yield UiInstance(
            settings.api_base_url, runtime, settings, camera_ids, users, admin_key, track_id,
            query, (started, datetime.now(UTC)),
        )  # fmt: skip
    finally:
        runtime.stop()
        runtime.stop_api()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def sign_in(page: Page, base_url: str, name: str, password: str, next_path: str) -> None:
    """Through the real sign-in page, then on to `next_path`."""
    page.goto(f"{base_url}/ui/login?next={next_path}")
    page.locator("#login-name").fill(name)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()
    target = urlsplit(next_path).path
    page.wait_for_url(lambda url: urlsplit(url).path == target)  # not the sign-in page's ?next=


@pytest.fixture
def page_as(browser: Browser, ui_instance: UiInstance) -> Iterator[Callable[..., Page]]:
    """`page_as(role, next_path="/ui/search")`: a fresh 1366×768 browser context signed in as
    that role's user; closed after the test."""
    contexts = []

    def make(role: str, next_path: str = "/ui/search") -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        name, password = ui_instance.users[role]
        sign_in(page, ui_instance.base_url, name, password, next_path)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def shot() -> Callable[[Page, str], Path]:
    """`shot(page, name)`: a screenshot to var/ui-screenshots/<name>.png."""
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = SHOTS_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
