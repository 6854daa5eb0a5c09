"""`skynet retention show|set|run|check|hold|release` on a real SQLite catalog, local object
store and saved vector index: below-floor settings refused with nothing changed, a dry run
that deletes nothing, a run that leaves no orphans (saved index pruned), holds audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import audit_entries, create_case, list_cases
from index.catalog.engine import init_catalog, session_factory
from index.catalog.rows import utc_now
from index.track_indexer import index_file
from index.vectors import VectorIndex
from skynet.cli import app
from skynet.settings import Settings
from storage.local import LocalObjectStore
from tests.retention_support import DIM, GROUP, VERSION, Material, populate, set_up_cameras


@pytest.fixture
def material(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Material:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKYNET_RETENTION_SEGMENTS_DAYS", "10")
    monkeypatch.setenv("SKYNET_RETENTION_TRACKS_DAYS", "30")
    monkeypatch.setenv("SKYNET_RETENTION_EVENTS_DAYS", "30")
    monkeypatch.setenv("SKYNET_RETENTION_FLOOR_SEGMENTS_DAYS", "2")
    settings = Settings()
    sessions = session_factory(init_catalog(settings.catalog_url))
    store = LocalObjectStore(settings.objects_dir, "http://x/objects", b"k" * 32)
    vectors = VectorIndex(DIM, VERSION)
    set_up_cameras(sessions)
    made = populate(sessions, store, vectors, utc_now())
    vectors.save(index_file(settings.vectors_dir, VERSION))
    with sessions() as session:
        create_case(session, "robbery", "ana")
        session.commit()
    return made


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["retention", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_set_refuses_below_the_floor(material: Material) -> None:
    before = run("show")
    assert "*" in before and "audit log: kept at least 365 days, never deleted" in before
    low = run("set", "--group", GROUP, "--segments-days", "1", "--tracks-days", "3",
              "--events-days", "3", code=2)  # fmt: skip
    assert "below the legal floor of 2 days" in low
    audit = run("set", "--segments-days", "10", "--tracks-days", "30", "--events-days", "30",
                "--audit-days", "100", code=2)  # fmt: skip
    assert "audit_days" in audit
    assert run("show") == before


def test_refusals_keep_the_quoted_name_whole(material: Material) -> None:
    """The CLI stripped quotes off the error's ends: "no camera group 'traffic" (first-user
    check: README's `retention set --group traffic` on a site without that group)."""
    unknown = run("set", "--group", "harbour", "--segments-days", "14", "--tracks-days", "30",
                  "--events-days", "90", code=2)  # fmt: skip
    assert "no camera group 'harbour'" in unknown, unknown


def test_hold_dry_run_run_check_release(material: Material, tmp_path: Path) -> None:
    run("set", "--group", GROUP, "--segments-days", "3", "--tracks-days", "3",
        "--events-days", "3")  # fmt: skip
    settings = Settings()
    with session_factory(init_catalog(settings.catalog_url))() as session:
        case_id = list_cases(session)[0].id
    held = material.tracks[("cam-a", 20)][0]
    assert "on legal hold" in run("hold", case_id, "--reason", "court", "--track", str(held))
    objects = sorted(p for p in settings.objects_dir.rglob("*") if p.is_file())
    dry = run("run", "--dry-run")
    assert '"would_delete"' in dry and '"tracks": 7' in dry
    assert sorted(p for p in settings.objects_dir.rglob("*") if p.is_file()) == objects
    assert run("check", code=0).count('"total": 0') == 1
    done = run("run")
    assert '"deleted"' in done and '"tracks": 7' in done
    saved = VectorIndex.load(index_file(settings.vectors_dir, VERSION), VERSION)
    assert len(saved) == 9 and held in saved.track_ids()
    assert '"total": 0' in run("check")
    assert "released" in run("release", case_id)
    assert "not on hold" in run("release", case_id, code=2)
    with session_factory(init_catalog(settings.catalog_url))() as session:
        actions = [e.action for e in audit_entries(session)]
    for action in ("set_retention", "legal_hold", "retention_dry_run", "retention_run"):
        assert action in actions
    assert "release_legal_hold" in actions


def test_holding_a_held_case_again_says_what_changed(material: Material) -> None:
    """First-user check: a second `hold` with a new reason printed "on legal hold" and kept
    the old reason silently."""
    with session_factory(init_catalog(Settings().catalog_url))() as session:
        case_id = list_cases(session)[0].id
    assert run("hold", case_id, "--reason", "letter") == f"case {case_id} on legal hold\n"
    track = str(material.tracks[("cam-a", 5)][0])
    again = run("hold", case_id, "--reason", "court order 17/2026", "--track", track)
    assert f"case {case_id} already on legal hold since" in again and "by cli:" in again
    assert "reason changed from 'letter' to 'court order 17/2026' (audited)" in again
    assert "1 new item filed under it" in again
    assert "reason unchanged" in run("hold", case_id, "--reason", "court order 17/2026")
    assert "court order 17/2026" in run("show") and "letter" not in run("show")
