"""Picture and clip links are handed to a key: they resolve only while that key is active, and
every fetch is audited under the key's name (issue #12, item 8)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from index.catalog import audit_entries, create_api_key, revoke_api_key
from tests.api_support import ApiEnv, api_env

B = "/api/v1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("links")) as env:
        yield env


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_links_of_a_revoked_key_stop_working_at_once(env: ApiEnv) -> None:
    with env.context.sessions() as session:
        key = create_api_key(session, "desk 7", "viewer")
        session.commit()
    car = env.client.get(f"{B}/tracks/{env.vehicles['red_car']}", headers={"X-API-Key": key})
    assert car.status_code == 200
    picture, clip = _local(car.json()["thumbnail_url"]), _local(car.json()["clip_url"])
    opened = env.client.get(picture, follow_redirects=False)
    assert opened.status_code == 307  # to a store link that lives a minute
    assert "/objects/" in opened.headers["location"]
    assert env.client.get(picture).content[:2] == b"\xff\xd8"
    assert env.client.get(clip, follow_redirects=False).status_code == 404  # no recording here

    with env.context.sessions() as session:
        assert revoke_api_key(session, "desk 7") == 1
        session.commit()
    for link in (picture, clip):
        refused = env.client.get(link, follow_redirects=False)
        assert refused.status_code == 403 and "revoked" in refused.json()["detail"]


def test_picture_fetches_are_audited_under_the_key_they_were_handed_to(env: ApiEnv) -> None:
    car = env.client.get(f"{B}/tracks/{env.vehicles['white_car']}", headers=env.headers("viewer"))
    picture = _local(car.json()["thumbnail_url"])
    assert env.client.get(picture).status_code == 200
    with env.context.sessions() as session:
        fetch = [e for e in audit_entries(session) if e.action == "object_access"][-1]
    assert (fetch.principal, fetch.role) == ("vic", "viewer")
    assert fetch.target == "object:" + urlsplit(picture).path.removeprefix(f"{B}/pictures/")


def test_a_link_names_its_key_and_cannot_be_moved_to_another(env: ApiEnv) -> None:
    car = env.client.get(f"{B}/tracks/{env.vehicles['red_car']}", headers=env.headers("viewer"))
    picture = _local(car.json()["thumbnail_url"])
    holder = next(p for p in urlsplit(picture).query.split("&") if p.startswith("holder="))
    moved = picture.replace(holder, "holder=1")
    assert moved != picture
    assert env.client.get(moved, follow_redirects=False).status_code == 403
