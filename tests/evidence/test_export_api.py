"""Export API on really recorded footage: an investigator's export is built in the background,
downloads as a bundle that verifies against the site key, and leaves a chain of custody in the
audit log; a track outside the caller's cameras is 404, a closed case 403, originals 403 for
non-admins, someone else's export 404 — each refused request writes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.manifest import verify_bundle
from evidence.request import EvidenceKit, ExportRequest
from index.catalog import (
    AuditQuery,
    beat,
    close_case,
    create_api_key,
    create_case,
    create_held_job,
    get_job,
    iter_audit_entries,
    orphaned_job_ids,
)
from index.vectors import VectorIndex
from search_api.app import create_app
from search_api.context import ApiContext
from storage.ed25519 import Signer
from tests.api_support import query_models
from tests.evidence.footage_support import (
    SIGNING_KEY,
    RecordedCase,
    encode_segments,
    record_case,
)

pytestmark = pytest.mark.slow  # builds a real bundle (detector + CenterFace + ffmpeg): ~10 s


@dataclass
class ExportApi:
    client: TestClient
    recorded: RecordedCase
    signer: Signer
    keys: dict[str, str]
    bob_case: str

    def headers(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who]}

    def written(self) -> tuple[int, int]:
        """Export audit entries and live export jobs: what a refused request must not change
        (a refusal by the authorisation layer is audited as access_denied, by design)."""
        with self.recorded.sessions() as session:
            entries = iter_audit_entries(session, AuditQuery())
            audit = sum(1 for e in entries if e.action.startswith("export"))
            far = datetime.now(UTC) + timedelta(days=1)
            return audit, len(orphaned_job_ids(session, "export", far))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportApi]:
    root = tmp_path_factory.mktemp("export-api")
    recorded = record_case(root, encode_segments(root / "segments"))
    detector, embedder = query_models()
    signer = Signer.generate()
    context = ApiContext(
        recorded.sessions, recorded.store,
        VectorIndex(embedder.dim, embedder.embedding_version), detector, embedder, 600,
        SIGNING_KEY, "http://testserver",
        evidence=EvidenceKit(signer, root / "models"),
    )  # fmt: skip
    with recorded.sessions.begin() as session:
        keys = {
            "ana": create_api_key(session, "ana", "investigator"),
            "bob": create_api_key(session, "bob", "investigator", ["cam2"]),
            "carol": create_api_key(session, "carol", "investigator"),
            "viewer": create_api_key(session, "vic", "viewer"),
        }
        bob_case = create_case(session, "Bob's case", "bob")
    with TestClient(create_app(context)) as client:
        yield ExportApi(client, recorded, signer, keys, bob_case)


def exports_url(case_id: str) -> str:
    return f"/api/v1/cases/{case_id}/exports"


def test_export_builds_downloads_verifies_and_is_audited(api: ExportApi) -> None:
    case_id, subject = api.recorded.case_id, api.recorded.subject_id
    body = {"track_ids": [subject], "purpose": "court file 2026/117", "pad_s": 0.0}
    reply = api.client.post(exports_url(case_id), json=body, headers=api.headers("ana"))
    assert reply.status_code == 202, reply.text
    export = reply.json()
    assert export["state"] in ("queued", "running") and export["download_path"] is None
    api.client.app.state.export_jobs.wait(export["id"], 300)  # type: ignore[attr-defined]
    status = api.client.get(f"{exports_url(case_id)}/{export['id']}", headers=api.headers("ana"))
    done = status.json()
    assert done["state"] == "succeeded", done
    assert done["progress"] == 1.0 and done["key_fingerprint"] == api.signer.public_key.fingerprint
    download = api.client.get(done["download_path"], headers=api.headers("ana"))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert hashlib.sha256(download.content).hexdigest() == done["sha256"]
    bundle = Path(api.recorded.store.root) / "downloaded.zip"
    bundle.write_bytes(download.content)
    assert verify_bundle(bundle, api.signer.public_key).ok
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        custody = json.loads(archive.read("custody.json"))
        extract = [json.loads(line)["action"] for line in archive.read("audit.jsonl").splitlines()]
    assert custody["requested_by"] == "ana" and custody["purpose"] == "court file 2026/117"
    assert extract[-1] == "export_requested"  # the request is in its own bundle's extract
    with api.recorded.sessions() as session:
        trail = [
            (e.action, e.principal, e.target)
            for e in iter_audit_entries(session, AuditQuery(case_id=case_id))
            if e.action.startswith("export")
        ]
    target = f"export:{export['id']}"
    assert trail == [
        ("export_requested", "ana", target),
        ("export_built", "ana", target),
        ("export_downloaded", "ana", target),
    ]
    # someone else's export is not theirs to read or fetch
    other = api.client.get(done["download_path"], headers=api.headers("carol"))
    assert other.status_code == 404
    # a bundle gone from storage is 404, and no download is audited
    before = api.written()
    api.recorded.store.delete(f"exports/{case_id}/{export['id']}.zip")
    gone = api.client.get(done["download_path"], headers=api.headers("ana"))
    assert gone.status_code == 404 and "no longer stored" in gone.json()["detail"]
    assert api.written() == before


def test_a_track_outside_the_callers_cameras_is_404_and_nothing_is_written(
    api: ExportApi,
) -> None:
    before = api.written()
    body = {"track_ids": [api.recorded.subject_id], "purpose": "match the gate footage"}
    reply = api.client.post(exports_url(api.bob_case), json=body, headers=api.headers("bob"))
    assert reply.status_code == 404
    assert f"track {api.recorded.subject_id} not found" in reply.json()["detail"]
    assert api.written() == before


def test_closed_case_viewer_originals_and_bad_input_are_refused(api: ExportApi) -> None:
    with api.recorded.sessions.begin() as session:
        closed = create_case(session, "Closed already", "ana")
        close_case(session, closed)
    before = api.written()
    track = [api.recorded.subject_id]
    cases = [
        ("ana", closed, {"track_ids": track, "purpose": "late"}, 403, "is closed"),
        ("viewer", api.recorded.case_id, {"track_ids": track, "purpose": "x"}, 403, "role"),
        ("ana", api.recorded.case_id,
         {"track_ids": track, "purpose": "x", "include_originals": True}, 403, "unredacted"),
        ("carol", api.recorded.case_id, {"track_ids": track, "purpose": "x"}, 403,
         "opened by someone else"),
        ("ana", api.recorded.case_id, {"track_ids": [], "purpose": "x"}, 422, "track_ids"),
        ("ana", api.recorded.case_id, {"track_ids": track, "purpose": " "}, 422, "purpose"),
        ("ana", api.recorded.case_id, {"track_ids": [987654], "purpose": "x"}, 404, "987654"),
        ("ana", api.recorded.case_id, {"track_ids": [2**63], "purpose": "x"}, 422, "track_ids"),
        ("ana", api.recorded.case_id, {"track_ids": [0], "purpose": "x"}, 422, "track_ids"),
    ]  # fmt: skip
    for who, case_id, body, code, named in cases:
        reply = api.client.post(exports_url(case_id), json=body, headers=api.headers(who))
        assert reply.status_code == code, (who, body, reply.text)
        assert named in reply.json()["detail"], reply.json()
    assert api.written() == before
    missing = api.client.get(
        f"{exports_url(api.recorded.case_id)}/nope", headers=api.headers("ana")
    )
    assert missing.status_code == 404


def test_an_export_left_by_a_dead_process_is_taken_over_and_built(api: ExportApi) -> None:
    request = ExportRequest(
        case_id=api.recorded.case_id, track_ids=(api.recorded.subject_id,), purpose="handover",
        requested_by="ana", role="investigator", requested_at=datetime.now(UTC), pad_s=0.0,
    )  # fmt: skip
    stale = datetime.now(UTC) - timedelta(minutes=5)
    with api.recorded.sessions.begin() as session:
        job_id = create_held_job(session, "export", "key:1", request.as_json(), "dead-runner")
        beat(session, "dead-runner", now=stale)  # its process stopped beating 5 min ago
    runner = api.client.app.state.export_jobs  # type: ignore[attr-defined]
    assert runner.take_over_orphans() == [job_id]
    runner.wait(job_id, 300)
    with api.recorded.sessions() as session:
        job = get_job(session, job_id)
    assert job is not None and job.state == "succeeded", job
    assert job.result is not None and job.result["object_key"].endswith(f"{job_id}.zip")
    assert runner.take_over_orphans() == []  # finished: nobody takes it again


def test_the_cases_hop_decisions_are_in_the_signed_bundle(api: ExportApi) -> None:
    """A hop decision made through the API travels in hops.json, listed in the signed
    manifest: the bundle verifies, and a changed note no longer does."""
    case_id, recorded = api.recorded.case_id, api.recorded
    subject, bystander, elsewhere = (
        recorded.subject_id, recorded.bystander_id, recorded.other_camera_id,
    )  # fmt: skip
    hops_url = f"/api/v1/cases/{case_id}/hops"
    for other, decision, note in (
        (bystander, "confirmed", "same bag, same jacket"),
        (elsewhere, "rejected", "different gait"),  # cam2's track is not exported
    ):
        body = {"from_track_id": subject, "to_track_id": other, "decision": decision, "note": note}
        decided = api.client.put(hops_url, json=body, headers=api.headers("ana"))
        assert decided.status_code == 200, decided.text
    body = {"track_ids": [subject, bystander], "purpose": "court file 2026/118", "pad_s": 0.0}
    reply = api.client.post(exports_url(case_id), json=body, headers=api.headers("ana"))
    assert reply.status_code == 202, reply.text
    export_id = reply.json()["id"]
    api.client.app.state.export_jobs.wait(export_id, 300)  # type: ignore[attr-defined]
    done = api.client.get(f"{exports_url(case_id)}/{export_id}", headers=api.headers("ana")).json()
    assert done["state"] == "succeeded", done
    download = api.client.get(done["download_path"], headers=api.headers("ana"))
    bundle = Path(api.recorded.store.root) / "with-hops.zip"
    bundle.write_bytes(download.content)
    verified = verify_bundle(bundle, api.signer.public_key)
    assert verified.ok, verified.problems
    assert verified.manifest is not None
    assert "hops.json" in {entry.path for entry in verified.manifest.files}
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    hops = json.loads(members["hops.json"])
    first, second = sorted((subject, bystander))  # stored earlier sighting first
    assert hops["case_id"] == case_id and hops["decisions_not_exported"] == 1
    [confirmed] = hops["decisions"]
    assert {k: v for k, v in confirmed.items() if k != "decided_at"} == {
        "from_track_id": first, "to_track_id": second, "decision": "confirmed",
        "note": "same bag, same jacket", "decided_by": "ana",
    }  # fmt: skip
    forged = Path(api.recorded.store.root) / "forged-hops.zip"
    changed = members["hops.json"].replace(b"same bag, same jacket", b"not the same person!")
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in {**members, "hops.json": changed}.items():
            archive.writestr(name, data)
    problems = verify_bundle(forged, api.signer.public_key).problems
    assert any(p.startswith("hops.json: SHA-256") for p in problems), problems
