"""Cases (issue #17 part 3) on the real API: person and plate searches and watchlists need an
open case of the caller's with a purpose; a case shows everything done under it (to its
creator, admins and auditors); closing it ends its watchlists and refuses further work."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from index.catalog import CameraSpec, create_api_key, upsert_camera
from search_api.app import create_app
from tests.api_support import BASE_URL, empty_context

API = "/api/v1"


@dataclass
class Env:
    client: TestClient
    keys: dict[str, str]

    def call(self, method: str, path: str, who: str, json: Any = None) -> httpx.Response:
        return self.client.request(
            method, f"{API}{path}", headers={"X-API-Key": self.keys[who]}, json=json
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root: Path = tmp_path_factory.mktemp("cases")
    context = empty_context(root)
    with context.sessions() as session:
        upsert_camera(session, CameraSpec("gate", "Gate", "rtsp://10.0.0.5/main"))
        keys = {
            who: create_api_key(session, who, role)
            for who, role in (
                ("ana", "investigator"), ("bob", "investigator"), ("aud", "auditor"),
                ("root", "admin"), ("vic", "viewer"),
            )
        }  # fmt: skip
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield Env(client, keys)


def test_a_case_shows_everything_done_under_it_and_closing_ends_its_watchlists(env: Env) -> None:
    case = env.call("POST", "/cases", "ana", json={"title": "stolen van"}).json()["id"]
    access = {"case_id": case, "purpose": "stolen van, report 42"}
    plate = env.call("POST", "/search/plate", "ana", json={"pattern": "京A12345", **access})
    assert plate.status_code == 200, plate.text
    people = {"classes": ["person"], **access}
    assert env.call("POST", "/search/attributes", "ana", json=people).status_code == 200
    expires = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    watch = {"name": "van", "expires_at": expires, **access,
             "entries": [{"kind": "plate", "pattern": "京A12345"}]}  # fmt: skip
    created = env.call("POST", "/watchlists", "ana", json=watch)
    assert created.status_code == 201, created.text

    activity = env.call("GET", f"/cases/{case}/activity", "ana").json()
    assert [e["action"] for e in activity["activity"]] == [
        "open_case", "search", "search", "create_watchlist",
    ]  # fmt: skip
    assert [e["query_type"] for e in activity["activity"][1:3]] == ["plate", "attributes"]
    assert {e["purpose"] for e in activity["activity"][1:]} == {"stolen van, report 42"}
    assert [w["name"] for w in activity["watchlists"]] == ["van"]
    assert activity["is_open"] and activity["next_after_seq"] is None

    # the creator, admins and auditors read it; another investigator may not, a viewer neither
    assert env.call("GET", f"/cases/{case}/activity", "aud").status_code == 200
    assert env.call("GET", f"/cases/{case}/activity", "root").status_code == 200
    other = env.call("GET", f"/cases/{case}/activity", "bob")
    assert other.status_code == 403 and "opened by someone else" in other.json()["detail"]
    assert env.call("GET", f"/cases/{case}/activity", "vic").status_code == 403
    page = env.call("GET", f"/cases/{case}/activity?limit=2", "ana").json()
    assert len(page["activity"]) == 2 and page["next_after_seq"] == page["activity"][1]["seq"]

    assert env.call("POST", f"/cases/{case}/close", "ana").status_code == 200
    ended = env.call("GET", f"/cases/{case}/activity", "aud").json()
    assert ended["watchlists"][0]["ended_reason"] == "case closed"
    assert not ended["is_open"] and ended["activity"][-1]["action"] == "close_case"
    # reads of the activity are audited too (the auditor's included)
    assert any(e["action"] == "read_case_activity" for e in ended["activity"])
    again = env.call("POST", "/search/plate", "ana", json={"pattern": "京A12345", **access})
    assert again.status_code == 403 and "closed" in again.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/search/plate", {"pattern": "京A12345"}),
        ("/search/attributes", {"classes": ["person"]}),
    ],
)
def test_person_and_plate_searches_need_a_case_and_a_purpose(
    env: Env, path: str, body: dict[str, object]
) -> None:
    case = env.call("POST", "/cases", "ana", json={"title": "t"}).json()["id"]
    without_case = env.call("POST", path, "ana", json=body)
    assert without_case.status_code == 403 and "case_id" in without_case.json()["detail"]
    without_purpose = env.call("POST", path, "ana", json={**body, "case_id": case})
    assert without_purpose.status_code == 403 and "purpose" in without_purpose.json()["detail"]
    borrowed = env.call("POST", path, "bob", json={**body, "case_id": case, "purpose": "p"})
    assert borrowed.status_code == 403 and "someone else" in borrowed.json()["detail"]
