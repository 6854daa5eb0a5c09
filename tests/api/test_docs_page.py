"""The API docs page (/docs) works without internet: Swagger UI's script and style come from the
API itself (built from npm's swagger-ui-dist by models.build, sha256-pinned), the page names no
other host, and it is readable without a key like the OpenAPI document it shows."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from fastapi.testclient import TestClient

from models.registry import default_cache_dir
from search_api.app import create_app
from tests.api_support import empty_context


def test_the_docs_page_and_its_files_are_served_locally_without_a_key(tmp_path: Path) -> None:
    docs = default_cache_dir().resolve() / "docs"
    context = dataclasses.replace(empty_context(tmp_path), docs_assets_dir=docs)
    client = TestClient(create_app(context))
    page = client.get("/docs")
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert set(loaded) == {
        "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "data:,",
    }  # fmt: skip
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, no other host
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == (docs / "swagger-ui-bundle.js").read_bytes()
    style = client.get("/docs/assets/swagger-ui.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert client.get("/openapi.json").status_code == 200  # what the page loads, keyless too
    assert client.get("/docs/assets/index.html").status_code == 404  # only the two files
    assert client.get("/docs/assets/..%2Fcatalog.db").status_code == 401  # not a docs path
    assert client.get("/redoc").status_code == 401  # not served: an API path like any other


def test_docs_files_not_built_are_a_clear_503(tmp_path: Path) -> None:
    context = dataclasses.replace(empty_context(tmp_path), docs_assets_dir=tmp_path / "none")
    missing = TestClient(create_app(context)).get("/docs/assets/swagger-ui.css")
    assert missing.status_code == 503
    assert "python -m models.build" in missing.json()["detail"]
