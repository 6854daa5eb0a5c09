"""GET .../exports/{id}/verification (issue #18 part 7) on a really built bundle: a built export
verifies against the site key; a bundle changed in storage is reported with the file at fault;
an export still building is 409, someone else's 404; each check is audited."""

from __future__ import annotations

import io
import zipfile

import pytest

from index.catalog import AuditQuery, iter_audit_entries
from tests.evidence.test_export_api import ExportApi, api, exports_url

pytestmark = pytest.mark.slow  # builds a real bundle (detector + CenterFace + ffmpeg): ~10 s
__all__ = ["api"]  # the module-scoped running API of the export tests


def test_a_built_export_verifies_and_a_changed_bundle_does_not(api: ExportApi) -> None:
    case_id, subject = api.recorded.case_id, api.recorded.subject_id
    body = {"track_ids": [subject], "purpose": "verification check", "pad_s": 0.0}
    export = api.client.post(exports_url(case_id), json=body, headers=api.headers("ana")).json()
    url = f"{exports_url(case_id)}/{export['id']}/verification"
    early = api.client.get(url, headers=api.headers("ana"))
    assert early.status_code in (200, 409)  # 409 while queued or building
    api.client.app.state.export_jobs.wait(export["id"], 300)  # type: ignore[attr-defined]
    reply = api.client.get(url, headers=api.headers("ana"))
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["ok"] is True and report["problems"] == [] and report["trusted_key"] is True
    assert report["key_fingerprint"] == api.signer.public_key.fingerprint
    assert report["files_checked"] >= 3
    assert api.client.get(url, headers=api.headers("carol")).status_code == 404

    key = f"exports/{case_id}/{export['id']}.zip"  # one clip byte changed in storage
    original = api.recorded.store.get(key)
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        members = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    clip = next(name for name in members if name.endswith(".mp4"))
    changed = bytearray(members[clip])
    changed[len(changed) // 2] ^= 0xFF
    members[clip] = bytes(changed)
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    api.recorded.store.put_bytes(key, rebuilt.getvalue())
    try:
        tampered = api.client.get(url, headers=api.headers("ana")).json()
    finally:
        api.recorded.store.put_bytes(key, original)
    assert tampered["ok"] is False
    assert any(clip in problem for problem in tampered["problems"])
    with api.recorded.sessions() as session:
        checks = [
            (e.filters["ok"], e.hit_count, e.filters["problems"])
            for e in iter_audit_entries(session, AuditQuery(case_id=case_id))
            if e.action == "export_verified" and e.target == f"export:{export['id']}"
        ]
    # the count is the files verified (it was the problems found: hits=0 for a good bundle)
    bad = (False, tampered["files_checked"], len(tampered["problems"]))
    assert checks == [(True, report["files_checked"], 0), bad]
