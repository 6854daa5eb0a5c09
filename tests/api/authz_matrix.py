"""The role × endpoint × camera-scope matrix (issue #17): what each route must require, and the
generator that probes every route as every role on a camera in and out of the role's scope.

`MATRIX` is the specification (one entry per method and path, see /work/tools/AUTHZ.md); the
routes' own `requires(...)` declarations must match it, and the probes check that the running
API enforces it. bench/authz.py runs the same probes and reports their count and failures.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from detect.zone_rules import Snapshot, ViolationUpdate
from index.catalog import (
    CameraSpec,
    NewTrack,
    add_track,
    create_api_key,
    create_zone,
    upsert_camera,
)
from index.catalog.engine import make_engine, session_factory
from index.event_recorder import EventRecorder
from index.picture_spool import PictureSpool
from search_api.access import (
    ACCESS_ADMIN,
    AUDIT_READ,
    CAMERA_ADMIN,
    CAMERAS_VIEW,
    CASE_REVIEW,
    CASES,
    EVENT_REVIEW,
    EVENTS_VIEW,
    EXPORTS,
    FOOTAGE_UPLOAD,
    METRICS,
    OBJECT_SEARCH,
    PLATE_SEARCH,
    REINDEX,
    RETENTION_ADMIN,
    ROLES,
    SIGNED_IN,
    TRACKS_VIEW,
    WATCHLISTS,
    WEBHOOKS_ADMIN,
    ZONE_RULES,
    capabilities_of,
)
from search_api.app import create_app
from search_api.context import ApiContext
from search_api.deps import Requirement
from search_api.event_stream import EventStreamPolicy
from tests.api_support import BASE_URL, empty_context

V1 = "/api/v1"
IN, OUT = "cam-in", "cam-out"  # every role's key may see IN only
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SQUARE = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]
MISSING_ID = "999999"  # any other path id: a thing that does not exist
DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/assets/{name}"})


@dataclass(frozen=True)
class Entry:
    """What a route must require (no capabilities: public, a signed link or a login) and, for
    the allowed probes, the body and query that get past the handler's own input checks."""

    capabilities: frozenset[str]
    scope: str | None = None
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        return not self.capabilities


def needs(
    *capabilities: str,
    scope: str | None = None,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> Entry:
    return Entry(frozenset(capabilities), scope, body, query or {})


PUBLIC = Entry(frozenset())

MATRIX: dict[tuple[str, str], Entry] = {
    ("GET", f"{V1}/healthz"): needs(SIGNED_IN),
    ("GET", "/metrics"): needs(METRICS),
    # search
    ("POST", f"{V1}/search/image"): needs(OBJECT_SEARCH),
    ("POST", f"{V1}/search/track/{{track_id}}"): needs(
        OBJECT_SEARCH, scope="track", body={"classes": ["car"]}
    ),
    ("POST", f"{V1}/search/attributes"): needs(OBJECT_SEARCH, body={"classes": ["car"]}),
    ("POST", f"{V1}/search/plate"): needs(PLATE_SEARCH),
    ("POST", f"{V1}/search/text"): needs(OBJECT_SEARCH),
    ("POST", f"{V1}/search/hop"): needs(OBJECT_SEARCH),
    ("GET", f"{V1}/tracks/{{track_id}}"): needs(TRACKS_VIEW, scope="track"),
    ("POST", f"{V1}/jobs/search"): needs(OBJECT_SEARCH),
    ("GET", f"{V1}/jobs/{{job_id}}"): needs(OBJECT_SEARCH),
    ("DELETE", f"{V1}/jobs/{{job_id}}"): needs(OBJECT_SEARCH),
    ("POST", f"{V1}/jobs/{{job_id}}/cancel"): needs(OBJECT_SEARCH),
    # cameras and zones
    ("GET", f"{V1}/cameras"): needs(CAMERAS_VIEW),
    ("GET", f"{V1}/cameras/status"): needs(CAMERAS_VIEW),
    ("GET", f"{V1}/cameras/{{camera_id}}"): needs(CAMERAS_VIEW, scope="camera"),
    ("GET", f"{V1}/cameras/{{camera_id}}/status"): needs(CAMERAS_VIEW, scope="camera"),
    ("POST", f"{V1}/cameras"): needs(CAMERA_ADMIN),
    ("PATCH", f"{V1}/cameras/{{camera_id}}"): needs(CAMERA_ADMIN, scope="camera"),
    ("POST", f"{V1}/cameras/{{camera_id}}/pause"): needs(CAMERA_ADMIN, scope="camera"),
    ("POST", f"{V1}/cameras/{{camera_id}}/resume"): needs(CAMERA_ADMIN, scope="camera"),
    ("DELETE", f"{V1}/cameras/{{camera_id}}"): needs(CAMERA_ADMIN, scope="camera"),
    ("GET", f"{V1}/cameras/{{camera_id}}/frame"): needs(CAMERAS_VIEW, scope="camera"),
    ("GET", f"{V1}/cameras/{{camera_id}}/zones"): needs(CAMERAS_VIEW, scope="camera"),
    ("GET", f"{V1}/cameras/{{camera_id}}/zones/{{zone_id}}"): needs(CAMERAS_VIEW, scope="camera"),
    ("POST", f"{V1}/cameras/{{camera_id}}/zones"): needs(CAMERA_ADMIN, scope="camera"),
    ("PUT", f"{V1}/cameras/{{camera_id}}/zones/{{zone_id}}"): needs(CAMERA_ADMIN, scope="camera"),
    ("GET", f"{V1}/cameras/{{camera_id}}/zones/{{zone_id}}/rule"): needs(
        CAMERAS_VIEW, scope="camera"
    ),
    ("PUT", f"{V1}/cameras/{{camera_id}}/zones/{{zone_id}}/rule"): needs(
        ZONE_RULES, scope="camera"
    ),
    ("DELETE", f"{V1}/cameras/{{camera_id}}/zones/{{zone_id}}"): needs(
        CAMERA_ADMIN, scope="camera"
    ),
    # cases
    ("POST", f"{V1}/cases"): needs(CASES),
    ("GET", f"{V1}/cases"): needs(CASES, CASE_REVIEW),
    ("GET", f"{V1}/cases/{{case_id}}"): needs(CASES, CASE_REVIEW),
    ("POST", f"{V1}/cases/{{case_id}}/close"): needs(CASES),
    ("GET", f"{V1}/cases/{{case_id}}/activity"): needs(CASES, CASE_REVIEW),
    ("POST", f"{V1}/cases/{{case_id}}/tracks"): needs(CASES),
    ("GET", f"{V1}/cases/{{case_id}}/tracks"): needs(CASES, CASE_REVIEW),
    # a case's hop decisions (#18): decided by its creator or an admin, read like its tracks
    ("PUT", f"{V1}/cases/{{case_id}}/hops"): needs(CASES),
    ("DELETE", f"{V1}/cases/{{case_id}}/hops"): needs(CASES),
    ("GET", f"{V1}/cases/{{case_id}}/hops"): needs(CASES, CASE_REVIEW),
    # sign-in (#17): logging in is public; the rest needs a session (or any credential)
    ("POST", f"{V1}/auth/login"): PUBLIC,
    ("POST", f"{V1}/auth/refresh"): needs(SIGNED_IN),
    ("POST", f"{V1}/auth/logout"): needs(SIGNED_IN),
    ("GET", f"{V1}/auth/me"): needs(SIGNED_IN),
    # users, grants, camera groups (#17)
    ("GET", f"{V1}/users"): needs(ACCESS_ADMIN),
    ("POST", f"{V1}/users"): needs(ACCESS_ADMIN),
    ("POST", f"{V1}/users/{{name}}/disable"): needs(ACCESS_ADMIN),
    ("GET", f"{V1}/users/{{name}}/grants"): needs(ACCESS_ADMIN),
    ("POST", f"{V1}/users/{{name}}/grants"): needs(ACCESS_ADMIN),
    ("DELETE", f"{V1}/users/{{name}}/grants"): needs(ACCESS_ADMIN),
    ("GET", f"{V1}/camera-groups"): needs(ACCESS_ADMIN),
    ("POST", f"{V1}/camera-groups"): needs(ACCESS_ADMIN),
    ("PUT", f"{V1}/cameras/{{camera_id}}/group"): needs(ACCESS_ADMIN),
    # keys, webhooks
    ("GET", f"{V1}/keys"): needs(ACCESS_ADMIN),
    ("POST", f"{V1}/keys"): needs(ACCESS_ADMIN),
    ("DELETE", f"{V1}/keys/{{key_id}}"): needs(ACCESS_ADMIN),
    ("GET", f"{V1}/webhooks"): needs(WEBHOOKS_ADMIN),
    ("POST", f"{V1}/webhooks"): needs(WEBHOOKS_ADMIN),
    ("GET", f"{V1}/webhooks/{{webhook_id}}"): needs(WEBHOOKS_ADMIN),
    ("PATCH", f"{V1}/webhooks/{{webhook_id}}"): needs(WEBHOOKS_ADMIN),
    ("DELETE", f"{V1}/webhooks/{{webhook_id}}"): needs(WEBHOOKS_ADMIN),
    ("POST", f"{V1}/webhooks/{{webhook_id}}/secret"): needs(WEBHOOKS_ADMIN),
    ("GET", f"{V1}/webhooks/{{webhook_id}}/dead-letters"): needs(WEBHOOKS_ADMIN),
    ("POST", f"{V1}/webhooks/{{webhook_id}}/dead-letters/{{dead_letter_id}}/retry"): needs(
        WEBHOOKS_ADMIN
    ),
    # signed links carry their own credential
    ("GET", f"{V1}/pictures/{{key:path}}"): PUBLIC,
    ("GET", f"{V1}/objects/{{key:path}}"): PUBLIC,
    ("GET", f"{V1}/clips/{{camera_id}}/{{start_ms}}-{{end_ms}}"): PUBLIC,
    ("GET", f"{V1}/clips/{{camera_id}}/{{start_ms}}-{{end_ms}}/video.mp4"): PUBLIC,  # #18
    # the web interface (issue #18): pages check the browser's session cookie themselves (sign-in
    # page otherwise) and show only what they fetch from /api/v1; see /work/tools/UI.md
    ("GET", "/"): PUBLIC,  # browsers: a redirect to /ui; others: 404 naming /api/v1
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/static/{name}"): PUBLIC,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/session"): PUBLIC,
    ("POST", "/ui/session/refresh"): PUBLIC,
    ("POST", "/ui/session/logout"): PUBLIC,
    ("GET", "/ui/lang/{language}"): PUBLIC,
    ("GET", "/ui/search"): PUBLIC,
    ("GET", "/ui/tracks/{track_id}"): PUBLIC,
    ("GET", "/ui/cameras"): PUBLIC,
    ("GET", "/ui/cameras/{camera_id}/zones"): PUBLIC,
    ("GET", "/ui/events"): PUBLIC,
    ("GET", "/ui/jobs"): PUBLIC,
    ("GET", "/ui/cases"): PUBLIC,
    ("GET", "/ui/cases/{case_id}"): PUBLIC,
    ("GET", "/ui/audit"): PUBLIC,
    # events
    ("GET", f"{V1}/event-stream"): needs(EVENTS_VIEW),
    ("GET", f"{V1}/events"): needs(EVENTS_VIEW),
    ("GET", f"{V1}/events/stats"): needs(EVENTS_VIEW),
    ("GET", f"{V1}/events/{{event_id}}"): needs(EVENTS_VIEW, scope="event"),
    ("POST", f"{V1}/events/{{event_id}}/review"): needs(EVENT_REVIEW, scope="event"),
    # watchlists
    ("POST", f"{V1}/watchlists"): needs(WATCHLISTS),
    ("GET", f"{V1}/watchlists"): needs(WATCHLISTS),
    ("GET", f"{V1}/watchlists/{{watchlist_id}}"): needs(WATCHLISTS),
    ("DELETE", f"{V1}/watchlists/{{watchlist_id}}"): needs(WATCHLISTS),
    ("POST", f"{V1}/watchlists/{{watchlist_id}}/entries"): needs(WATCHLISTS),
    ("POST", f"{V1}/watchlists/{{watchlist_id}}/entries/image"): needs(WATCHLISTS),
    ("DELETE", f"{V1}/watchlists/{{watchlist_id}}/entries/{{entry_id}}"): needs(WATCHLISTS),
    ("GET", f"{V1}/watchlists/{{watchlist_id}}/hits"): needs(WATCHLISTS),
    # footage uploads (#15)
    ("POST", f"{V1}/footage/uploads"): needs(FOOTAGE_UPLOAD),
    ("GET", f"{V1}/footage/uploads"): needs(FOOTAGE_UPLOAD),
    ("GET", f"{V1}/footage/uploads/{{upload_id}}"): needs(FOOTAGE_UPLOAD),
    ("PUT", f"{V1}/footage/uploads/{{upload_id}}/parts/{{number}}"): needs(FOOTAGE_UPLOAD),
    ("POST", f"{V1}/footage/uploads/{{upload_id}}/complete"): needs(FOOTAGE_UPLOAD),
    # re-index jobs (#15)
    ("POST", f"{V1}/reindex"): needs(REINDEX),
    ("GET", f"{V1}/reindex"): needs(REINDEX),
    ("GET", f"{V1}/reindex/versions"): needs(REINDEX),
    ("GET", f"{V1}/reindex/{{job_id}}"): needs(REINDEX),
    ("POST", f"{V1}/reindex/{{job_id}}/pause"): needs(REINDEX),
    ("POST", f"{V1}/reindex/{{job_id}}/resume"): needs(REINDEX),
    ("POST", f"{V1}/reindex/{{job_id}}/cancel"): needs(REINDEX),
    ("GET", f"{V1}/reindex/models"): needs(REINDEX),  # what the jobs page's form offers (#18)
    # site plans for the camera map (#18): whoever sees the map reads, camera admins write
    ("POST", f"{V1}/site-plans"): needs(CAMERA_ADMIN),
    ("GET", f"{V1}/site-plans"): needs(CAMERAS_VIEW),
    ("GET", f"{V1}/site-plans/{{plan_id}}/image"): needs(CAMERAS_VIEW),
    ("PUT", f"{V1}/site-plans/{{plan_id}}"): needs(
        CAMERA_ADMIN, body={"name": "p", "north": 2, "south": 1, "west": 1, "east": 2}
    ),
    ("DELETE", f"{V1}/site-plans/{{plan_id}}"): needs(CAMERA_ADMIN),
    # retention and legal holds (#17 part 5)
    ("GET", f"{V1}/retention"): needs(RETENTION_ADMIN),
    ("PUT", f"{V1}/retention"): needs(RETENTION_ADMIN),
    ("POST", f"{V1}/retention/run"): needs(RETENTION_ADMIN),
    ("POST", f"{V1}/cases/{{case_id}}/hold"): needs(RETENTION_ADMIN),
    ("DELETE", f"{V1}/cases/{{case_id}}/hold"): needs(RETENTION_ADMIN),
    # evidence exports (#17 part 6)
    ("POST", f"{V1}/cases/{{case_id}}/exports"): needs(EXPORTS),
    ("GET", f"{V1}/cases/{{case_id}}/exports/{{export_id}}"): needs(EXPORTS),
    ("GET", f"{V1}/cases/{{case_id}}/exports/{{export_id}}/download"): needs(EXPORTS),
    ("GET", f"{V1}/cases/{{case_id}}/exports/{{export_id}}/verification"): needs(EXPORTS),
    # audit (#17 part 4)
    ("GET", f"{V1}/audit"): needs(AUDIT_READ),
    ("GET", f"{V1}/audit/export"): needs(AUDIT_READ),
    ("GET", f"{V1}/audit/verify"): needs(AUDIT_READ),
}


@dataclass(frozen=True)
class RouteInfo:
    """One method of one route as the application serves it, and what it declares."""

    method: str
    path: str
    requirement: Requirement | None


def app_routes(app: FastAPI) -> list[RouteInfo]:
    """Every method of every API route (the docs pages left out)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            assert context.path in DOCS_PATHS, f"unexpected non-API route {context.path}"
            continue
        declared = [d.call for d in route.dependant.dependencies if isinstance(d.call, Requirement)]
        assert len(declared) <= 1, f"{context.path} declares requires() more than once"
        for method in sorted(set(route.methods or ()) - {"HEAD"}):
            found.append(RouteInfo(method, str(context.path), declared[0] if declared else None))
    return found


@dataclass(frozen=True)
class Probe:
    """One request of the matrix and the status rule it must meet."""

    role: str
    method: str
    path: str
    in_scope: bool
    url: str
    expected: str  # "403", "404", "allowed" (not 401/403), "allowed-in-scope" (also not 404)

    def passes(self, status: int) -> bool:
        if self.expected in ("403", "404"):
            return status == int(self.expected)
        if status in (401, 403):
            return False
        return not (self.expected == "allowed-in-scope" and status == 404)


@dataclass(frozen=True)
class World:
    """Ids in the template catalog: per camera (IN, OUT) a zone, a car track and an event."""

    zones: dict[str, int]
    tracks: dict[str, int]
    events: dict[str, int]
    keys: dict[str, str]  # role → plaintext key limited to IN


def _fill(path: str, world: World, camera: str) -> str:
    values = {
        "camera_id": camera, "zone_id": str(world.zones[camera]),
        "track_id": str(world.tracks[camera]), "event_id": str(world.events[camera]),
        "key:path": "missing/x.jpg", "start_ms": "1", "end_ms": "2",
    }  # fmt: skip
    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        name = out[start + 1 : end]
        out = out[:start] + values.get(name, MISSING_ID) + out[end + 1 :]
    return out


def probes(route: RouteInfo, entry: Entry, world: World) -> list[Probe]:
    """The route's probes: every role; scoped routes on a camera in and out of scope."""
    cameras = [(IN, True), (OUT, False)] if entry.scope else [(IN, True)]
    made = []
    for role in ROLES:
        allowed = bool(entry.capabilities & capabilities_of(role))
        for camera, in_scope in cameras:
            if not allowed:
                expected = "403"
            elif not in_scope:
                expected = "404"
            else:
                expected = "allowed-in-scope" if entry.scope else "allowed"
            url = _fill(route.path, world, camera)
            made.append(Probe(role, route.method, route.path, in_scope, url, expected))
    return made


def build_world(context: ApiContext, root: Path) -> World:
    """Cameras IN and OUT, each with a zone, a car track and a violation event; one key per
    role, limited to IN."""
    url = "rtsp://10.0.0.5/main"
    zones, tracks = {}, {}
    with context.sessions() as session:
        for n, camera in enumerate((IN, OUT)):
            upsert_camera(session, CameraSpec(camera, camera, url))
            zones[camera] = create_zone(session, camera, f"zone-{camera}", SQUARE).id
            tracks[camera] = add_track(
                session,
                NewTrack(
                    camera_id=camera, local_track_id=n + 1, class_name="car", confidence=0.9,
                    start_at=T0, end_at=T0 + timedelta(seconds=5), best_shot_at=T0,
                    best_bbox_xyxy_px=(0.0, 0.0, 10.0, 10.0),
                ),
            )  # fmt: skip
        keys = {role: create_api_key(session, f"key-{role}", role, [IN]) for role in ROLES}
        session.commit()
    recorder = EventRecorder(
        context.sessions, PictureSpool(context.store, root / "spool"), "Asia/Shanghai", 900
    )
    events = {}
    for camera in (IN, OUT):
        update = ViolationUpdate(
            camera_id=camera, zone_id=zones[camera], kind="street_vending", phase="opened",
            started_at=T0, last_seen_at=T0 + timedelta(minutes=5), severity="medium",
            local_track_ids=(7,), snapshots=(Snapshot(T0, b"\xff\xd8 snapshot"),),
        )  # fmt: skip
        events[camera] = recorder.record(update).event.id
    return World(zones, tracks, events, keys)


@dataclass
class MatrixEnv:
    """A running API over a template catalog that each probe gets a fresh copy of."""

    app: FastAPI
    client: TestClient
    context: ApiContext
    world: World
    template: Path
    root: Path

    def send(self, probe: Probe, entry: Entry, copy_index: int) -> int:
        """The probe's status. A GET runs on the shared catalog (reads change nothing but the
        audit log); any other method on a fresh copy of the template (a DELETE that was
        allowed must not change what the next probe sees)."""
        if probe.method == "GET":
            return self._request(probe, entry)
        copy = self.root / f"probe-{copy_index}.db"
        shutil.copyfile(self.template, copy)
        engine = make_engine(f"sqlite:///{copy}")
        shared = self.context.sessions
        try:
            self.context.sessions = session_factory(engine)
            return self._request(probe, entry)
        finally:
            self.context.sessions = shared
            engine.dispose()
            for path in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
                path.unlink(missing_ok=True)

    def _request(self, probe: Probe, entry: Entry) -> int:
        headers = {"X-API-Key": self.world.keys[probe.role]}
        body = entry.body if entry.body is not None else {}
        json_body = body if probe.method in ("POST", "PUT", "PATCH") else None
        reply = self.client.request(
            probe.method, probe.url, headers=headers, json=json_body, params=entry.query
        )
        return reply.status_code


@contextmanager
def matrix_env(root: Path) -> Iterator[MatrixEnv]:
    context = empty_context(root)
    context.event_stream = EventStreamPolicy(poll_s=0.01, heartbeat_s=0.05, max_s=0.05)
    world = build_world(context, root)
    context.sessions.kw["bind"].dispose()  # all of it in the file once its pool is closed
    template = root / "template.db"
    shutil.copyfile(root / "catalog.db", template)  # GETs go on in catalog.db
    app = create_app(context)
    with TestClient(app, base_url=BASE_URL) as client:
        yield MatrixEnv(app, client, context, world, template, root)
    runner = getattr(app.state, "search_jobs", None)
    if runner is not None:
        runner.shutdown()


def run_matrix(env: MatrixEnv) -> tuple[list[Probe], list[tuple[Probe, int]]]:
    """Every probe of every route in MATRIX (routes without an entry are the test's business):
    (probes sent, failures with the status seen)."""
    sent: list[Probe] = []
    failures: list[tuple[Probe, int]] = []
    for route in app_routes(env.app):
        entry = MATRIX.get((route.method, route.path))
        if entry is None or entry.public:
            continue
        for probe in probes(route, entry, env.world):
            status = env.send(probe, entry, len(sent))
            sent.append(probe)
            if not probe.passes(status):
                failures.append((probe, status))
    return sent, failures
