"""Admin changes made on the CLI are audit entries like the API's (first-user check): camera
add/set/pause/resume/remove, API key create/revoke and zone rules, under `cli:<user>`, with
the API's action names, in the chain `skynet audit verify` checks."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import audit_entries, create_zone
from index.catalog.engine import init_catalog, session_factory
from skynet.cli import app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def audited(data_dir: Path) -> list[tuple[str, str, str | None]]:
    with session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))() as session:
        return [(e.principal, e.action, e.target) for e in audit_entries(session)]


def test_camera_changes_on_the_cli_are_audited(data_dir: Path) -> None:
    run("camera", "add", "gate-1", "--main", "rtsp://10.1.2.3/main")
    run("camera", "set", "gate-1", "--lat", "52.5", "--lon", "13.4")
    run("camera", "pause", "gate-1")
    run("camera", "resume", "gate-1")
    run("camera", "remove", "gate-1")
    me = f"cli:{getpass.getuser()}"
    assert audited(data_dir) == [
        (me, action, "camera:gate-1")
        for action in ("camera_add", "camera_update", "camera_pause", "camera_resume")
    ] + [(me, "camera_remove", "camera:gate-1")]
    run("audit", "checkpoint")  # signs over the chain (refused over a broken one)
    assert "audit chain OK" in run("audit", "verify")


def test_keys_and_zone_rules_on_the_cli_are_audited(data_dir: Path) -> None:
    run("camera", "add", "gate-1", "--main", "rtsp://10.1.2.3/main")
    with session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))() as session:
        zone = create_zone(session, "gate-1", "kerb", [(0, 0.5), (1, 0.5), (1, 1), (0, 1)])
        session.commit()
    run("api-key", "create", "desk", "--role", "city_manager")
    run("api-key", "revoke", "desk")
    run("api-key", "revoke", "desk")  # already revoked: nothing changes, nothing audited
    run("zone", "rule", "gate-1", "kerb", "--kind", "fire_lane", "--dwell", "60")
    actions = [(action, target) for _, action, target in audited(data_dir)]
    assert actions[1:] == [
        ("key_create", "key:1"), ("key_revoke", "key:1"), ("zone_rule", f"zone:{zone.id}")
    ]  # fmt: skip
    with session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))() as session:
        rule_entry = audit_entries(session)[-1]
    assert rule_entry.filters["kind"] == "fire_lane" and rule_entry.filters["min_dwell_s"] == 60
    run("audit", "checkpoint")  # signs over the chain (refused over a broken one)
    assert "audit chain OK" in run("audit", "verify")
