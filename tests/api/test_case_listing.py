"""A case belongs to the investigator who opened it: the case list and a case's page show
other investigators nothing of it (its title names an investigation), while admins and
auditors (case_review) see every case."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from index.catalog import create_api_key
from tests.api_support import ApiEnv, api_env

B = "/api/v1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("case-listing")) as built:
        with built.context.sessions() as session:
            built.keys["auditor"] = create_api_key(session, "audrey", "auditor")
            built.keys["admin"] = create_api_key(session, "adam", "admin")
            session.commit()
        yield built


def listed(env: ApiEnv, key: str, open_only: bool = False) -> set[str]:
    response = env.client.get(
        f"{B}/cases", params={"open_only": open_only}, headers=env.headers(key)
    )
    assert response.status_code == 200, response.text
    return {case["id"] for case in response.json()}


def test_an_investigator_lists_only_the_cases_they_opened(env: ApiEnv) -> None:
    opened = env.client.post(
        f"{B}/cases", json={"title": "Bob's case"}, headers=env.headers("other")
    )
    assert opened.status_code == 201, opened.text
    bobs = opened.json()["id"]
    anas = {env.case_id, env.closed_case_id}
    assert listed(env, "investigator") == anas
    assert listed(env, "investigator", open_only=True) == {env.case_id}
    assert listed(env, "other") == {bobs}
    for reviewer in ("auditor", "admin"):
        assert anas | {bobs} <= listed(env, reviewer)


def test_another_investigators_case_is_not_readable(env: ApiEnv) -> None:
    refused = env.client.get(f"{B}/cases/{env.case_id}", headers=env.headers("other"))
    assert refused.status_code == 403, refused.text
    assert "opened by someone else" in refused.json()["detail"]
    assert "Robbery" not in refused.text
    for key in ("investigator", "auditor", "admin"):
        shown = env.client.get(f"{B}/cases/{env.case_id}", headers=env.headers(key))
        assert shown.status_code == 200, shown.text
        assert shown.json()["title"] == "Robbery at gate 2"
    missing = env.client.get(f"{B}/cases/no-such-case", headers=env.headers("other"))
    assert missing.status_code == 404
