"""The interface's shell (issue #18) without a browser: pages need the session cookie, the API
takes the cookie only with the CSRF header, sign-out and refresh revoke, roles, languages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.catalog.accounts import create_user
from index.passwords import hash_password
from search_api.app import create_app
from search_api.browser_session import CSRF_COOKIE, SESSION_COOKIE
from search_api.ui.i18n import I18N_DIR, LANGUAGES
from tests.api_support import BASE_URL, empty_context

PASSWORD = "correct horse battery staple"
TEMPLATES = Path("search_api/ui/templates")
STATIC = Path("search_api/ui/static")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    context = empty_context(tmp_path_factory.mktemp("ui-shell"))
    with context.sessions() as session:
        create_user(session, "ivy", "investigator", hash_password(PASSWORD))
        create_user(session, "aud", "auditor", hash_password(PASSWORD))
        session.commit()
    return create_app(context)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def sign_in(client: TestClient, name: str = "ivy") -> str:
    reply = client.post("/ui/session", json={"name": name, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return client.cookies[CSRF_COOKIE]


def test_a_page_without_a_session_sends_to_sign_in_and_back(client: TestClient) -> None:
    reply = client.get("/ui/tracks/7?x=1", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/ui/login?next=/ui/tracks/7%3Fx%3D1"
    page = client.get(reply.headers["location"])
    assert page.status_code == 200 and 'data-next="/ui/tracks/7?x=1"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # elsewhere than this interface is never a place to go back to
    assert 'data-next="/ui/search"' in client.get("/ui/login?next=//evil.example/x").text


def test_sign_in_sets_strict_http_only_cookies_and_shows_the_user(client: TestClient) -> None:
    wrong = client.post("/ui/session", json={"name": "ivy", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong user name or password"
    reply = client.post("/ui/session", json={"name": "ivy", "password": PASSWORD})
    cookies = reply.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    csrf_cookie = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "samesite=strict" in session_cookie.lower()
    assert "HttpOnly" not in csrf_cookie and "samesite=strict" in csrf_cookie.lower()
    page = client.get("/ui/search")
    assert page.status_code == 200 and 'data-testid="who">ivy' in page.text


def test_the_api_takes_the_cookie_only_with_the_csrf_header(client: TestClient) -> None:
    csrf = sign_in(client)
    assert client.get("/api/v1/auth/me").status_code == 401  # cookie alone: a forged request
    assert client.get("/api/v1/auth/me", headers={"X-CSRF-Token": "x" + csrf}).status_code == 401
    me = client.get("/api/v1/auth/me", headers={"X-CSRF-Token": csrf})
    assert me.status_code == 200 and me.json()["name"] == "ivy"


def test_refresh_rotates_and_sign_out_revokes(client: TestClient) -> None:
    csrf = sign_in(client)
    old_token = client.cookies[SESSION_COOKIE]
    assert client.post("/ui/session/refresh").status_code == 422  # no CSRF header
    assert client.post("/ui/session/refresh", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.cookies[SESSION_COOKIE] != old_token
    stale = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old_token}"})
    assert stale.status_code == 401  # the rotated-out token is revoked
    csrf = client.cookies[CSRF_COOKIE]
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/ui/session/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert client.get("/ui/search", follow_redirects=False).status_code == 303


def test_a_page_whose_session_ended_says_so_on_the_sign_in_page(client: TestClient) -> None:
    sign_in(client)
    token = client.cookies[SESSION_COOKIE]
    ended = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code == 204  # revoked elsewhere; the browser still holds the cookie
    again = client.get("/ui/search", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].endswith("&ended=1")
    assert 'data-testid="session-ended"' in client.get(again.headers["location"]).text


def test_a_role_without_the_capability_gets_a_refusal_page(client: TestClient) -> None:
    sign_in(client, "aud")
    page = client.get("/ui/search")
    assert page.status_code == 403 and "object_search" in page.text


def test_languages_have_the_same_keys_and_cover_every_template_and_script() -> None:
    tables = {
        lang: json.loads((I18N_DIR / f"{lang}.json").read_text("utf-8")) for lang in LANGUAGES
    }
    assert tables["zh"].keys() == tables["en"].keys()
    used = set()
    for path in [*TEMPLATES.glob("*.html"), *STATIC.glob("*.js")]:
        used |= set(re.findall(r"""\bt\(\s*['"]([a-z_]+\.[a-z0-9_.]+)['"]""", path.read_text()))
    assert used and not used - tables["en"].keys(), sorted(used - tables["en"].keys())


def test_the_language_switch_is_remembered(client: TestClient) -> None:
    sign_in(client)
    reply = client.get("/ui/lang/en?next=/ui/search")
    assert reply.status_code == 200 and ">Sign out<" in reply.text
    assert ">退出<" in client.get("/ui/lang/zh?next=/ui/search").text
    assert client.get("/ui/lang/fr").status_code == 404


def test_static_files_are_only_the_interfaces_own(client: TestClient) -> None:
    script = client.get("/ui/static/shell.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert client.get("/ui/static/..%2Fpages.py").status_code == 404
    assert client.get("/ui/static/missing.js").status_code == 404
