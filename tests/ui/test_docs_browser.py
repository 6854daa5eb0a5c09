"""The API docs page (/docs) in a real browser with no internet: Swagger UI loads from the API
itself and renders the live OpenAPI document's operations (before, the page took its script
and style from cdn.jsdelivr.net and stayed blank here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import VIEWPORT, UiInstance

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_the_docs_page_renders_the_api_without_internet(
    browser: Browser, ui_instance: UiInstance, shot: Callable[[Page, str], Path]
) -> None:
    context = browser.new_context(viewport=VIEWPORT)  # no sign-in: the docs are public
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    try:
        page.goto(f"{ui_instance.base_url}/docs")
        operations = page.locator(".opblock")
        expect(operations.first).to_be_visible(timeout=15_000)
        assert operations.count() > 50  # the whole /api/v1, not an error box
        expect(page.get_by_text("/api/v1/search/image").first).to_be_visible()
        assert hosts == {urlsplit(ui_instance.base_url).netloc}, hosts
        shot(page, "api-docs")
    finally:
        context.close()
