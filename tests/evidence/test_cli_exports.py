"""`skynet export build` on recorded footage writes a bundle that `skynet export verify` accepts
(with the site key from `skynet export public-key`) and audits request and build; a closed case
or an unknown track is refused naming it, before anything is audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import AuditQuery, close_case, create_case, iter_audit_entries
from skynet.cli import app
from tests.evidence.footage_support import encode_segments, record_case

pytestmark = pytest.mark.slow  # a real bundle: detector + CenterFace + ffmpeg, ~8 s


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["export", *args], terminal_width=200)
    return result.exit_code, result.output


def test_build_then_verify_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    recorded = record_case(tmp_path, encode_segments(tmp_path / "segments"))
    with recorded.sessions.begin() as session:
        closed = create_case(session, "Closed", "ana")
        close_case(session, closed)
    track = str(recorded.subject_id)
    out = tmp_path / "case.zip"

    code, output = run("build", "--case", closed, "--track", track, "--purpose", "x",
                       "--out", str(out))  # fmt: skip
    assert code == 2 and "is closed" in output
    code, output = run("build", "--case", recorded.case_id, "--track", "424242",
                       "--purpose", "x", "--out", str(out))  # fmt: skip
    assert code == 2 and "424242" in output
    with recorded.sessions() as session:
        assert not [e for e in iter_audit_entries(session, AuditQuery()) if "export" in e.action]
    assert not out.exists()

    code, output = run("build", "--case", recorded.case_id, "--track", track, "--purpose",
                       "court file 2026/117", "--out", str(out), "--pad-s", "0")  # fmt: skip
    assert code == 0, output
    code, key = run("public-key")
    assert code == 0
    (tmp_path / "site.pub").write_text(key.splitlines()[0])
    code, output = run("verify", str(out), "--public-key", str(tmp_path / "site.pub"))
    # clip, shot, metadata.json, hops.json, audit.jsonl, custody.json
    assert code == 0 and "OK, 6 files" in output, output
    with recorded.sessions() as session:
        actions = [
            (e.action, e.purpose)
            for e in iter_audit_entries(session, AuditQuery(case_id=recorded.case_id))
        ]
    assert actions[-2:] == [
        ("export_requested", "court file 2026/117"),
        ("export_built", "court file 2026/117"),
    ]
