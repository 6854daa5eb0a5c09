"""The set-up the case API tests share (tests/api/test_case_hops.py, test_case_tracks.py):
the real API on a catalog the test module filled with cameras and tracks, an API key per
person, and calls made as one of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi.testclient import TestClient

from index.catalog import create_api_key
from index.catalog.audit import audit_page
from index.catalog.audit_values import AuditQuery
from search_api.app import create_app
from search_api.context import ApiContext
from tests.api_support import BASE_URL

API = "/api/v1"


@dataclass(frozen=True)
class Person:
    """Whom a key is for: a role, and the cameras it may see (None: all)."""

    role: str
    camera_ids: tuple[str, ...] | None = None


@dataclass
class CaseEnv:
    client: TestClient
    context: ApiContext
    keys: dict[str, str]
    tracks: dict[str, int]

    def call(
        self, method: str, path: str, who: str, json: Any = None, params: Any = None
    ) -> httpx.Response:
        return self.client.request(
            method, f"{API}{path}", headers={"X-API-Key": self.keys[who]}, json=json, params=params
        )

    def open_case(self, who: str, title: str) -> str:
        reply = self.call("POST", "/cases", who, json={"title": title})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def audited(self, case_id: str, action: str) -> list[dict[str, Any]]:
        """The case's audit entries of `action`, oldest first: filters plus the principal."""
        with self.context.sessions() as session:
            return [
                dict(e.filters) | {"principal": e.principal}
                for e in audit_page(session, AuditQuery(case_id=case_id, action=action))
            ]


Env = TypeVar("Env", bound=CaseEnv)


def case_env(
    kind: type[Env], context: ApiContext, tracks: dict[str, int], people: Mapping[str, Person]
) -> Iterator[Env]:
    """A key for each of `people` (by name), then the API on `context` as a `kind` (CaseEnv or
    a test module's subclass with its own calls) until the test module is done."""
    with context.sessions() as session:
        keys = {
            name: create_api_key(session, name, person.role, camera_ids=person.camera_ids)
            for name, person in people.items()
        }
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield kind(client, context, keys, tracks)
