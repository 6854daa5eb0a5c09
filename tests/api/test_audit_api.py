"""Audit endpoints (issue #17): filters and paging, export with checkpoints, verification, who
may read the log (admin, auditor), and every read of it audited."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from index.catalog import (
    append_audit,
    audit_entries,
    create_api_key,
    create_case,
    make_audit_checkpoint,
)
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from storage.ed25519 import Signer
from tests.api_support import empty_context

SIGNER = Signer.generate()
Audited = tuple[TestClient, ApiContext, dict[str, str], str]  # client, context, keys, db file


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[Audited]:
    context = empty_context(tmp_path)
    context.audit_public_key = SIGNER.public_key
    with context.sessions.begin() as session:
        keys = {
            "admin": create_api_key(session, "ada", "admin"),
            "investigator": create_api_key(session, "ana", "investigator"),
            "viewer": create_api_key(session, "vic", "viewer"),
            "auditor": create_api_key(session, "aud", "auditor"),
        }
        case_id = create_case(session, "Stolen bike", "ana")
        for i in range(5):
            append_audit(
                session, principal="ana", role="investigator", action="search",
                query_type="image" if i % 2 else "text", case_id=case_id, purpose="bike",
                filters={"cameras": ["c1"]}, image_sha256="ab" * 32, hit_count=i,
            )  # fmt: skip
        append_audit(session, principal="ada", role="admin", action="camera_update",
                     target="camera:c1")  # fmt: skip
        make_audit_checkpoint(session, SIGNER)
    yield TestClient(create_app(context)), context, keys, str(tmp_path / "catalog.db")


def get(client: TestClient, keys: dict[str, str], who: str, path: str, **params: Any) -> Response:
    return client.get(f"{API_PREFIX}/audit{path}", params=params, headers={"X-API-Key": keys[who]})


def test_auditors_filter_and_page_the_log(audited: Audited) -> None:
    client, context, keys, _db = audited
    first = get(client, keys, "auditor", "", principal="ana", action="search", limit=2)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["seq"] for e in page["items"]] == [1, 2]
    assert page["items"][0]["image_sha256"] == "ab" * 32
    assert len(page["items"][0]["entry_hash"]) == 64
    rest = get(client, keys, "auditor", "", principal="ana", after_seq=page["next_after_seq"])
    assert [e["seq"] for e in rest.json()["items"]] == [3, 4, 5]
    assert rest.json()["next_after_seq"] is None
    images = get(client, keys, "admin", "", query_type="image").json()["items"]
    assert [e["hit_count"] for e in images] == [1, 3]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert get(client, keys, "admin", "", start=future).json()["items"] == []
    changes = get(client, keys, "admin", "", end=future, action="camera_update")
    assert [e["target"] for e in changes.json()["items"]] == ["camera:c1"]
    bad = get(client, keys, "admin", "", limit=0)
    assert bad.status_code == 422
    past_64_bits = get(client, keys, "admin", "", after_seq=2**64)  # the fuzz run's one 500
    assert past_64_bits.status_code == 422 and "after_seq" in past_64_bits.text
    with context.sessions() as session:
        read = [e for e in audit_entries(session) if e.action == "audit_read"]
    assert read[0].principal == "aud" and read[0].filters == {
        "principal": "ana",
        "action": "search",
    }
    assert read[0].hit_count == 2 and len(read) == 5  # the refused (422) read never ran


@pytest.mark.parametrize("path", ["", "/export", "/verify"])
def test_only_admins_and_auditors_read_the_log(audited: Audited, path: str) -> None:
    client, context, keys, _db = audited
    for who in ("investigator", "viewer"):
        assert get(client, keys, who, path).status_code == 403
    assert client.get(f"{API_PREFIX}/audit{path}").status_code == 401
    for who in ("admin", "auditor"):
        assert get(client, keys, who, path).status_code == 200
    with context.sessions() as session:
        readers = {e.principal for e in audit_entries(session) if e.action.startswith("audit_")}
    assert readers == {"ada", "aud"}


def test_export_carries_entries_checkpoints_and_key(audited: Audited) -> None:
    client, _context, keys, _db = audited
    jsonl = get(client, keys, "auditor", "/export")
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    # the export itself is entry 7, appended before the file is written
    assert [r["record"] for r in records] == ["entry"] * 7 + ["checkpoint", "key"]
    assert (records[6]["action"], records[6]["principal"]) == ("audit_export", "aud")
    assert records[7]["seq"] == 6 and records[7]["entry_hash"] == records[5]["entry_hash"]
    assert records[8]["public_key"] == SIGNER.public_key.b64
    text = get(client, keys, "auditor", "/export", format="csv", principal="ada").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["record"] for r in rows] == ["entry", "checkpoint", "key"]
    assert rows[0]["action"] == "camera_update" and rows[0]["at"].endswith("Z")
    assert get(client, keys, "auditor", "/export", format="xml").status_code == 422


def test_verify_reports_a_direct_edit(audited: Audited) -> None:
    client, _context, keys, db_path = audited
    clean = get(client, keys, "auditor", "/verify")
    assert clean.status_code == 200 and clean.json()["ok"] is True
    assert clean.json()["last_good_checkpoint"] == 6
    beyond = get(client, keys, "auditor", "/verify", from_seq=99)
    assert beyond.status_code == 422 and "the log has" in beyond.json()["detail"]
    assert get(client, keys, "auditor", "/verify", from_seq=2**64).status_code == 422
    db = sqlite3.connect(db_path)
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET hit_count = 0 WHERE seq = 3")
    db.commit()
    db.close()
    report = get(client, keys, "auditor", "/verify").json()
    assert report["ok"] is False
    assert report["problems"][0] == {
        "seq": 3,
        "kind": "altered",
        "detail": "entry 3's fields do not match its hash",
    }
    assert {p["kind"] for p in report["problems"]} == {"altered", "triggers"}


def test_without_a_signing_key_verify_and_export_are_unavailable(audited: Audited) -> None:
    client, context, keys, _db = audited
    context.audit_public_key = None
    for path in ("/verify", "/export"):
        reply = get(client, keys, "auditor", path)
        assert reply.status_code == 503 and "no audit signing key" in reply.json()["detail"]
    assert get(client, keys, "auditor", "").status_code == 200  # reading needs no key
