"""The generated role × endpoint × camera-scope matrix (issue #17): every route has an entry in
tests/api/authz_matrix.py, declares exactly what the entry says, and the running API answers
each role on a camera in and out of its scope as the capability table says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.catalog import KEY_ROLES
from search_api.access import CAPABILITIES, ROLE_CAPABILITIES, ROLES
from search_api.app import create_app
from tests.api.authz_matrix import (
    MATRIX,
    PUBLIC,
    MatrixEnv,
    Probe,
    RouteInfo,
    app_routes,
    matrix_env,
    probes,
)

ROUTES = app_routes(create_app(None))  # type: ignore[arg-type]  # routes only, no context


def test_every_route_has_a_matrix_entry_and_declares_it() -> None:
    served = {(r.method, r.path) for r in ROUTES}
    missing = sorted(served - set(MATRIX))
    assert not missing, f"routes without an entry in tests/api/authz_matrix.py: {missing}"
    stale = sorted(set(MATRIX) - served)
    assert not stale, f"matrix entries for routes that do not exist: {stale}"
    wrong = []
    for route in ROUTES:
        entry = MATRIX[(route.method, route.path)]
        declared = route.requirement
        if entry.public:
            if declared is not None:
                wrong.append((route.method, route.path, "public in the matrix, yet requires()"))
        elif declared is None:
            wrong.append((route.method, route.path, "declares no requires()"))
        elif (declared.capabilities, declared.scope) != (entry.capabilities, entry.scope):
            got = (sorted(declared.capabilities), declared.scope)
            wrong.append((route.method, route.path, f"declares {got}"))
    assert not wrong, wrong


def test_public_routes_are_only_signed_links_and_logins() -> None:
    public = sorted(path for (_, path), entry in MATRIX.items() if entry.public)
    signed_links = ("/api/v1/pictures/", "/api/v1/objects/", "/api/v1/clips/")
    pages = "/ui"  # the web interface: pages sign the browser in themselves (issue #18)
    allowed = (*signed_links, "/api/v1/auth/", pages)
    assert public and all(p == "/" or p.startswith(allowed) for p in public), public  # "/": to /ui


def test_roles_keys_and_capabilities_agree() -> None:
    assert set(KEY_ROLES) == set(ROLES) == {
        "admin", "investigator", "city_manager", "operator", "auditor", "viewer",
    }  # fmt: skip
    assert ROLE_CAPABILITIES["admin"] == CAPABILITIES  # admin may do everything
    assert not ROLE_CAPABILITIES["auditor"] & {"cameras_view", "tracks_view", "object_search"}
    assert "person_search" not in ROLE_CAPABILITIES["city_manager"]
    # every capability some route needs belongs to at least one role, and no role holds one
    # that no route needs (a typo in the table would)
    needed = set().union(*(e.capabilities for e in MATRIX.values()))
    assert needed <= CAPABILITIES
    assert CAPABILITIES - needed <= {"person_search"}  # checked inside handlers


# The agreed table (issue #17, /work/tools/AUTHZ.md): changing ROLE_CAPABILITIES means
# changing this too, on purpose.
VIEWING = {"signed_in", "metrics", "cameras_view", "tracks_view", "events_view"}
INVESTIGATING = {
    "object_search", "person_search", "plate_search", "watchlists", "cases", "exports",
}  # fmt: skip
AGREED = {
    "investigator": VIEWING | INVESTIGATING | {"footage_upload"},  # witnesses' footage (#15)
    "city_manager": {"signed_in", "cameras_view", "events_view", "event_review", "zone_rules"},
    "operator": VIEWING
    | {"camera_admin", "zone_rules", "event_review", "footage_upload", "reindex"},
    "auditor": {"signed_in", "audit_read", "case_review"},
    "viewer": VIEWING,
}


def test_the_capability_table_is_the_agreed_one() -> None:
    assert {role: set(caps) for role, caps in ROLE_CAPABILITIES.items() if role != "admin"} == (
        AGREED
    )
    admin_only = {"access_admin", "webhooks_admin", "retention_admin"}
    assert set().union(*AGREED.values()) | admin_only == CAPABILITIES


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixEnv]:
    root: Path = tmp_path_factory.mktemp("authz")
    with matrix_env(root) as env:
        yield env


PROBED = [r for r in ROUTES if not MATRIX.get((r.method, r.path), PUBLIC).public]


@pytest.mark.parametrize("route", PROBED, ids=[f"{r.method} {r.path}" for r in PROBED])
def test_route_answers_every_role_as_the_matrix_says(env: MatrixEnv, route: RouteInfo) -> None:
    entry = MATRIX[(route.method, route.path)]
    failures: list[tuple[Probe, int]] = []
    for n, probe in enumerate(probes(route, entry, env.world)):
        status = env.send(probe, entry, n)
        if not probe.passes(status):
            failures.append((probe, status))
    assert not failures, [
        (p.role, p.url, "in scope" if p.in_scope else "out of scope", p.expected, s)
        for p, s in failures
    ]
