"""The server's address itself ("/", first-user run): a browser is sent to the interface (it
answered a 401 JSON body), an API client gets a JSON 404 naming /api/v1; other unknown paths
still need credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from search_api.app import create_app
from tests.api_support import BASE_URL, empty_context

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(empty_context(tmp_path_factory.mktemp("front-door")))
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def test_a_browser_at_the_root_is_sent_to_the_sign_in_page(client: TestClient) -> None:
    reply = client.get("/", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
    assert reply.status_code == 302 and reply.headers["location"] == "/ui"
    page = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200 and page.url.path == "/ui/login"
    assert "text/html" in page.headers["content-type"]


def test_an_api_client_at_the_root_gets_a_json_404(client: TestClient) -> None:
    reply = client.get("/", headers={"Accept": "application/json"})
    assert reply.status_code == 404 and "/api/v1" in reply.json()["detail"]
    assert client.get("/").status_code == 404  # curl's */*
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert client.get("/nothing-here").status_code == 401  # unknown paths still fail closed
