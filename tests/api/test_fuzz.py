"""Schemathesis over the live OpenAPI of a real `skynet serve` process (issue #12): with an
admin key and without a key, no 5xx and every response conforming to the declared OpenAPI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fuzz_support import LiveApi, fuzz, seeded_server

pytestmark = pytest.mark.slow

MIN_CASES_WITH_KEY = 1000
MIN_CASES_WITHOUT_KEY = 300
EXAMPLES_WITH_KEY = int(os.environ.get("SKYNET_FUZZ_EXAMPLES", "40"))
EXAMPLES_WITHOUT_KEY = 15
SIGNED_LINK_ROUTES = {"objects", "pictures", "clips"}  # first path segment under /api/v1
FRONT_DOOR_ROUTE = ""  # GET /, the server's address


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    # The fuzzer sends ~100 requests a second with one key: far past the default per-key
    # limit; the limiter stays on (its 429 is part of the contract), at a rate it won't reach.
    # The event stream ends after SKYNET_EVENT_STREAM_MAX_S (clients reconnect): short here,
    # so each fuzzed stream request returns in a second instead of holding a worker.
    limits = {"SKYNET_RATE_LIMIT_PER_MINUTE": "1000000", "SKYNET_EVENT_STREAM_MAX_S": "1"}
    with seeded_server(tmp_path_factory.mktemp("fuzz"), limits) as api:
        yield api


def test_fuzzing_with_a_key_finds_no_server_error_or_nonconforming_response(
    live_api: LiveApi,
) -> None:
    run = fuzz(live_api, "with-key", [f"X-API-Key: {live_api.admin_key}"], EXAMPLES_WITH_KEY)
    assert run.cases >= MIN_CASES_WITH_KEY, run.statuses
    assert run.server_errors == 0, run.statuses
    assert run.passed, run.output
    assert run.statuses[200] > 0  # the key was accepted: not everything was refused


def test_fuzzing_without_a_key_is_refused_everywhere(live_api: LiveApi) -> None:
    run = fuzz(live_api, "without-key", [], EXAMPLES_WITHOUT_KEY)
    assert run.cases >= MIN_CASES_WITHOUT_KEY, run.statuses
    assert run.server_errors == 0, run.statuses
    assert run.passed, run.output
    # Every keyed operation answers 401 (405: a method the path lacks; 413 and 429 may come
    # before the key is looked at). The signed links (objects, pictures, clips) need no key
    # for GET: they answer 403 for a bad signature, 422 for a malformed one, 401 for any
    # other method.
    # Logging in (POST /auth/login, issue #17) needs no key either: 401 for wrong credentials,
    # 403 for a locked account, 422 for a malformed body. Nor does the front door, GET / (route
    # ""): a browser is sent to /ui (302), any other client gets 404; another method on "/" is
    # no public operation, so it fails closed (401).
    by_route = run.statuses_by_route
    signed = {route: s for route, s in by_route.items() if route in SIGNED_LINK_ROUTES}
    keyed = {
        route: s
        for route, s in by_route.items()
        if route not in SIGNED_LINK_ROUTES and route not in ("auth", FRONT_DOOR_ROUTE)
    }
    assert all(statuses <= {401, 405, 413, 429} for statuses in keyed.values()), keyed
    assert all(statuses <= {401, 403, 422} for statuses in signed.values()), signed
    assert by_route.get("auth", {401}) <= {401, 403, 405, 413, 422, 429}, by_route["auth"]
    assert by_route.get(FRONT_DOOR_ROUTE, {404}) <= {302, 401, 404, 405}, by_route[FRONT_DOOR_ROUTE]
